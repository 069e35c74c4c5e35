"""The conformance run: wslab's server and notebook 02a's model server pass every case; each
typical student mistake fails its case with a clear line; every wait is bounded; the
plain-socket server around a learner's pieces cannot wedge the kernel."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import wslab
from wslab.exercises.solutions import ex02 as m2
from wslab.exercises.solutions import ex02a as m
from wslab.labs import conformance, own_server
from wslab.labs.conformance import FAILED, NON_STRICT, OK, run_conformance
from wslab.ui.conformance_table import conformance_table

from .conftest import wait_until
from .own_mistakes import (
    assemble_no_reassembly,
    assemble_per_fragment,
    control_1005,
    control_answers_pong,
    control_any_code,
    joined,
    read_no_unmask,
    read_with_length16,
    strict_utf8,
)

MODEL = {p: getattr(m, p) for p in own_server.PIECES}


@pytest.fixture
def own():
    servers = []

    def start(**changes):
        server = own_server.start(name=f"pytest-own-{len(servers)}", **{**MODEL, **changes})
        servers.append(server)
        return server
    yield start
    for s in servers:
        assert s.stop() == []


def test_the_cases_cover_what_the_issue_lists():
    titles = " | ".join(c.title for c in conformance.CASES)
    ids = [c.id for c in conformance.CASES]
    assert len(ids) == len(set(ids)) == 55
    for words in ("7-bit", "16-bit", "64-bit", "fragments, a ping between", "invalid UTF-8 in",
                  "RSV1", "opcode 0x3", "ping of 126", "close code 1005", "close without a code",
                  "close code 4999"):
        assert words in titles, words
    assert all(c.rfc and c.expected and c.hint for c in conformance.CASES)
    assert conformance.case_table()[0][0] == "1.1"


def test_wslab_server_passes_every_case(server):
    report = run_conformance(server.url)
    assert report.ok, "\n".join(r.line() for r in report.not_ok())
    assert report.counts == {OK: 55, NON_STRICT: 0, FAILED: 0}
    assert report.seconds < 30


def test_the_model_solution_passes_every_case(own):
    server = own()
    report = run_conformance(server.url)
    assert report.ok, "\n".join(r.line() for r in report.not_ok())
    assert not server.errors


# --- typical student mistakes: each is the model with one thing wrong -------------------------

def control_no_pong(h, payload):
    return None if h["opcode"] == 9 else m.control(h, payload)


def control_no_close_echo(h, payload):
    return None if h["opcode"] == 8 else m.control(h, payload)


def encode_16_from_125(opcode, payload):
    n = len(payload)
    if n == 125:
        return bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big") + payload
    return m.encode_frame(opcode, payload)


def encode_masked(opcode, payload):
    frame = m.encode_frame(opcode, payload)
    head = bytearray(frame[:len(frame) - len(payload)])
    head[1] |= 0x80
    key = b"\x01\x02\x03\x04"
    return bytes(head) + key + m2.mask(payload, key)


# name: (changed pieces, case ids that must not be OK -> (outcome, words in the line))
MISTAKES = {
    "no unmasking": ({"read_frame": read_no_unmask}, {
        "2.6": (FAILED, "still masked"), "2.10": (FAILED, "still masked"), "2.1": (OK, "")}),
    "16-bit length read as signed": ({"read_frame": read_with_length16(
        lambda b: int.from_bytes(b, "big", signed=True))}, {
        "2.4": (FAILED, "read_frame raised ValueError: recv_exactly(-25536)"),
        "2.3": (OK, "")}),
    "16-bit length in the wrong byte order": ({"read_frame": read_with_length16(
        lambda b: int.from_bytes(b, "little"))}, {
        "2.3": (FAILED, "nothing within"), "2.4": (FAILED, "16,540 bytes"),
        "2.2": (OK, "")}),
    "fragments not reassembled": ({"assemble": assemble_no_reassembly}, {
        "3.1": (FAILED, "TEXT 'Hel'"), "3.5": (FAILED, "went on as if"), "2.3": (OK, "")}),
    "text decoded fragment by fragment": ({"assemble": assemble_per_fragment}, {
        "6.2": (FAILED, "Close 1007"), "6.1": (OK, "")}),
    "UTF-8 checked only at the end": ({"assemble": joined(strict_utf8)}, {
        "6.5": (NON_STRICT, "after the last fragment"), "6.3": (OK, "")}),
    "invalid UTF-8 not rejected": ({"assemble": joined(
        lambda d: d.decode("utf-8", "replace"))}, {
        "6.3": (FAILED, "went on as if"), "6.6": (FAILED, "went on as if")}),
    "ping not answered": ({"control": control_no_pong}, {
        "4.1": (FAILED, "every Ping must be answered"), "3.2": (FAILED, "Pong")}),
    "close not echoed": ({"control": control_no_close_echo}, {
        "7.1": (FAILED, "a Close MUST be answered with a Close"),
        "7.7.1": (NON_STRICT, "SHOULD first send a Close")}),
    "close codes not checked": ({"control": control_any_code}, {
        "7.7.3": (FAILED, "close code 1005 is not allowed"), "7.4": (FAILED, "1007 does")}),
    "a pong answered": ({"control": control_answers_pong}, {
        "4.5": (NON_STRICT, "unsolicited Pong expects no answer")}),
    "1005 sent for a close without a code": ({"control": control_1005}, {
        "7.2": (FAILED, "close code 1005 is not allowed on the wire")}),
    "reserved bits accepted": ({"check_frame": lambda h: m.check_frame(
        {**h, "rsv1": False, "rsv2": False, "rsv3": False})}, {
        "5.1": (FAILED, "TEXT 'rsv1'"), "5.3": (FAILED, "Pong b'rsv3'")}),
    "reserved opcodes accepted": ({"check_frame": lambda h: m.check_frame(
        {**h, "opcode": h["opcode"] if h["opcode"] in (0, 1, 2, 8, 9, 10) else 2})}, {
        "5.4": (FAILED, "BINARY b'reserved'")}),
    "control frame size not checked": ({"check_frame": lambda h: m.check_frame(
        {**h, "length": min(h["length"], 125)})}, {
        "4.3": (FAILED, "this PONG frame's length field is 126")}),
    "the 16-bit length form used from 125 bytes": ({"encode_frame": encode_16_from_125}, {
        "2.2": (FAILED, "non-minimal length"), "2.3": (OK, "")}),
    "the server masks its frames": ({"encode_frame": encode_masked}, {
        "2.1": (FAILED, "a server must not mask")}),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_typical_mistake_fails_its_case_with_a_clear_line(own, mistake):
    changes, expected = MISTAKES[mistake]
    groups = sorted({case.rsplit(".", 1)[0] if case.count(".") > 1 else case
                     for case in expected})
    report = run_conformance(own(**changes).url, cases=groups, timeout=1.0)
    for case, (outcome, words) in expected.items():
        result = report[case]
        assert result.outcome == outcome, result.line()
        line = result.line()
        assert words in line, line
        if outcome != OK:
            assert "RFC 6455" in line and "Look at:" in line


# --- bounds ----------------------------------------------------------------------------------

class _Silent:
    """Accepts TCP connections and never answers (a server stuck in its handshake)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="silent-server")
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                continue

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_silent_server_costs_one_timeout_per_case():
    silent = _Silent()
    try:
        t0 = time.monotonic()
        report = run_conformance(silent.url, cases=["1.1", "2.1", "7.1"], timeout=0.3)
        assert time.monotonic() - t0 < 10
        assert all(r.outcome == FAILED for r in report.results)
        assert "read timeout" in report["2.1"].got or "in time" in report["2.1"].got
    finally:
        silent.stop()


