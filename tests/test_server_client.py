"""The in-kernel server and the lab client over real loopback sockets (issue: foundation)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

import wslab
from tests.conftest import wait_until
from wslab import State

SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("size", SIZES)
def test_echo_text_and_binary_every_length_form(server, size):
    """RFC 6455 5.2: 7-bit (<=125), 16-bit (126-65535) and 64-bit (>=65536) lengths."""
    text = ("é" * size)[: size // 2] + "a" * (size - 2 * (size // 2)) if size else ""
    data = bytes(i % 251 for i in range(size))
    with wslab.connect(server.url) as c:
        c.send(text)
        got = c.recv(timeout=10)
        assert isinstance(got, str) and got == text
        c.send(data)
        got = c.recv(timeout=10)
        assert isinstance(got, bytes) and got == data
    sizes = [(e.direction, e.opcode, e.size) for e in server.events.of("message")]
    assert ("in", "binary", size) in sizes and ("out", "binary", size) in sizes
    assert ("in", "text", len(text.encode())) in sizes


def test_ping_round_trip_and_events(server):
    with wslab.connect(server.url) as c:
        rtt = c.ping(b"abc")
        assert 0 < rtt < 5
        assert [e.kind for e in c.log][-2:] == ["ping", "pong"]
    pings = server.events.of("ping")
    assert pings and pings[0].data == b"abc" and pings[0].direction == "in"
    assert server.events.of("pong")[0].direction == "out"


def test_client_closes_with_code_and_reason(server):
    c = wslab.connect(server.url)
    c.close(4000, "bye")
    assert c.state == State.CLOSED
    assert c.close_code == 4000  # the server echoes the code (RFC 6455 5.5.1)
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    close = server.events.of("close")[-1]
    assert (close.code, close.reason, close.direction) == (4000, "bye", "in")


def test_server_closes_client_with_code_and_reason(server):
    with wslab.connect(server.url) as c:
        c.send("hi")
        assert c.recv() == "hi"
        (info,) = server.clients
        server.close_client(info.id, 4001, "kicked")
        with pytest.raises(wslab.ConnectionClosed):
            c.recv(timeout=5)
        assert c.state == State.CLOSED
        assert (c.close_code, c.close_reason) == (4001, "kicked")
    # the server forgets the client when its own side of the close has run, which may be a
    # loop pass after the client saw CLOSED (always so on Python 3.13)
    wait_until(lambda: server.clients == [], 5, what="the server forgot the closed client")


def test_clients_listing(server):
    with wslab.connect(server.url) as a, wslab.connect(server.chat_url) as b:
        a.send("1")
        a.recv()
        infos = {i.path: i for i in server.clients}
        assert set(infos) == {"/echo", "/chat"}
        assert infos["/echo"].messages_in == 1 and infos["/echo"].messages_out == 1
        assert infos["/echo"].remote == "127.0.0.1"
        assert infos["/chat"].id != infos["/echo"].id
        b.send("x")
        assert b.recv() == "x"  # chat sends to everyone on /chat, sender included


def test_send_to_one_client(server):
    with wslab.connect(server.url) as a, wslab.connect(server.url) as b:
        a.send("who")
        a.recv()
        a_id = next(i.id for i in server.clients if i.messages_in == 1)
        server.send(a_id, "only you")
        assert a.recv() == "only you"
        with pytest.raises(TimeoutError, match="no message from ws://"):
            b.recv(timeout=0.2)
        with pytest.raises(ValueError, match="connected ids"):
            server.send(999, "nobody")


def test_custom_handler_and_hooks(server):
    opened, closed = [], []

    @server.on_message
    def shout(conn, message):
        conn.send(message.upper())

    server.on_open(lambda conn: opened.append(conn.id))
    server.on_close(lambda conn: closed.append(conn.id))
    with wslab.connect(server.url) as c:
        c.send("hello")
        assert c.recv() == "HELLO"
    assert opened == closed and len(opened) == 1
    server.on_message(None)
    with wslab.connect(server.url) as c:
        c.send("hello")
        assert c.recv() == "hello"


def test_async_handler(server):
    @server.on_message
    async def later(conn, message):
        conn.send(f"async {message}")

    with wslab.connect(server.url) as c:
        c.send("x")
        assert c.recv() == "async x"


def test_handler_exception_closes_1011_and_server_keeps_serving(server):
    @server.on_message
    def broken(conn, message):
        if message == "boom":
            raise ZeroDivisionError("division by zero")
        conn.send("ok " + message)

    with wslab.connect(server.url) as bad, wslab.connect(server.url) as good:
        bad.send("boom")
        with pytest.raises(wslab.ConnectionClosed):
            bad.recv(timeout=5)
        assert bad.close_code == 1011
        assert "ZeroDivisionError" in bad.close_reason
        good.send("still")
        assert good.recv() == "ok still"
    (err,) = server.events.of("error")
    assert "ZeroDivisionError" in err.reason and "Traceback" in err.data


def test_broadcast_to_20_clients(server):
    clients = [wslab.connect(server.url) for _ in range(20)]
    try:
        assert server.broadcast("to all") == 20
        assert server.broadcast(b"\x01\x02") == 20
        for c in clients:
            assert c.recv(timeout=5) == "to all"
            assert c.recv(timeout=5) == b"\x01\x02"
    finally:
        for c in clients:
            c.close()


def test_chat_route_reaches_every_chat_client(server):
    chat = [wslab.connect(server.chat_url) for _ in range(3)]
    try:
        with wslab.connect(server.url) as echo_only:
            chat[0].send("hello room")
            for c in chat:
                assert c.recv(timeout=5) == "hello room"
            with pytest.raises(TimeoutError):
                echo_only.recv(timeout=0.2)
    finally:
        for c in chat:
            c.close()


def test_rerunning_serve_50_times_leaks_no_thread_or_socket():
    first = wslab.serve(name="rerun")
    with wslab.connect(first.url) as c:
        c.send("warm")
        c.recv()
    threads, fds = threading.active_count(), _fds()
    port = first.port
    for _ in range(50):
        srv = wslab.serve(name="rerun", port=port)  # same port: no "address already in use"
    assert srv.port == port
    assert list(wslab.servers()) == ["rerun"]
    assert threading.active_count() == threads
    assert _fds() == fds
    with wslab.connect(srv.url) as c:
        c.send("still works")
        assert c.recv() == "still works"
    srv.stop()


def test_stop_while_clients_connected(server):
    clients = [wslab.connect(server.url) for _ in range(5)]
    server.stop()
    for c in clients:
        with pytest.raises(wslab.ConnectionClosed):
            c.recv(timeout=5)
        assert c.state == State.CLOSED and c.close_code == 1001  # going away
    assert not server.running
    with pytest.raises(wslab.ConnectionFailed, match="refused"):
        wslab.connect(server.url, timeout=2)
    server.stop()  # twice is fine


def test_port_in_use_raises_in_caller():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        port = blocker.getsockname()[1]
        with pytest.raises(wslab.ServerStartError, match=f"port {port} .* already in use"):
            wslab.serve(name="clash", port=port)
        assert "clash" not in wslab.servers()
    finally:
        blocker.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"port": -1}, "port is an integer 0-65535"),
    ({"port": "80"}, "port is an integer"),
    ({"ping_interval": -1}, "ping_interval is a number of seconds"),
    ({"events_max": 0}, "events_max is a positive integer, got 0"),
    ({"origins": ["not a url"]}, "an origin looks like"),
])
def test_bad_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wslab.serve(name="bad", **kwargs)
    assert "bad" not in wslab.servers()


def test_connection_failures_name_url_and_cause(server):
    with pytest.raises(wslab.ConnectionFailed, match=r"/nope: the server answered HTTP 404") as e:
        wslab.connect(server.url.replace("/echo", "/nope"))
    assert e.value.status == 404
    with pytest.raises(wslab.ConnectionFailed, match="HTTP 403") as e:
        wslab.connect(server.url, origin="http://evil.example")
    assert e.value.status == 403
    assert isinstance(e.value, wslab.WSLabError)
    with pytest.raises(ValueError, match="ws:// or wss://"):
        wslab.connect("http://127.0.0.1/")


def test_connect_timeout_names_cause():
    silent = socket.socket()  # accepts TCP but never answers the handshake
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/echo"
        with pytest.raises(wslab.ConnectionFailed, match="timeout"):
            wslab.connect(url, timeout=0.5)
    finally:
        silent.close()


def test_origin_policy(server):
    same = server.origin
    with wslab.connect(server.url, origin=same) as c:
        assert c.state == State.OPEN
    with pytest.raises(wslab.ConnectionFailed, match="403"):
        wslab.connect(server.url, origin="http://localhost:8888")
    server.allow_origin("http://localhost:8888")
    with wslab.connect(server.url, origin="http://localhost:8888") as c:
        assert c.state == State.OPEN
    reject = server.events.of("reject")[0]
    assert reject.code == 403 and "localhost:8888" in reject.reason


def test_events_ring_is_bounded():
    srv = wslab.serve(name="ring", events_max=50)
    with wslab.connect(srv.url) as c:
        c.measure_rtt(n=100, warmup=0)
    assert len(srv.events) == 50
    assert srv.event_log.total > 200
    assert srv.events[-1].kind == "close"
    ts = [e.t_ns for e in srv.events]
    assert ts == sorted(ts)
    srv.stop()


def test_measure_rtt_returns_positive_seconds(server):
    with wslab.connect(server.url) as c:
        samples = c.measure_rtt(n=50, size=64)
        assert len(samples) == 50 and all(0 < s < 5 for s in samples)
        with pytest.raises(ValueError, match="n is an integer"):
            c.measure_rtt(n=0)


def test_measure_rtt_refuses_non_echo(server):
    @server.on_message
    def nope(conn, message):
        conn.send("not an echo")

    with wslab.connect(server.url) as c, pytest.raises(ValueError, match="needs an echo"):
        c.measure_rtt(n=3)


def test_send_after_close_is_a_clear_error(server):
    c = wslab.connect(server.url)
    c.close()
    with pytest.raises(wslab.ConnectionClosed, match="CLOSED"):
        c.send("late")
    with wslab.connect(server.url) as d, pytest.raises(ValueError, match="close code"):
        d.close(1005)


def test_close_code_validation():
    from wslab.net.server import check_close_args
    for bad in (999, 1004, 1005, 1006, 1015, 2000, 5000):
        with pytest.raises(ValueError, match="7.4"):
            check_close_args(bad, "")
    with pytest.raises(ValueError, match="123 bytes"):
        check_close_args(1000, "x" * 124)


def test_abnormal_close_is_1006(server):
    """RFC 6455 7.1.5: no close frame -> the connection is closed abnormally (1006)."""
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert raw.recv(4096).startswith(b"HTTP/1.1 101")
    raw.close()  # TCP gone, no close frame
    wait_until(lambda: server.events.of("close"), 5)
    (close,) = server.events.of("close")
    assert close.code == 1006 and close.extra["clean"] is False


def test_client_walks_the_protocol_state_table(server):
    """RFC 6455 4.1 / 7.1: the client's states come from the one state table."""
    from wslab.protocol import state as st
    c = wslab.connect(server.url)
    c.close(1000)
    assert [t.event for t in c.transitions] == [st.HANDSHAKE_SUCCEEDED, st.CLOSE_SENT,
                                                st.CLOSE_RECEIVED]
    with wslab.connect(server.url) as d:
        server.close_client(server.clients[0].id, 1001, "")
        with pytest.raises(wslab.ConnectionClosed):
            d.recv(timeout=5)
        assert [t.target for t in d.transitions] == [State.OPEN, State.CLOSING, State.CLOSED]
    states = [e.data for e in c.log if e.kind == "state"]
    assert states == [State.OPEN, State.CLOSING, State.CLOSED]


