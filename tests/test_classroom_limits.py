"""A classroom against a hostile or careless student: routes, per-student bounds, and the
teacher's file descriptors.  Real sockets on 127.0.0.1, real ``websockets`` clients."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

import wslab
from tests.conftest import wait_until
from wslab.classroom import (
    FD_RESERVE_MIN,
    MAX_PER_ADDRESS,
    Classroom,
    choose_host,
    fd_reserve,
    lan_address,
)

pytestmark = pytest.mark.filterwarnings(r"ignore:connect\(\) must be used as a context manager")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def room() -> Iterator[Classroom]:
    r = wslab.classroom(host="127.0.0.1", port=0, token="t0k", name="test-classroom")
    try:
        yield r
    finally:
        r.stop()


def _ws(room: Classroom, path: str = "/chat") -> ClientConnection:
    return connect(f"ws://127.0.0.1:{room.server.port}{path}?token={room.token}",
                   open_timeout=5, close_timeout=1, max_size=None)


def _status(room: Classroom, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{room.server.port}{path}",
                                    timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_only_the_join_page_and_the_chat_route_are_served(room: Classroom) -> None:
    assert _status(room, "/") == 200
    assert _status(room, "/demo/hijack") == 404   # the attacker's page is not on this address
    for path in ("/ack", "/pubsub", "/echo"):       # the token opens the chat, nothing else
        with pytest.raises(InvalidStatus) as refused:
            _ws(room, path)
        assert refused.value.response.status_code == 404
    with _ws(room) as student:
        student.send("present")


def test_a_student_address_holds_a_bounded_number_of_connections(room: Classroom) -> None:
    limit = room.server.options.max_per_address
    assert limit is not None
    held = [_ws(room) for _ in range(limit)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            _ws(room)
        assert refused.value.response.status_code == 503
        assert b"max_per_address" in refused.value.response.body
    finally:
        for c in held:
            _close(c)


def _drain(conn: ClientConnection, seconds: float) -> list[str | bytes]:
    got: list[str | bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            got.append(conn.recv(timeout=0.2))
        except TimeoutError:
            continue
        except ConnectionClosed:
            break
    return got


def _close(conn: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        conn.close()


def _closed_with(conn: ClientConnection) -> int | None:
    """Read until the server closes ``conn`` (5 s at most); its close code."""
    with contextlib.suppress(ConnectionClosed):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                conn.recv(timeout=0.5)
    return conn.close_code


def test_a_big_message_and_a_burst_are_not_relayed_to_the_class(room: Classroom) -> None:
    classmate, big, burst = _ws(room), _ws(room), _ws(room)
    try:
        with contextlib.suppress(ConnectionClosed):
            big.send("x" * (5 << 20))
        # the server closes with 1009 while 5 MB are still arriving: the client may see that
        # close or, its unread data making the server's close a reset, 1006
        assert _closed_with(big) in (1009, 1006)
        assert any(e.kind == "close" and e.code == 1009 for e in room.server.events)
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            for i in range(3000):
                burst.send(f"m{i}")
                sent += 1
        assert _closed_with(burst) == 1008
        seen = _drain(classmate, 1.0)
        assert not any(len(m) > 1000 for m in seen)
        rate = room.server.options.rate_limit
        assert rate is not None and len(seen) <= 2 * rate, (len(seen), sent)
    finally:
        for c in (classmate, big, burst):
            _close(c)


CHILD = textwrap.dedent("""
    import json, os, sys
    import wslab
    room = wslab.classroom(host="127.0.0.1", port=0, **json.loads(sys.argv[1]))
    print(json.dumps({"port": room.server.port, "token": room.token,
                      "max": room.server.options.max_connections}), flush=True)
    for line in sys.stdin:                  # "open N": the teacher opens N files
        files = []
        try:
            for _ in range(int(line.split()[1])):
                files.append(open(os.devnull))
            print(json.dumps({"opened": len(files)}), flush=True)
        except OSError as exc:
            print(json.dumps({"opened": len(files), "error": str(exc)}), flush=True)
        for f in files:
            f.close()
    room.stop()