def test_a_server_that_dies_mid_run_is_named(own):
    server = own()
    original = server.pieces["check_frame"]

    def dying(h):
        if h["opcode"] == 3:
            threading.Thread(target=server.stop, name="stopper").start()
        return original(h)
    server.pieces["check_frame"] = dying
    report = run_conformance(server.url, cases=["5", "6.1"], timeout=1.0)
    # 5.4 stops it; the stop may let one more connection in before the listener closes
    got = report["6.1"].got
    assert got.startswith("not run: the server stopped accepting connections during or after "
                          "case 5.") and got[-1] in "45", got


def test_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = run_conformance(f"ws://127.0.0.1:{port}/", cases=["2.1", "2.2"], timeout=0.5)
    assert [r.outcome for r in report.results] == [FAILED, FAILED]
    assert report["2.1"].got.startswith("TCP connection failed")


@pytest.mark.parametrize("kwargs, words", [
    ({"timeout": 0}, "timeout"), ({"timeout": True}, "timeout"),
    ({"cases": "2"}, "list of case ids"), ({"cases": ["9"]}, "no case matches")])
def test_bad_arguments(server, kwargs, words):
    with pytest.raises(ValueError, match=words):
        run_conformance(server.url, **kwargs)
    with pytest.raises(ValueError):
        run_conformance("http://example.org/", cases=["2.1"])


