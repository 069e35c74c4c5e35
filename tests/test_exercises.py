"""Every exercise check: the right answer passes, typical wrong ones get a hint, nothing raises."""

from __future__ import annotations

from wslab.exercises import Result


def _ok(r: Result) -> bool:
    assert isinstance(r, Result)
    assert r.message and ("correct" in str(r)) == r.ok
    assert ("data-ok='true'" in r._repr_html_()) == r.ok
    return r.ok


def test_ex05_ex06():
    from wslab.exercises import ex05, ex06
    from wslab.net.server.ack import Session
    assert _ok(ex05.worst_case(30)) and "pong" in ex05.worst_case(10).message
    assert _ok(ex05.browser_heartbeat("application")) and not _ok(ex05.browser_heartbeat("protocol"))
    assert _ok(ex05.fewer_pings("idle")) and not _ok(ex05.fewer_pings("fixed"))
    assert _ok(ex06.delay_attempt_3(4.0)) and "from 0" in ex06.delay_attempt_3(8.0).message
    assert _ok(ex06.stop_retrying(4003)) and _ok(ex06.stop_retrying(1008))
    assert not _ok(ex06.stop_retrying(1013))
    s = Session("x", delivered=[0, 1, 2])
    assert _ok(ex06.delivered_count(1, s)) and not _ok(ex06.delivered_count(2, s))


def test_ex07_to_ex10(server):
    from wslab.exercises import ex07, ex08, ex09, ex10
    from wslab.labs.compression import CompressionRecord
    from wslab.labs.gil import GilRecord
    assert _ok(ex07.channel_members(0, server, "none")) and _ok(ex07.slow_code(1013))
    assert not _ok(ex07.slow_code(1009))
    assert _ok(ex08.chosen("chat.json.v1")) and _ok(ex08.marker_bit("rsv1"))
    fields = CompressionRecord.__dataclass_fields__
    recs = []
    for kind, ratio in (("json", 0.2), ("random", 1.01)):
        values = {f: 0 for f in fields}
        values.update(kind=kind, size=1000, compressed=True, ratio=ratio)
        recs.append(CompressionRecord(**values))
    assert _ok(ex08.no_gain("random", recs)) and not _ok(ex08.no_gain("json", recs))
    assert _ok(ex09.browser_token("cookie")) and not _ok(ex09.browser_token("header"))
    assert _ok(ex09.hijack_fix("Origin")) and not _ok(ex09.hijack_fix("Cookie"))
    assert _ok(ex09.too_big(1009)) and not _ok(ex09.too_big(1008))
    samples = [i / 1000 for i in range(1, 101)]
    from wslab.ui.plots import percentile
    assert _ok(ex10.p99(percentile(samples, 99) * 1e3, samples))
    assert _ok(ex10.injected(40)) and not _ok(ex10.injected(20))
    gil = [GilRecord("in-kernel server, cell computing", 0.005, True, [0.005]),
           GilRecord("process server, cell computing", 0.005, True, [0.00004])]
    assert _ok(ex10.gil_way_out("process", gil)) and not _ok(ex10.gil_way_out("switch interval", gil))
