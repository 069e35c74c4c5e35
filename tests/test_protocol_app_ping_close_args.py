"""Sans-I/O rules shared by both ends: the JSON application heartbeat, the arguments a
Close frame may carry (RFC 6455 5.5, 7.4) and ``explain`` as a function."""

from __future__ import annotations

import json

import pytest

import wslab.protocol as protocol
from wslab.protocol import check_close_args, explain, frames
from wslab.protocol.app_ping import (
    AppPing,
    build_app_ping,
    build_app_pong,
    maybe_app_ping,
    parse_app_ping,
    parse_app_pong,
)
from wslab.protocol.closecodes import MAX_CLOSE_REASON
from wslab.protocol.explainer import Explanation


def test_ping_round_trip_keeps_t_exactly():
    for t in (0, 123456789012345678, "abc", None, [1, {"x": 2}]):
        ping = parse_app_ping(build_app_ping(t))
        assert ping == AppPing(t)
        pong = build_app_pong(ping, server_time=17.5)
        assert json.loads(pong) == {"type": "pong", "t": t, "server_time": 17.5}
        assert parse_app_pong(pong) == AppPing(t)


@pytest.mark.parametrize("text", ['{"type": "pong", "t": 1}', '["ping"]', '"ping"', "ping",
                                  '{"type": "ping"', "[" * 100_000 + "]" * 100_000, ""])
def test_anything_else_is_not_a_ping(text):
    assert parse_app_ping(text) is None


def test_a_pong_is_not_taken_for_a_ping_nor_the_reverse():
    assert parse_app_pong(build_app_ping(1)) is None
    assert parse_app_ping(build_app_pong(AppPing(1), server_time=0.0)) is None


def test_maybe_app_ping_sniffs_before_parsing():
    assert maybe_app_ping('{"type": "ping", "t": 5}') == AppPing(5)
    assert maybe_app_ping(b'{"type": "ping", "t": 5}') is None      # binary: never a ping
    assert maybe_app_ping(' {"type": "ping"}') is None               # not an object at once
    late = '{"padding": "' + "x" * 60 + '", "type": "ping"}'
    assert parse_app_ping(late) is not None and maybe_app_ping(late) is None
    assert maybe_app_ping('{"type": "ping", "t": [') is None          # sniffed, then refused


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1014, 3000, 4999])
def test_close_args_accepted(code):
    check_close_args(code, "x" * MAX_CLOSE_REASON)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 70000, -1,
                                  True, "1000", 1000.0])
def test_close_codes_refused(code):
    with pytest.raises(ValueError, match="close code"):
        check_close_args(code, "")


def test_close_reason_is_a_str_of_at_most_123_utf8_bytes():
    with pytest.raises(ValueError, match="123 bytes"):
        check_close_args(1000, "é" * 62)          # 124 bytes of UTF-8, 62 characters
    with pytest.raises(ValueError, match="str"):
        check_close_args(1000, b"bytes")          # type: ignore[arg-type]
    assert frames.Frame.close(1000, "é" * 61).payload[2:] == ("é" * 61).encode()


def test_one_check_for_frames_the_server_and_the_client():
    from wslab.net import client
    from wslab.net.server import check_close_args as server_check
    from wslab.net.server import connection
    assert server_check is check_close_args
    assert connection.check_close_args is check_close_args
    assert client.check_close_args is check_close_args


def test_explain_is_the_function_and_frames_has_no_shim():
    assert protocol.explain is explain and callable(explain)
    assert isinstance(explain(b"\x81\x02hi"), Explanation)
    assert not hasattr(frames, "explain")
