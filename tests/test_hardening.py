"""Issue 11: no input from a client may wedge, crash or bloat the server, the tap or the
process server.  Each class of hostile input has a test here; every loop is bounded in
count and time, and each test checks the server still serves an honest client afterwards.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wslab
from tests.conftest import wait_until
from wslab.protocol import frames as fr
from wslab.protocol import handshake as hs

M = b"\x11\x22\x33\x44"
OK_CLOSES = {1003, 1007, 1008, 1009, 1011}


# --- a tiny raw client built on wslab.protocol (every byte from layer 1) -------------------

class Raw:
    """A plain-socket WebSocket client: sends exactly the bytes a test builds."""

    def __init__(self, port: int, path: str = "/echo", *, request: bytes | None = None,
                 timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.key = hs.make_key()
        self.sock.sendall(request or hs.build_request(host=f"127.0.0.1:{port}", path=path,
                                                      key=self.key))
        self.head = b""
        while b"\r\n\r\n" not in self.head:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.head += chunk
        self.head, _, rest = self.head.partition(b"\r\n\r\n")
        self.parser = fr.FrameParser(require_mask=False)
        # frames follow a 101 only; after another status ``rest`` is an HTTP body
        self.pending = list(self.parser.feed(rest)) if rest and self.status == 101 else []

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1]) if self.head else 0

    def send(self, opcode: fr.Opcode, payload: bytes = b"", *, fin: bool = True) -> None:
        self.sock.sendall(fr.encode_frame(fr.Frame(opcode, payload, fin=fin, mask_key=M),
                                          strict=False))

    def text(self, s: str) -> None:
        self.send(fr.Opcode.TEXT, s.encode())

    def recv(self) -> fr.Frame | None:
        """The next frame, or None when the TCP connection ended without one."""
        while not self.pending:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return None
            if not chunk:
                return None
            self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)

    def recv_until_close(self, limit: int = 10_000) -> tuple[list[fr.Frame], int | None]:
        """Read frames until a Close (returns its code) or TCP end without one (None)."""
        seen = []
        for _ in range(limit):
            f = self.recv()
            if f is None:
                return seen, None
            if f.opcode == fr.Opcode.CLOSE:
                return seen, fr.parse_close_payload(f.payload)[0]
            seen.append(f)
        raise AssertionError(f"no close after {limit} frames")

    def close(self) -> None:
        self.sock.close()


def _still_serves(server) -> None:
    with wslab.connect(server.url) as c:
        c.send("still there?")
        assert c.recv(timeout=5) == "still there?"


# --- built-in routes never die silently -----------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=12)
envelopes = st.fixed_dictionaries(
    {"op": st.sampled_from(["sub", "unsub", "pub", "hello", "msg", "ack", "ping", 7, None])},
    optional={"channel": json_values, "data": json_values, "session": json_values,
              "last_seen": json_values, "seq": json_values, "type": st.just("ping"),
              "t": json_values})


@pytest.fixture
def route_server():
    server = wslab.serve(name="harden-routes")
    yield server
    server.stop()


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["/pubsub", "/ack", "/echo", "/chat"]),
       message=st.one_of(envelopes, json_values).map(json.dumps) | st.text(max_size=40))
def test_every_route_answers_every_message_with_a_reply_or_a_close(route_server, route, message):
    raw = Raw(route_server.port, route)
    try:
        assert raw.status == 101
        raw.text(message)
        raw.send(fr.Opcode.PING, b"probe")  # an answer to this proves the connection lives
        for _ in range(50):
            f = raw.recv()
            assert f is not None, f"{route} dropped TCP with no Close frame after {message!r}"
            if f.opcode == fr.Opcode.CLOSE:
                code = fr.parse_close_payload(f.payload)[0]
                assert code in OK_CLOSES, (route, message, code)
                break
            if f.opcode == fr.Opcode.PONG:
                break
    finally:
        raw.close()


def test_a_route_that_fails_closes_with_1011_and_an_error_event(route_server):
    # A hello whose last_seen is not a number once crashed /ack with no Close frame.
    raw = Raw(route_server.port, "/ack")
    try:
        raw.text(json.dumps({"op": "hello", "session": "s", "last_seen": "yesterday"}))
        f = raw.recv()
        assert f is not None, "the connection was dropped silently"
        if f.opcode == fr.Opcode.CLOSE:
            code = fr.parse_close_payload(f.payload)[0]
            assert code in OK_CLOSES
            wait_until(lambda: route_server.events.of("error"), 5, what="an error event")
        else:
            assert b"error" in f.payload
    finally:
        raw.close()
    _still_serves(route_server)


# --- rate limits count every message, app pings included ------------------------------------

def test_rate_limit_counts_application_pings():
    server = wslab.serve(name="harden-rate", rate_limit=20)
    raw = Raw(server.port, "/echo")
    try:
        for i in range(200):
            raw.text(json.dumps({"type": "ping", "t": i}))
        frames_, code = raw.recv_until_close()
        assert code == 1008, f"200 app pings against rate_limit=20 gave close {code}"
        assert len(frames_) <= 40, f"{len(frames_)} pongs answered past the limit"
    finally:
        raw.close()
        server.stop()


# --- tokens never reach a log or an event ---------------------------------------------------

def test_tokens_never_reach_a_log_or_an_event():
    secret = "tok-" + "s3cr3t" * 4
    seen: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    grab = Grab(level=logging.DEBUG)
    grab.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(grab)
    root.setLevel(logging.DEBUG)
    server = wslab.serve(name="harden-token", auth=secret)
    try:
        @server.on_message
        def boom(conn, message):
            raise RuntimeError("a crashing handler")

        for path in ("/echo", "/ack", "/pubsub"):
            req = hs.build_request(host=f"127.0.0.1:{server.port}",
                                   path=f"{path}?token={secret}", key=hs.make_key())
            raw = Raw(server.port, request=req)
            assert raw.status == 101
            raw.text(json.dumps({"op": "hello", "session": "x", "last_seen": "bad"}))
            raw.text("boom")
            raw.recv_until_close()
            raw.close()
        bad = Raw(server.port, request=hs.build_request(
            host=f"127.0.0.1:{server.port}", path="/echo?token=" + secret[::-1],
            key=hs.make_key()))
        assert bad.status == 403
        bad.close()
        wait_until(lambda: len(server.events.of("close")) >= 3, 5, what="three closes")
    finally:
        server.stop()
        root.removeHandler(grab)
        root.setLevel(old_level)
    events = "\n".join(repr(e) for e in server.events)
    assert secret not in events and secret[::-1] not in events
    leaked = [line for line in seen if secret in line or secret[::-1] in line]
    assert not leaked, leaked[:3]


# --- frames: incremental UTF-8, fragments counted, ping floods summarised --------------------

def test_invalid_utf8_fails_before_the_frame_is_complete():
    """RFC 6455 8.1: fail fast. Autobahn 6.4.3/6.4.4 send the bad byte, then wait."""
    server = wslab.serve(name="harden-utf8")
    raw = Raw(server.port, "/echo")
    try:
        payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"x" * 200  # > U+10FFFF
        frame = fr.encode_frame(fr.Frame(fr.Opcode.TEXT, payload, mask_key=M), strict=False)
        head = len(frame) - len(payload)
        raw.sock.sendall(frame[:head + 14])  # the bad sequence is in, most of the frame not
        _, code = raw.recv_until_close()
        assert code == 1007
    finally:
        raw.close()
        server.stop()


def test_empty_fragments_count_toward_max_message_size():
    server = wslab.serve(name="harden-frag", max_message_size=4096)
    raw = Raw(server.port, "/echo")
    try:
        raw.send(fr.Opcode.TEXT, b"", fin=False)
        empty = fr.encode_frame(fr.Frame(fr.Opcode.CONTINUATION, b"", fin=False, mask_key=M))
        sent = 0
        try:
            for _ in range(20):  # up to 20 x 1,000 empty fragments
                raw.sock.sendall(empty * 1000)
                sent += 1000
        except (BrokenPipeError, ConnectionResetError):
            pass
        _, code = raw.recv_until_close()
        assert code == 1009, f"{sent} empty fragments were accepted (close {code})"
    finally:
        raw.close()
        server.stop()


def test_a_ping_flood_leaves_one_summary_event_not_thousands():
    server = wslab.serve(name="harden-pings")
    raw = Raw(server.port, "/echo")
    try:
        wait_until(lambda: server.events.of("open"), 5, what="open event")
        raw.sock.sendall(fr.encode_frame(fr.Frame(fr.Opcode.PING, b"p", mask_key=M)) * 5000)
        raw.text("after the flood")
        for _ in range(6000):
            f = raw.recv()
            assert f is not None
            if f.opcode == fr.Opcode.TEXT:
                break
        pings = server.events.of("ping")
        assert len(pings) <= 100, f"{len(pings)} ping events for one flood"
        assert server.events.of("open"), "the flood pushed the open event out of the log"
        assert any("5000" in repr(e) or "burst" in repr(e) for e in server.events), \
            "no summary of the flood"
    finally:
        raw.close()
        server.stop()


# --- handshakes: validated by wslab.protocol before Tornado accepts ------------------------

def _request(port: int, **changes) -> bytes:
    key = hs.make_key()
    req = hs.build_request(host=f"127.0.0.1:{port}", path="/echo", key=key)
    for old, new in changes.items():
        req = req.replace(old.encode(), new.encode())
    return req


@pytest.mark.parametrize("mutate, status", [
    (lambda r: r.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"),
     400),  # two keys (RFC 6455 4.2.1 item 5: exactly one)
    (lambda r: r.split(b"Sec-WebSocket-Key: ")[0] + b"Sec-WebSocket-Key: c2hvcnQ=\r\n"
     + r.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n", 1)[1], 400),  # 5 bytes, not 16
    (lambda r: r.replace(b"HTTP/1.1", b"HTTP/1.0"), 400),  # 4.1: HTTP/1.1 or higher
])
def test_handshakes_the_rfc_rejects_get_400(mutate, status):
    server = wslab.serve(name="harden-hs")
    try:
        req = mutate(hs.build_request(host=f"127.0.0.1:{server.port}", path="/echo",
                                      key=hs.make_key()))
        raw = Raw(server.port, request=req)
        assert raw.status == status, raw.head[:200]
        raw.close()
        _still_serves(server)
    finally:
        server.stop()


@pytest.mark.parametrize("offer", [
    "permessage-deflate; client_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
    "permessage-deflate; unknown_param",
])
def test_a_deflate_offer_the_server_cannot_honour_is_declined_not_500(offer):
    server = wslab.serve(name="harden-pmd", compression=True)
    try:
        req = hs.build_request(host=f"127.0.0.1:{server.port}", path="/echo",
                               key=hs.make_key(), extensions=[offer])
        raw = Raw(server.port, request=req)
        assert raw.status == 101, raw.head[:200]
        headers = raw.head.decode("latin-1").lower()
        assert "sec-websocket-extensions" not in headers or "window_bits=8" not in headers
        raw.text("hi")
        f = raw.recv()
        assert f is not None and f.opcode == fr.Opcode.TEXT
        raw.close()
    finally:
        server.stop()


def test_slow_handshakes_time_out_and_count_toward_max_connections():
    server = wslab.serve(name="harden-slow", max_connections=5, handshake_timeout=1.0)
    socks = []
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"GET /echo HTTP/1.1\r\nHo")  # and then nothing: a slowloris
            socks.append(s)
        wait_until(lambda: server.pending_handshakes >= 5, 5, what="five pending handshakes")
        refused = Raw(server.port, "/echo")
        assert refused.status == 503, "pending handshakes were not counted"
        refused.close()
        for s in socks:  # the server hangs up on each of them by itself (maybe with a 408)
            s.settimeout(10)
            answer = s.recv(1024)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:60]
        wait_until(lambda: server.pending_handshakes == 0, 10, what="slow handshakes dropped")
        _still_serves(server)
    finally:
        for s in socks:
            s.close()
        server.stop()


# --- Origin and Host (DNS rebinding) ---------------------------------------------------------

@pytest.mark.parametrize("host, origin", [
    ("evil.example:{port}", "http://evil.example:{port}"),    # rebinding: Host forged to match
    ("127.0.0.1:{port}", "https://127.0.0.1:{port}"),         # same host, other scheme
    ("127.0.0.1:{port}", "http://127.0.0.1:1"),               # same host, other port
])
def test_origin_must_match_scheme_host_and_port_and_host_must_be_ours(host, origin):
    server = wslab.serve(name="harden-origin")
    try:
        h, o = host.format(port=server.port), origin.format(port=server.port)
        req = hs.build_request(host=h, path="/echo", key=hs.make_key(), origin=o)
        raw = Raw(server.port, request=req)
        assert raw.status == 403, (h, o, raw.head[:100])
        raw.close()
        ok = hs.build_request(host=f"127.0.0.1:{server.port}", path="/echo", key=hs.make_key(),
                              origin=f"http://127.0.0.1:{server.port}")
        raw = Raw(server.port, request=ok)
        assert raw.status == 101
        raw.close()
    finally:
        server.stop()


# --- /ack: bounded sessions, replay, delivered data, hello replies ---------------------------
# (the hostile /ack inputs run against both stores, memory and Redis, in test_ack_stores.py)

def _ack_hello(raw: Raw, session: str, last_seen: int = 0) -> list[dict]:
    raw.text(json.dumps({"op": "hello", "session": session, "last_seen": last_seen}))
    out = []
    f = raw.recv()
    while f is not None and f.opcode == fr.Opcode.TEXT:
        msg = json.loads(f.payload)
        out.append(msg)
        if msg.get("op") == "welcome" and msg.get("replayed", 0) == 0:
            break
        if msg.get("op") == "event" and len(out) > msg.get("replayed", 0):
            pass
        if msg.get("op") == "welcome":
            want = msg["replayed"]
            for _ in range(want):
                f = raw.recv()
                assert f is not None
                out.append(json.loads(f.payload))
            break
        f = raw.recv()
    return out


def test_ack_keeps_no_delivered_data_after_the_client_is_gone():
    server = wslab.serve(name="harden-ack-mem", max_message_size=1 << 20)
    try:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        raw = Raw(server.port, "/ack")
        _ack_hello(raw, "heavy")
        blob = "y" * (512 * 1024)
        for seq in range(1, 41):
            raw.text(json.dumps({"op": "msg", "seq": seq, "data": blob}))
            f = raw.recv()
            assert f is not None and json.loads(f.payload)["op"] == "ack"
        raw.close()
        wait_until(lambda: not server.clients, 5, what="client gone")
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        assert kept < 4 * 1024 * 1024, f"{kept / 1e6:.1f} MB kept after 20 MB were delivered"
    finally:
        tracemalloc.stop()
        server.stop()


# --- the tap inflates within a bound --------------------------------------------------------

def test_tap_inflates_a_compression_bomb_within_a_bound():
    server = wslab.serve(name="harden-tap", compression=True, max_message_size=1 << 20)
    tap = wslab.Tap(server.url)
    try:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = comp.compress(b"\0" * (300 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]  # RFC 7692 7.2.1: drop the 00 00 ff ff tail
        tracemalloc.start()
        req = hs.build_request(host=tap.url.split("/")[2], path="/echo", key=hs.make_key(),
                               extensions=["permessage-deflate"])
        raw = Raw(int(tap.url.split(":")[2].split("/")[0]), request=req)
        assert raw.status == 101
        frame = fr.encode_frame(fr.Frame(fr.Opcode.BINARY, bomb, rsv1=True, mask_key=M),
                                strict=False)
        raw.sock.sendall(frame)
        raw.recv_until_close()
        raw.close()
        wait_until(lambda: len(tap.records) >= 1, 10, what="the tap's record of the bomb")
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < 64 << 20, f"peak {peak / 1e6:.0f} MB while inflating a {len(bomb)} B frame"
    finally:
        tracemalloc.stop()
        tap.stop()
        server.stop()


# --- the process server's stderr never fills up ---------------------------------------------

def test_process_server_survives_a_handler_that_writes_to_stderr():
    server = wslab.serve(name="harden-proc", process=True, handler="tests.handlers:noisy")
    try:
        with wslab.connect(server.url) as c:
            for i in range(300):  # 300 x 1 KiB to stderr: far past a 64 KiB pipe
                c.send(f"m{i}")
                assert c.recv(timeout=10) == f"M{i}"
            c.send("raise")
            wait_until(lambda: server.events.of("error"), 10, what="the child's error as an event")
    finally:
        server.stop()



def test_errors_logged_in_the_process_server_become_events():
    server = wslab.serve(name="harden-proc-log", process=True,
                         handler="tests.handlers:logs_an_error")
    try:
        with wslab.connect(server.url) as c:
            c.send("a message")
            assert c.recv(timeout=10) == "a message"
        wait_until(lambda: any("the handler saw a message" in (e.reason or "")
                               for e in server.events.of("error")), 10,
                   what="the child's logged error as an event")
    finally:
        server.stop()


# --- running out of file descriptors: one event and a back-off, not a spinning loop ----------

_FD_CHILD = r"""
import json, os, resource, sys
import wslab
server = wslab.serve(name="fd", handshake_timeout=30)
free_from = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 4
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (free_from, hard))
print(json.dumps({"port": server.port}), flush=True)
for line in sys.stdin:
    if line.strip() == "report":
        events = [e.reason for e in server.events.of("error")]
        print(json.dumps({"events": events, "refusals": server._acceptor.refusals}), flush=True)
    else:
        break
resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1:] * 2)
server.stop()
"""


def test_running_out_of_file_descriptors_backs_off_with_one_event():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _FD_CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    socks = []
    try:
        port = json.loads(child.stdout.readline())["port"]
        for _ in range(30):  # far more than the child has descriptors left
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        report: dict = {}

        def exhausted() -> bool:
            child.stdin.write("report\n")
            child.stdin.flush()
            report.update(json.loads(child.stdout.readline()))
            return report["refusals"] >= 3  # it tried again, after backing off, twice

        wait_until(exhausted, 20, what="the child to run out of descriptors and retry")
        fd_events = [r for r in report["events"] if "EMFILE" in r]
        assert len(fd_events) == 1, report["events"]
        assert report["refusals"] < 100, f"{report['refusals']} accept() failures: spinning"
    finally:
        for s in socks:
            s.close()
        out, err = child.communicate("stop\n", timeout=30)
    assert "Traceback" not in err, err[-2000:]
    assert child.returncode == 0, err[-2000:]


# --- a compressed broadcast: compressed once per parameter set where possible ----------------

def test_a_compressed_broadcast_is_compressed_once_per_parameter_set():
    import contextlib

    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.sync.client import connect as ws_connect

    server = wslab.serve(name="harden-bcast", compression=True)
    try:
        with contextlib.ExitStack() as stack:
            peers = []
            for bits in (15,) * 12 + (10,) * 8:  # no context takeover: two parameter sets
                factory = ClientPerMessageDeflateFactory(server_no_context_takeover=True,
                                                         server_max_window_bits=bits)
                peers.append(stack.enter_context(ws_connect(
                    server.url, compression=None, extensions=[factory], open_timeout=5)))
            own = [stack.enter_context(wslab.connect(server.url, compression=True))
                   for _ in range(2)]  # context takeover: a window each
            wait_until(lambda: len(server.clients) == 22, 5, what="22 clients")
            message = json.dumps({"news": "x" * 5000, "n": list(range(500))})
            assert server.broadcast(message) == 22
            for peer in peers:
                assert peer.recv(timeout=5) == message
            for c in own:
                assert c.recv(timeout=5) == message
            event = [e for e in server.events.of("message") if e.extra.get("broadcast")][-1]
            assert event.extra["compressions"] == 2 + 2, event.extra
    finally:
        server.stop()


# --- /login compares tokens in constant time --------------------------------------------------

def test_tokens_are_compared_in_constant_time_everywhere():
    """A source scan: no ``==``/``!=`` with a token-like name on either side in the server."""
    import ast
    import pathlib

    root = pathlib.Path(wslab.__file__).parent / "net"
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq))
                                                     for op in node.ops):
                names = {n.id if isinstance(n, ast.Name) else n.attr
                         for side in (node.left, *node.comparators) for n in ast.walk(side)
                         if isinstance(n, (ast.Name, ast.Attribute))}
                if any("token" in n.lower() or "secret" in n.lower() for n in names):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"compare tokens with hmac.compare_digest: {offenders}"


def test_login_sets_the_cookie_only_for_the_right_token():
    import urllib.error
    import urllib.request

    server = wslab.serve(name="harden-login", auth="the-right-token")
    try:
        base = f"http://127.0.0.1:{server.port}/login?token="
        with urllib.request.urlopen(base + "the-right-token", timeout=5) as r:
            assert "wslab_token=" in r.headers.get("Set-Cookie", "")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "the-wrong-token", timeout=5)
        assert info.value.code == 403
        info.value.close()
    finally:
        server.stop()


# --- inflating: metered per client, so a few bombs cannot keep the loop busy ------------------

def test_the_inflate_work_one_client_causes_is_metered(monkeypatch):
    from websockets.sync.client import connect as ws_connect

    from wslab.net.server import strict

    # a small meter, so that this machine's own speed cannot hide it: 2 MiB, then 8 MiB/s
    monkeypatch.setattr(strict, "INFLATE_BURST", 2 << 20)
    monkeypatch.setattr(strict, "INFLATE_RATE", 8 << 20)
    server = wslab.serve(name="harden-inflate", compression=True, max_message_size=1 << 20)
    try:
        zeros = bytes(1 << 20)  # ~1 KiB compressed, 1 MiB inflated
        with ws_connect(server.url, open_timeout=5, max_size=None) as ws:
            wait_until(lambda: server.clients, 5, what="the client")
            proto = server.connection(server.clients[0].id)._handler.lab_protocol
            for _ in range(6):
                ws.send(zeros)
            for _ in range(6):
                assert ws.recv(timeout=30) == zeros
            assert proto.inflated_bytes == 6 * len(zeros)
            assert proto.inflate_waits >= 1, "inflating past the burst never paused the reader"
        _still_serves(server)
    finally:
        server.stop()


def test_invalid_utf8_in_a_text_frame_split_across_tcp_reads_fails_fast():
    """Autobahn 6.4.4: the bad byte alone in the middle piece; the rest never comes."""
    server = wslab.serve(name="harden-utf8-pieces")
    raw = Raw(server.port, "/echo")
    try:
        payload = "κόσμε".encode() + b"\xf4" + b"\x90\x80\x80" + b"x" * 60
        frame = fr.encode_frame(fr.Frame(fr.Opcode.TEXT, payload, mask_key=M), strict=False)
        head = len(frame) - len(payload)
        raw.sock.sendall(frame[:head + 11])            # valid so far
        raw.sock.sendall(frame[head + 11:head + 12])   # F4: still a valid prefix (U+10xxxx)
        raw.sock.sendall(frame[head + 12:head + 13])   # 90: past U+10FFFF, invalid now
        _, code = raw.recv_until_close()
        assert code == 1007
    finally:
        raw.close()
        server.stop()


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=300), cuts=st.lists(st.integers(0, 1200), max_size=6))
def test_valid_text_arriving_in_any_pieces_is_delivered_whole(text, cuts):
    with wslab.serve(name="harden-utf8-ok") as server:
        raw = Raw(server.port, "/echo")
        try:
            raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            frame = fr.encode_frame(fr.Frame(fr.Opcode.TEXT, text.encode(), mask_key=M))
            last = 0
            for cut in sorted({c % len(frame) for c in cuts} | {len(frame)}):
                raw.sock.sendall(frame[last:cut])
                last = cut
            f = raw.recv()
            assert f is not None and f.opcode == fr.Opcode.TEXT and f.payload.decode() == text
        finally:
            raw.close()


def test_the_tap_keeps_a_bounded_number_of_bytes(monkeypatch):
    from wslab.net import tap as tap_module

    monkeypatch.setattr(tap_module, "RECORDS_BYTES_MAX", 1 << 20)
    monkeypatch.setattr(tap_module, "BUFFER_MAX", 1 << 20)
    server = wslab.serve(name="harden-tap-bytes")
    tap = wslab.Tap(server.url)
    try:
        with wslab.connect(tap.url) as c:  # 40 x 60 KB each way: 4.8 MB of payload
            for _ in range(40):
                c.send(bytes(60_000))
                assert c.recv(timeout=5) == bytes(60_000)
        wait_until(lambda: any(r.kind == "closed" for r in tap.records), 5, what="closed")
        assert tap.records_bytes <= 1 << 20 and tap.dropped_records > 0
        assert tap.records_bytes == sum(tap_module._kept(r) for r in tap.records)

        port = int(tap.url.split(":")[2].split("/")[0])
        raw = Raw(port, "/echo")  # a frame that says 3 MiB, of which 2 MiB ever come
        head = fr.encode_frame(fr.Frame(fr.Opcode.BINARY, bytes(3 << 20), mask_key=M))[:14]
        raw.sock.sendall(head + bytes(2 << 20))
        wait_until(lambda: any("not decoded" in r.error for r in tap.records), 10,
                   what="the tap to give up decoding the huge frame")
        raw.close()
    finally:
        tap.stop()
        server.stop()


@pytest.mark.parametrize("host, status", [
    ("localhost:{port}", 101), ("127.0.0.1:{port}", 101), ("[::1]:{port}", 101),
    ("teacher.example:{port}", 403),        # a name that is not ours, on our port
    ("jupyter.example:8888", 403),          # another port: only a trusted proxy's name
])
def test_the_host_header_must_name_this_server_on_its_port(host, status):
    server = wslab.serve(name="harden-host")
    try:
        req = hs.build_request(host=host.format(port=server.port), path="/echo",
                               key=hs.make_key())
        raw = Raw(server.port, request=req)
        assert raw.status == status, raw.head[:120]
        raw.close()
        if status == 403:
            assert any("DNS rebinding" in (e.reason or "") for e in server.events.of("reject"))
            server.allow_host(host.split(":")[0])
            raw = Raw(server.port, request=req)
            assert raw.status == 101
            raw.close()
    finally:
        server.stop()


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 600)), max_size=80))
def test_ack_delivered_data_stays_within_its_budgets(ops):
    """Each session keeps its newest messages, within its own and the shared byte budgets."""
    import asyncio

    from wslab.net.server.ack import MemoryAckStore
    from wslab.protocol.ack import AckConnState, AckProtocol

    ack = MemoryAckStore(keep_delivered=5, keep_delivered_bytes=1500, delivered_bytes_max=3000)
    proto = AckProtocol(ack)
    states: dict[str, AckConnState] = {}
    sent: dict[str, list] = {}

    def handle(state: AckConnState, text: str) -> list[str]:
        return asyncio.run(proto.handle(state, text))

    for sid, size in ops:
        state = states.setdefault(sid, AckConnState())
        if state.session is None:
            handle(state, json.dumps({"op": "hello", "session": sid, "last_seen": 0}))
        seq = ack.sessions[sid].expected
        data = "d" * size + str(seq)
        assert handle(state, json.dumps({"op": "msg", "seq": seq, "data": data})) \
            == [json.dumps({"op": "ack", "seq": seq})]
        sent.setdefault(sid, []).append(data)
        assert ack.delivered_bytes == sum(s.kept_bytes for s in ack.sessions.values())
        assert ack.delivered_bytes <= 3000
        for s in ack.sessions.values():
            assert len(s.delivered) <= 5 and s.kept_bytes <= 1500
            kept = sent[s.id][len(sent[s.id]) - len(s.delivered):] if s.delivered else []
            assert s.delivered == kept  # the newest, in order
            assert s.delivered_count == len(sent[s.id])
