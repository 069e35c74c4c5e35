"""Every exercise check: the right answer passes, typical wrong ones get a hint, nothing raises."""

from __future__ import annotations

from wslab.exercises import Result


def _ok(r: Result) -> bool:
    assert isinstance(r, Result)
    assert r.message and ("correct" in str(r)) == r.ok
    assert ("data-ok='true'" in r._repr_html_()) == r.ok
    return r.ok