def test_empty_close_frame_is_1005_not_1006(server):
    """RFC 6455 7.1.5: a Close frame without a code is 1005 (no status received)."""
    raw = socket.create_connection(("127.0.0.1", server.port))
    try:
        raw.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")
        raw.sendall(b"\x88\x80\x00\x00\x00\x00")  # masked Close frame, empty payload
        raw.settimeout(5)
        assert raw.recv(2) == b"\x88\x00"  # Tornado answers with an empty Close too
    finally:
        raw.close()
    wait_until(lambda: server.events.of("close"), 5)
    (close,) = server.events.of("close")
    assert close.code == 1005 and close.extra["clean"] is True


def test_drop_client_gives_the_client_1006(server):
    """RFC 6455 7.1.5: TCP gone without a Close frame -> 1006 on both ends."""
    with wslab.connect(server.url) as c:
        server.drop_client(server.clients[0].id)
        with pytest.raises(wslab.ConnectionClosed):
            c.recv(timeout=5)
        assert c.close_code == 1006 and c.state == State.CLOSED
        assert c.transitions[-1].event == "TCP connection lost"
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    assert server.events.of("close")[-1].code == 1006


def test_measure_rtt_shows_a_progress_bar(server, capsys):
    with wslab.connect(server.url) as c:
        assert len(c.measure_rtt(n=450, progress=True)) == 450
    err = capsys.readouterr().err
    assert "round trips" in err and "450/450" in err
