"""The event log's cost and level (issue 26): messages built only when read, a level that
turns per-message recording off, listeners notified in batches."""

from __future__ import annotations

import threading

import pytest

import wslab
from wslab.net import loop as lab
from wslab.net.events import PREVIEW_LIMIT, EventLog
from wslab.net.server.options import ServerOptions

from .conftest import wait_until


def test_a_message_read_back_is_the_event_it_always_was():
    log = EventLog(10)
    log.record_message(3, "in", "héllo")
    log.record_message(4, "out", b"\x00\x01")
    big = "x" * (PREVIEW_LIMIT + 10)
    log.record_message(5, "out", big)
    text, binary, clipped = log.snapshot()
    assert (text.kind, text.client_id, text.direction, text.opcode, text.size, text.data) == \
        ("message", 3, "in", "text", 6, "héllo")  # size: UTF-8 bytes on the wire
    assert (binary.opcode, binary.size, binary.data) == ("binary", 2, b"\x00\x01")
    assert (clipped.size, clipped.data) == (len(big), big[:PREVIEW_LIMIT])
    assert text.t_ns <= binary.t_ns <= clipped.t_ns
    assert log.total == 3


@pytest.mark.parametrize(("level", "kinds"), [
    ("lifecycle", {"open", "close"}),
    ("messages", {"open", "close", "message"}),
    ("all", {"open", "close", "message", "ping", "pong"}),
])
def test_the_level_says_what_is_recorded(level, kinds):
    server = wslab.serve(name="levels", events_level=level)
    try:
        with wslab.connect(server.url) as client:
            client.send("hi")
            assert client.recv(timeout=5) == "hi"
            client.ping()
        wait_until(lambda: any(e.kind == "close" for e in server.events), what="the close")
        assert {e.kind for e in server.events} == kinds
    finally:
        server.stop()


def test_a_bad_level_is_refused_by_name():
    with pytest.raises(ValueError, match="events_level is one of 'lifecycle', 'messages', "
                                         "'all', got 'some'"):
        ServerOptions(events_level="some")
    assert ServerOptions.from_plain(ServerOptions(events_level="messages").to_plain()) \
        .events_level == "messages"


def test_listeners_are_notified_once_per_loop_turn_in_order():
    log = EventLog(100)
    batches: list[list[str]] = []
    singles: list[str] = []
    done = threading.Event()
    log.subscribe(lambda events: batches.append([e.data for e in events]), batch=True)
    log.subscribe(lambda ev: singles.append(ev.data))

    def one_turn() -> None:
        for i in range(5):
            log.record_message(1, "in", f"m{i}")
        lab.get_loop().call_soon(done.set)  # runs after the turn's notification

    lab.call(one_turn, what="five messages in one turn")
    assert done.wait(5)
    assert batches == [[f"m{i}" for i in range(5)]]
    assert singles == [f"m{i}" for i in range(5)]


def test_a_listener_that_raises_is_removed():
    log = EventLog(10)
    calls: list[int] = []

    def broken(events):
        calls.append(len(events))
        raise RuntimeError("boom")

    log.subscribe(broken, batch=True)
    log.record("open", 1)  # no loop runs in this thread: notified at once
    log.record("open", 2)
    assert calls == [1]


def test_an_open_read_back_carries_the_clients_details():
    server = wslab.serve(name="opens")
    try:
        with wslab.connect(server.url):
            wait_until(lambda: server.clients, what="the open")
            [opened] = server.events.of("open")
            info = server.clients[0]
        assert opened.client_id == info.id
        assert dict(opened.extra) == {"remote": info.remote, "path": "/echo",
                                      "subprotocol": None, "origin": None}
        assert "client" in str(opened)
    finally:
        server.stop()