""")

LIMIT = 256


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def _line(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, object]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the teacher's kernel did not answer"
    return dict(json.loads(proc.stdout.readline()))


def test_students_cannot_use_up_the_teachers_file_descriptors() -> None:
    """Connections up to the limit, then idle sockets past it: the teacher still opens
    files, and the next student gets a 503 at once."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps({"max_per_address": 1000})],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_limit_fds)
    students: list[ClientConnection] = []
    idle: list[socket.socket] = []
    try:
        hello = _line(proc)
        port, token, most = hello["port"], hello["token"], hello["max"]
        assert isinstance(most, int) and 0 < most <= LIMIT - fd_reserve(LIMIT)
        url = f"ws://127.0.0.1:{port}/chat?token={token}"
        students = [connect(url, open_timeout=5) for _ in range(most)]
        started = time.monotonic()
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=5)
        assert refused.value.response.status_code == 503
        assert time.monotonic() - started < 5
        for _ in range(FD_RESERVE_MIN + 20):   # sockets that never send a request
            s = socket.create_connection(("127.0.0.1", int(str(port))), timeout=5)
            idle.append(s)
        s = idle[-1]
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 503"), "the reserve was not kept"
        assert proc.stdin is not None
        proc.stdin.write("open 32\n")
        proc.stdin.flush()
        assert _line(proc) == {"opened": 32}
    finally:
        for c in students:
            _close(c)
        for s in idle:
            s.close()
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_the_lan_address_is_found_without_traffic_and_printed(
        capsys: pytest.CaptureFixture[str]) -> None:
    found = lan_address()
    assert found is None or not found.startswith("127.")

    host = choose_host()
    out = capsys.readouterr().out
    assert host == (found or "127.0.0.1")
    assert host in out or "127.0.0.1" in out


def test_handshakes_in_progress_count_toward_the_per_address_cap(room: Classroom) -> None:
    """Requests that have not finished their handshake hold a place too: a student cannot
    get past ``max_per_address`` by opening many connections at once."""
    limit = room.server.options.max_per_address
    assert limit is not None
    half_open = [socket.create_connection(("127.0.0.1", room.server.port), timeout=5)
                 for _ in range(limit)]
    try:
        for s in half_open:
            s.sendall(b"GET /chat HTTP/1.1\r\n")   # a handshake that is still arriving
        wait_until(lambda: room.server.pending_handshakes >= limit, timeout=5,
                   what="every half-open handshake counted")
        with pytest.raises(InvalidStatus) as refused:
            _ws(room)
        assert refused.value.response.status_code == 503
    finally:
        for s in half_open:
            s.close()


def test_the_new_options_cross_to_a_process_and_are_checked() -> None:
    options = wslab.net.server.ServerOptions(max_per_address=3, paths=["/", "/chat"],
                                             fd_reserve=64)
    plain = json.loads(json.dumps(options.to_plain()))
    assert wslab.net.server.ServerOptions.from_plain(plain) == options
    assert options.paths == ("/", "/chat")
    for bad in ({"max_per_address": 0}, {"fd_reserve": -1}, {"paths": "/chat"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            wslab.net.server.ServerOptions(**bad)


def test_a_connection_into_the_descriptor_reserve_gets_503_and_one_event() -> None:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    server = wslab.serve(port=0, name="test-fd-reserve", fd_reserve=soft - 3)  # all reserved
    try:
        answers = []
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                answers.append(s.recv(200))
        assert all(a.startswith(b"HTTP/1.1 503 Service Unavailable") for a in answers)
        rejects = [e for e in server.events if e.kind == "reject" and e.code == 503]
        assert len(rejects) == 1 and "file descriptors" in (rejects[0].reason or "")
    finally:
        server.stop()


def test_through_jupyter_students_share_one_address_so_there_is_no_cap_per_address() -> None:
    wslab.set_public_url("/user/teacher/")
    try:
        room = wslab.classroom(host="jupyter", port=0, name="test-classroom-jupyter")
        try:
            assert room.server.options.max_per_address is None
            held = [connect(f"ws://127.0.0.1:{room.server.port}/chat?wslab_token={room.token}",
                            open_timeout=5, close_timeout=1) for _ in range(MAX_PER_ADDRESS + 2)]
            for c in held:
                _close(c)
        finally:
            room.stop()
    finally:
        wslab.set_public_url(None)
