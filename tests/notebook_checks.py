"""What every run of a notebook must leave behind, in one place for its two ways of running
(nbclient, tests/test_notebooks.py; a real JupyterLab, tests/jupyterlab.py)."""

from __future__ import annotations

import re

import nbformat

#: printed by the probe: how many servers the notebook left running
LIVE_PROBE = "import wslab\nprint('LIVE', len(wslab.servers()))"


def starts_servers(nb: nbformat.NotebookNode) -> bool:
    """True when a code cell of ``nb`` starts a server (then Run All must leave it running)."""
    return any(c.cell_type == "code" and "serve(" in c.source for c in nb.cells)


def assert_live(name: str, nb: nbformat.NotebookNode, printed: str) -> None:
    """Run All leaves the live parts live: stopping is a deliberate act, not the last cell's
    side effect.  ``printed`` is what :data:`LIVE_PROBE` printed after Run All."""
    live = printed.split()
    assert live[:1] == ["LIVE"], f"{name}: the probe printed {printed!r}"
    if starts_servers(nb):
        assert int(live[1]) >= 1, f"{name}: after Run All no server is running ({live})"


_FLAG = re.compile(r"^(\w+) = False\b", re.MULTILINE)


def stop_cell(nb: nbformat.NotebookNode) -> tuple[int, str]:
    """The notebook's deliberate stop cell (``<flag> = False`` ... ``wslab.stop_all()``): its
    index, and its source with the flag set, as a learner who means to stop runs it."""
    for i in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[i]
        if cell.cell_type == "code" and "stop_all()" in cell.source:
            m = _FLAG.search(cell.source)
            assert m, f"the stop cell has no `<flag> = False` line:\n{cell.source}"
            return i, _FLAG.sub(f"{m.group(1)} = True", cell.source, count=1)
    raise AssertionError("the notebook has no cell that calls wslab.stop_all()")