# --- the server around a learner's pieces ------------------------------------------------------

def test_stub_pieces_answer_500_and_never_print(own):
    def stub(*_a):
        raise NotImplementedError
    server = own(handshake=stub)
    report = run_conformance(server.url, cases=["2.1"], timeout=1.0)
    assert "500" in report["2.1"].got
    assert server.errors and server.errors[0].piece == "handshake"
    assert any("handshake raised NotImplementedError" in line for line in server.log)


def test_a_piece_that_returns_the_wrong_type_closes_with_1011(own):
    server = own(read_frame=lambda recv: recv(2))
    report = run_conformance(server.url, cases=["2.1"], timeout=1.0)
    assert "Close 1011" in report["2.1"].got and "read_frame returns (h, payload)" in \
        report["2.1"].got


def test_a_huge_length_is_refused_with_1009(own):
    server = own()
    server.max_message = 1 << 16
    report = run_conformance(server.url, cases=["2.10"], timeout=1.0)
    assert "Close 1009" in report["2.10"].got


def test_connections_are_bounded_and_stop_ends_them(own):
    server = own()
    server.max_connections = 2
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
    try:
        socks[2].settimeout(5)
        assert socks[2].recv(1) == b""     # the third is closed at once
        wait_until(lambda: server.connections == 2, 5, what="two connections held")
        t0 = time.monotonic()
        assert server.stop() == []
        assert time.monotonic() - t0 < 5
    finally:
        for s in socks:
            s.close()


def test_start_replaces_a_server_of_the_same_name():
    first = own_server.start(name="pytest-same", **MODEL)
    second = own_server.start(name="pytest-same", **MODEL)
    try:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", first.port), timeout=1).close()
        assert second.port != 0
    finally:
        second.stop()
    with pytest.raises(ValueError, match="missing or not a function"):
        own_server.start(name="pytest-bad", handshake=m.handshake)
    with pytest.raises(ValueError, match="unknown piece"):
        own_server.start(name="pytest-bad", hand_shake=m.handshake)


def test_real_clients_meet_the_model_server(own):
    from websockets.sync.client import connect as ws_connect
    server = own()
    with ws_connect(server.url, open_timeout=5, close_timeout=5) as ws:
        ws.send("hello from websockets")
        assert ws.recv(timeout=5) == "hello from websockets"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"\x00\x01"
        assert ws.ping(b"p").wait(5)
    client = wslab.connect(server.url)
    try:
        client.send("hello from wslab")
        assert client.recv(timeout=5) == "hello from wslab"
        assert client.ping(timeout=5) < 5
    finally:
        client.close(1000, "bye")
    assert client.close_code == 1000


# --- the table -------------------------------------------------------------------------------

def test_the_table_shows_every_case_and_collapses_a_uniform_run(server, own):
    report = run_conformance(server.url, cases=["2", "7.1"])
    html = conformance_table(report)._repr_html_()
    assert html.count("class='wslab-case'") == 11 and "data-outcome='OK'" in html
    assert "<details" in html and " open " not in html.split("<summary")[0]
    assert str(conformance_table(report)).startswith(server.url)

    def stub(*_a):
        raise NotImplementedError
    failing = run_conformance(own(handshake=stub).url, cases=["2", "3"], timeout=1.0)
    html = conformance_table(failing)._repr_html_()
    assert "every case:" in html and "class='wslab-case'" not in html
    blocked = run_conformance(own(handshake=stub).url, cases=["1", "2"], timeout=1.0)
    html = conformance_table(blocked)._repr_html_()
    assert html.count("class='wslab-case'") == 3 and "the other 10 cases could not start" in html
    with pytest.raises(ValueError):
        conformance_table("not a report")
