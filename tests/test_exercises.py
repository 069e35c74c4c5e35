"""Every exercise check: the right answer passes, typical wrong ones get a hint, nothing raises."""

from __future__ import annotations

import statistics

import pytest

from tests.conftest import wait_until
from wslab.exercises import Result, ex00, ex01, ex02, ex03, ex04
from wslab.labs.push_compare import PushResult
from wslab.protocol import handshake


def _ok(r: Result) -> bool:
    assert isinstance(r, Result)
    assert r.message and ("correct" in str(r)) == r.ok
    assert ("data-ok='true'" in r._repr_html_()) == r.ok
    return r.ok


def test_ex00():
    results = [PushResult("short polling", 10, 10, 3, 300, 900, 0, 100),
               PushResult("WebSocket", 10, 10, 1, 150, 160, 200, 100)]
    assert _ok(ex00.cheapest("WebSocket", results))
    assert not _ok(ex00.cheapest("short polling", results))
    assert not _ok(ex00.cheapest(None, results))
    assert _ok(ex00.short_poll_wait(125, 0.25))
    assert not _ok(ex00.short_poll_wait(250, 0.25))
    assert "worst case" in ex00.short_poll_wait(250, 0.25).message


def test_ex01():
    assert _ok(ex01.accept_for_sample("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
    assert "hex" in ex01.accept_for_sample("b37a4f2cc0624f1690f64606cf385945b2bec4ea").message
    assert _ok(ex01.version_status(426)) and not _ok(ex01.version_status(400))
    key = handshake.make_key()
    bad = handshake.build_response(key=handshake.make_key())
    assert _ok(ex01.broken_rule("Sec-WebSocket-Accept", bad, key))
    assert not _ok(ex01.broken_rule("Upgrade", bad, key))


def test_ex02():
    assert _ok(ex02.hi_frame(b"\x81\x02Hi"))
    assert "FIN" in ex02.hi_frame(b"\x01\x02Hi").message
    assert "masked" in ex02.hi_frame(b"\x81\x82abcdHi").message
    assert _ok(ex02.header_size(14)) and not _ok(ex02.header_size(10))
    key = b"\xde\xad\xbe\xef"
    from wslab.protocol.frames import mask
    assert _ok(ex02.unmask("Hello", mask(b"Hello", key), key))
    assert not _ok(ex02.unmask("nope", mask(b"Hello", key), key))


def test_ex03(server):
    assert "still echoes" in ex03.shout_handler(server).message

    @server.on_message
    def shout(conn, message):
        conn.send(message.upper())

    assert _ok(ex03.shout_handler(server))

    @server.on_message
    def broken(conn, message):
        raise RuntimeError("oops")

    assert "error" in ex03.shout_handler(server).message
    wait_until(lambda: not server.clients)  # the server sees the last close a moment later
    assert _ok(ex03.clients_connected(0, server)) and not _ok(ex03.clients_connected(3, server))
    samples = [0.001, 0.002, 0.010]
    assert _ok(ex03.median_ms(statistics.median(samples) * 1e3, samples))
    assert "seconds" in ex03.median_ms(0.002, samples).message
    assert "mean" in ex03.median_ms(statistics.mean(samples) * 1e3, samples).message


def test_ex04():
    assert _ok(ex04.restart_code(1012)) and not _ok(ex04.restart_code(1001))
    assert _ok(ex04.after_drop(1006)) and "without" in ex04.after_drop(1005).message
    assert _ok(ex04.app_code(4001))
    assert "IANA" in ex04.app_code(3001).message
    assert not _ok(ex04.app_code(1005))


@pytest.mark.parametrize("bad", [None, "x", 3.5, [1]])
def test_checks_never_raise_on_odd_answers(bad):
    for check in (ex04.restart_code, ex04.after_drop, ex04.app_code, ex02.hi_frame,
                  ex02.header_size, ex01.accept_for_sample, ex01.version_status):
        assert isinstance(check(bad), Result)


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
