"""The kernel side of BrowserClient: what it keeps of a page's reports (rate and size bounds)."""

from __future__ import annotations

import json

import pytest

from wslab.ui import BrowserClient
from wslab.ui.intake import Intake


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _intake(clock: Clock, **kw: float) -> Intake:
    opts = {"max_events": 100, "max_bytes": 10_000, "max_event_bytes": 500,
            "events_per_s": 10, "bytes_per_s": 1_000_000, **kw}
    return Intake(**opts, always=("open", "close"), clock=clock)


def test_a_burst_over_the_rate_is_counted_and_the_rate_refills():
    clock = Clock()
    intake = _intake(clock)
    kept = [intake.offer({"type": "message", "data": str(i)}) for i in range(50)]
    assert kept == [True] * 10 + [False] * 40
    assert intake.stats()["dropped"] == 40
    clock.now += 0.5  # half a second: five more
    assert sum(intake.offer({"type": "message", "data": "x"}) for _ in range(10)) == 5
    assert [e["data"] for e in intake.items()][:3] == ["0", "1", "2"]


def test_bytes_per_second_bound_the_rate_too():
    clock = Clock()
    intake = _intake(clock, events_per_s=1000, bytes_per_s=1000)
    report = {"type": "message", "data": "x" * 400}
    size = len(json.dumps(report))
    assert sum(intake.offer(report) for _ in range(10)) == 1000 // size


def test_lifecycle_reports_skip_the_rate_but_not_the_bounds():
    clock = Clock()
    intake = _intake(clock, events_per_s=1, max_events=5)
    for _ in range(20):
        intake.offer({"type": "message"})
    assert intake.offer({"type": "close", "code": 1000})  # never lost to a flood
    for _ in range(10):
        intake.offer({"type": "open"})
    assert len(intake) == 5 and intake.stats()["evicted"] == 7


def test_stored_bytes_and_one_report_are_bounded():
    clock = Clock()
    intake = _intake(clock, events_per_s=1000, max_bytes=2000, max_event_bytes=500)
    assert not intake.offer({"type": "message", "data": "y" * 600})  # one report too large
    for _ in range(100):
        intake.offer({"type": "message", "data": "z" * 300})
    assert len(intake) == 2000 // len(json.dumps(intake.items()[0]))
    assert intake.kept_bytes <= 2000
    assert intake.stats()["dropped"] == 1


@pytest.mark.parametrize("name", ["max_events", "max_bytes", "max_event_bytes",
                                  "events_per_s", "bytes_per_s"])
@pytest.mark.parametrize("bad", [0, -1, True, "10"])
def test_bad_options_are_refused_by_name(name, bad):
    with pytest.raises(ValueError, match=name):
        _intake(Clock(), **{name: bad})


def test_browser_client_counts_what_it_does_not_keep():
    bc = BrowserClient("ws://127.0.0.1:9/echo", events_per_s=5)
    try:
        for i in range(30):
            bc._on_browser_message(bc, {"event": {"type": "message", "data": str(i)}}, [])
        bc._on_browser_message(bc, {"event": "not a report"}, [])
        bc._on_browser_message(bc, {"event": {"type": "close", "code": 1000}}, [])
        stats = bc.received_stats
        assert stats["accepted"] == 6 and stats["dropped"] == 26
        assert [e["type"] for e in bc.events][-1] == "close"
        assert "dropped=26" in repr(bc)
        with pytest.raises(ValueError, match="events_per_s"):
            BrowserClient("ws://127.0.0.1:9/echo", events_per_s=0)
    finally:
        bc.close_widget()
