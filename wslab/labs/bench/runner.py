"""Benchmarks: the wslab server against real peers, measured honestly (layer 2, I/O).

One harness measures any WebSocket server that offers an echo route and a chat
route (every message goes to every chat client), given their URLs:

* **echo round trip** (:class:`EchoRecord`): one message at a time, 32 B and
  64 KiB, with the wslab :class:`~wslab.net.client.Client` on the lab loop
  (``measure_rtt``: ``time.perf_counter_ns`` around each round trip, warm-up
  first); p50/p90/p99.  The same figure with Tornado's own client
  (``websocket_connect``) against the bare Tornado server compares the clients.
* **pipelined throughput** (:class:`ThroughputRecord`): a minimal "wire" client
  (asyncio protocol, pre-encoded masked frames, replies counted without
  decoding text) keeps ``window`` messages outstanding and reports messages/s.
  A second, *paced* run sends on a fixed schedule (``paced_rate`` messages/s,
  still at most ``window`` outstanding) and measures each message's latency from
  its **intended** send time, not from when it was actually written.  A client
  that only sends after the previous reply ("closed loop") stops sending while
  the server stalls, so the stall hides in one slow sample and the messages that
  *should* have been sent meanwhile are never measured: coordinated omission.
  Timing from the schedule charges the stall to every message it delayed.
* **broadcast fan-out** (:class:`BroadcastRecord`): N wire clients on the chat
  route; one sends a trigger and the server sends it to all N.  The figure is
  the time from writing the trigger to the LAST client's receipt, repeated
  ``broadcast_reps`` times; p50/p99.  The N clients live in a receiver child
  process reading raw sockets with ``epoll`` (a few microseconds per client, the
  same for every peer), so they never share a process or GIL with a server.
* **memory per connection** (:class:`MemoryRecord`): the server process's RSS
  (``VmRSS`` in ``/proc/PID/status``) before and after N idle connections.  The
  N clients always live in a *separate child process*, so for the in-kernel
  server (whose process is this one) the growth is server-side memory only:
  Tornado's handler, stream and buffers plus wslab's per-connection objects and
  its ``open`` events.

:func:`run_peers` runs every metric against several servers in ONE interleaved
run (A B C D A B C D ...), so machine noise hits all of them alike:

* ``wslab``: :func:`wslab.serve` on the lab loop thread of *this* process, events
  recorded as by default: what a notebook gets; it shares this process (and its
  GIL) with the measuring client;
* ``wslab-process``: the same server in a child process, for a like-for-like
  comparison with the other peers, which all run in child processes;
* ``tornado``: a bare Tornado echo/chat handler (the baseline of every ratio;
  TCP_NODELAY on, as wslab, ``websockets`` and Node's ``ws`` do);
* ``websockets``: the ``websockets`` library's asyncio server (skipped when the
  package is not installed: it is a test dependency);
* ``node-ws``: Node.js with the ``ws`` package (``bench/node_ws_server.js``),
  installed with npm into a temporary folder; skipped with a message when
  ``node``/``npm`` are missing or ``npm install`` fails.

Every loop is bounded in count AND time (per-step timeouts, a time budget per
metric); long runs show ``tqdm.auto`` progress bars, updated between steps and
never inside a timed span.  Results are dataclass records; :meth:`BenchResults.save`
writes ``peers.json`` and ``peers.png``.  Command line: ``python -m wslab bench``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...net import loop as lab
from ...protocol import frames, handshake
from ..stats import percentile

PEERS = ("wslab", "wslab-process", "tornado", "websockets", "node-ws")
BASELINE = "tornado"
NODE = "node-ws"
SMALL, BIG = 32, 64 * 1024
NODE_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "node_ws_server.js"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "bench" / "results"

Say = Callable[[str], None]


# ---------------------------------------------------------------------------
# Configuration and records


@dataclass(frozen=True)
class BenchConfig:
    """Counts and time bounds of one run.  :meth:`quick` and :meth:`full` are the presets."""

    rounds: int = 6                 # interleaved rounds per metric (A B C D) x rounds
    echo_n: int = 3000              # 32 B round trips per peer per round
    echo_big_n: int = 400           # 64 KiB round trips per peer per round
    warmup: int = 50                # unmeasured round trips before each peer's first round
    pipeline_n: int = 30_000        # messages per saturating pipelined run
    window: int = 100               # messages outstanding at most
    paced_n: int = 6000             # messages per paced run
    paced_rate: int = 5000          # messages/s of the paced schedule (same for every peer)
    broadcast_clients: tuple[int, ...] = (200, 500, 1000)
    broadcast_reps: int = 200       # measured broadcasts per peer and client count
    memory_connections: int = 1000  # idle connections for the memory figure (0 = skip)
    step_timeout: float = 60.0      # s, any single step (one peer, one round)
    metric_budget: float = 90.0     # s, a metric starts no new round after this

    @classmethod
    def quick(cls) -> BenchConfig:
        """Small counts for CI and notebooks (well under a minute with five peers)."""
        return cls(rounds=4, echo_n=500, echo_big_n=60, warmup=30, pipeline_n=5000,
                   paced_n=2000, broadcast_clients=(200,), broadcast_reps=30,
                   memory_connections=200, step_timeout=20.0, metric_budget=12.0)

    @classmethod
    def full(cls) -> BenchConfig:
        """The default of ``python -m wslab bench`` (a few minutes)."""
        return cls()


@dataclass(frozen=True)
class EchoRecord:
    """Sequential echo round trips of one client against one server (microseconds)."""

    peer: str
    client: str
    size: int
    n: int
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True)
class ThroughputRecord:
    """Pipelined echo: saturating messages/s, and latency on a paced schedule (us)."""

    peer: str
    size: int
    window: int
    sent: int
    received: int
    out_of_order: int
    msgs_per_s: float
    paced_rate: int
    paced_sent: int
    paced_received: int
    paced_p50_us: float | None
    paced_p99_us: float | None


@dataclass(frozen=True)
class BroadcastRecord:
    """Fan-out to ``clients`` chat clients: trigger written -> last receipt (milliseconds)."""

    peer: str
    clients: int
    reps: int
    complete: int      # reps in which every client received the message
    received: int      # receipts counted over all reps
    expected: int      # clients * reps
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class MemoryRecord:
    """Server RSS growth with ``connections`` idle clients held by a child process."""

    peer: str
    pid: int
    connections: int
    rss_before_kib: int
    rss_after_kib: int
    kib_per_connection: float


@dataclass
class BenchResults:
    """Everything one run measured, plus the machine it ran on."""

    cpu_count: int | None
    python: str
    platform: str
    config: dict[str, Any]
    peers: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    echo: list[EchoRecord] = field(default_factory=list)
    throughput: list[ThroughputRecord] = field(default_factory=list)
    broadcast: list[BroadcastRecord] = field(default_factory=list)
    memory: list[MemoryRecord] = field(default_factory=list)
    child_pids: list[int] = field(default_factory=list)  # all stopped when the run ends
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # --- lookups -----------------------------------------------------------
    def echo_of(self, peer: str, size: int = SMALL, client: str = "wslab") -> EchoRecord | None:
        return next((r for r in self.echo
                     if r.peer == peer and r.size == size and r.client == client), None)

    def throughput_of(self, peer: str) -> ThroughputRecord | None:
        return next((r for r in self.throughput if r.peer == peer), None)

    def broadcast_of(self, peer: str, clients: int) -> BroadcastRecord | None:
        return next((r for r in self.broadcast if r.peer == peer and r.clients == clients), None)

    def memory_of(self, peer: str) -> MemoryRecord | None:
        return next((r for r in self.memory if r.peer == peer), None)

    # --- summary -----------------------------------------------------------
    def rows(self) -> list[tuple[str, dict[str, float | None], bool]]:
        """(label, value per peer, higher_is_better) for the table and the JSON summary."""
        out: list[tuple[str, dict[str, float | None], bool]] = []

        def row(label: str, fn: Callable[[str], float | None], higher: bool = False) -> None:
            values = {p: fn(p) for p in self.peers}
            if any(v is not None for v in values.values()):
                out.append((label, values, higher))

        def get(rec: Any, attr: str) -> float | None:
            return None if rec is None else getattr(rec, attr)

        for size, name in ((SMALL, "32 B"), (BIG, "64 KiB")):
            row(f"echo {name} p50 (us)", lambda p, s=size: get(self.echo_of(p, s), "p50_us"))
            row(f"echo {name} p99 (us)", lambda p, s=size: get(self.echo_of(p, s), "p99_us"))
        row("pipelined (msg/s)", lambda p: get(self.throughput_of(p), "msgs_per_s"), True)
        rate = self.config.get("paced_rate")
        row(f"paced {rate}/s p50 (us)", lambda p: get(self.throughput_of(p), "paced_p50_us"))
        row(f"paced {rate}/s p99 (us)", lambda p: get(self.throughput_of(p), "paced_p99_us"))
        for n in sorted({r.clients for r in self.broadcast}):
            row(f"broadcast {n} p50 (ms)", lambda p, n=n: get(self.broadcast_of(p, n), "p50_ms"))
            row(f"broadcast {n} p99 (ms)", lambda p, n=n: get(self.broadcast_of(p, n), "p99_ms"))
        row("memory (KiB/conn)", lambda p: get(self.memory_of(p), "kib_per_connection"))
        return out

    def targets(self) -> list[dict[str, Any]]:
        """The issue's targets with the measured ratios (reported, never asserted)."""
        out: list[dict[str, Any]] = []

        def ratio(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b not in (None, 0) else None

        def add(what: str, value: float | None, limit: float) -> None:
            out.append({"target": what, "ratio": value, "limit": limit,
                        "met": None if value is None else value <= limit})

        base = self.echo_of(BASELINE)
        for peer in ("wslab", "wslab-process"):
            rec = self.echo_of(peer)
            add(f"{peer} server echo p50 / bare tornado",
                ratio(rec and rec.p50_us, base and base.p50_us), 1.05)
        tc = self.echo_of(BASELINE, client="tornado")
        add("wslab client / tornado client (echo p50, bare tornado server)",
            ratio(base and base.p50_us, tc and tc.p50_us), 1.2)
        node = self.broadcast_of(NODE, 200)
        for peer in ("wslab", "wslab-process"):
            rec = self.broadcast_of(peer, 200)
            add(f"{peer} broadcast p99 to 200 clients / node ws",
                ratio(rec and rec.p99_ms, node and node.p99_ms), 1.5)
        return out

    def table(self) -> str:
        """The peers table with ratios to bare Tornado and to Node ws."""
        peers = self.peers
        w = max([12, *(len(p) + 2 for p in peers)])
        lines = [f"{'metric':<24}" + "".join(f"{p:>{w}}" for p in peers)]
        for label, values, higher in self.rows():
            lines.append(f"{label:<24}" + "".join(f"{_fmt(values[p]):>{w}}" for p in peers))
            for ref in (BASELINE, NODE):
                r = values.get(ref)
                if ref in peers and r:
                    lines.append(f"{'  x ' + ref + (' (higher=better)' if higher else ''):<24}"
                                 + "".join(f"{_fmt_ratio(values[p], r):>{w}}" for p in peers))
        tc = self.echo_of(BASELINE, client="tornado")
        wc = self.echo_of(BASELINE)
        if tc and wc:
            lines.append(f"clients vs bare tornado, echo 32 B p50: wslab client {wc.p50_us:.1f} us,"
                         f" tornado client {tc.p50_us:.1f} us (x{wc.p50_us / tc.p50_us:.2f})")
        for t in self.targets():
            verdict = "n/a" if t["ratio"] is None else ("met" if t["met"] else "MISSED")
            value = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
            lines.append(f"target {t['target']}: {value} (<= {t['limit']}) {verdict}")
        for peer, why in self.skipped.items():
            lines.append(f"skipped {peer}: {why}")
        lines.append(f"cores: {self.cpu_count}; python {self.python}; {self.platform}; "
                     f"{self.seconds:.0f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = {label: values for label, values, _ in self.rows()}
        d["targets"] = self.targets()
        return d

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``peers.json`` into ``out_dir``; returns its path (the PNG is drawn by
        :func:`wslab.ui.bench_plots.save_report`, in the presentation layer)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / "peers.json"
        js.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return js


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _fmt_ratio(v: float | None, ref: float) -> str:
    return "-" if v is None else f"{v / ref:.2f}"


# ---------------------------------------------------------------------------
# The wire clients: minimal WebSocket clients for pipelining (asyncio) and fan-out (epoll)


def _client_frame(payload: bytes, opcode: frames.Opcode = frames.Opcode.TEXT) -> bytes:
    return frames.encode_frame(frames.Frame(opcode, payload, mask_key=os.urandom(4)))


def _split_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete server frames at the start of ``data`` as (opcode, payload), and the rest."""
    out: list[tuple[int, bytes]] = []
    n, i = len(data), 0
    while n - i >= 2:
        b1 = data[i + 1]
        ln, h = b1 & 0x7F, 2
        if ln == 126:
            if n - i < 4:
                break
            ln, h = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif ln == 127:
            if n - i < 10:
                break
            ln, h = int.from_bytes(data[i + 2:i + 10], "big"), 10
        if b1 & 0x80:
            raise ConnectionError("the server sent a masked frame (RFC 6455 section 5.1)")
        end = i + h + ln
        if end > n:
            break
        out.append((data[i] & 0x0F, data[i + h:end]))
        i = end
    return out, data[i:]


class _Wire(asyncio.Protocol):
    """Handshake, then pre-encoded masked frames out and data frames counted in.

    It decodes only frame headers (server frames are never masked), answers
    pings and closes, and calls ``on_frame(wire, payload, t_ns)`` per data frame
    with ONE timestamp per chunk read from the socket (those frames arrived
    together).  ``on_chunk(wire)`` runs after each chunk.  Cheap on purpose: the
    same few microseconds per message for every server measured.
    """

    def __init__(self, host: str, port: int, path: str,
                 on_frame: Callable[[_Wire, bytes, int], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.target = f"ws://{host}:{port}{path}"
        self._key = handshake.make_key()
        self._request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\n\r\n").encode("ascii")
        self.on_frame = on_frame
        self.on_chunk: Callable[[_Wire], None] | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.frames_in = 0
        self._head = b""
        self._buf = b""
        self._open = False
        self._close_sent = False

    # asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self._open:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > 65536:
                    self._fail("handshake answer over 64 KiB")
                return
            head, data = self._head[:end].decode("latin-1"), self._head[end + 4:]
            self._head = b""
            lines = head.split("\r\n")
            accept = next((v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
                           if k.strip().lower() == "sec-websocket-accept"), None)
            if " 101 " not in lines[0] + " ":
                self._fail(f"answered {lines[0]!r} instead of 101")
                return
            if accept != handshake.accept_key(self._key):
                self._fail("wrong Sec-WebSocket-Accept")
                return
            self._open = True
            if not self.opened.done():
                self.opened.set_result(None)
            if not data:
                return
        self._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"{self.target}: closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    # frames -------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        t = time.perf_counter_ns()
        try:
            got, self._buf = _split_frames(self._buf + data if self._buf else data)
        except ConnectionError as exc:
            self._fail(str(exc))
            return
        on_frame = self.on_frame
        for op, payload in got:
            if op <= 2:
                self.frames_in += 1
                if on_frame is not None:
                    on_frame(self, payload, t)
            elif op == 9:
                self.write(_client_frame(payload, frames.Opcode.PONG))
            elif op == 8:
                self._send_close()
                if self.transport is not None:
                    self.transport.close()
                return
        if self.on_chunk is not None:
            self.on_chunk(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _send_close(self) -> None:
        if not self._close_sent and self.transport is not None \
                and not self.transport.is_closing():
            self._close_sent = True
            self.transport.write(frames.encode_frame(frames.Frame.close(1000,
                                                                        mask_key=os.urandom(4))))

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"{self.target}: {why}"))
        if self.transport is not None:
            self.transport.abort()

    async def aclose(self, timeout: float = 2.0) -> None:
        """Closing handshake, then drop TCP if the server has not within ``timeout``."""
        if self._open:
            self._send_close()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            pass
        if self.transport is not None and not self.closed.done():
            self.transport.abort()


def _split(url: str) -> tuple[str, int, str]:
    u = urlsplit(url)
    if u.scheme != "ws" or u.hostname is None or u.port is None:
        raise ValueError(f"the benchmark needs a ws://host:port/path URL, got {url!r}")
    return u.hostname, u.port, u.path or "/"


async def _wire_connect(url: str, on_frame: Callable[[_Wire, bytes, int], None] | None = None,
                        timeout: float = 10.0) -> _Wire:
    host, port, path = _split(url)
    loop = asyncio.get_running_loop()
    proto = _Wire(host, port, path, on_frame)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: proto, host, port), timeout)
        await asyncio.wait_for(asyncio.shield(proto.opened), timeout)
    except BaseException:
        if proto.transport is not None:
            proto.transport.abort()
        raise
    return proto


# ---------------------------------------------------------------------------
# The measurements (coroutines on the lab loop)


async def _tornado_client_rtt(url: str, n: int, size: int, warmup: int,
                              timeout: float) -> list[float]:
    """Echo round trips (s) with Tornado's own ``websocket_connect`` client, on the lab loop.

    The same loop shape as :meth:`wslab.Client.measure_rtt`: a tagged payload,
    ``perf_counter_ns`` before the write and after the reply, checked.
    """
    import tornado.websocket

    conn = await asyncio.wait_for(tornado.websocket.websocket_connect(url), timeout)
    samples: list[float] = []
    try:
        for i in range(-warmup, n):
            tag = f"{i:08d}:"
            payload = (tag + "x" * max(0, size - len(tag)))[:max(size, len(tag))]
            t0 = time.perf_counter_ns()
            conn.write_message(payload)
            reply = await asyncio.wait_for(conn.read_message(), timeout)
            t1 = time.perf_counter_ns()
            if reply != payload:
                raise ValueError(f"{url} is not an echo endpoint (answered {str(reply)[:40]!r})")
            if i >= 0:
                samples.append((t1 - t0) / 1e9)
    finally:
        conn.close(1000)
        try:
            while await asyncio.wait_for(conn.read_message(), 2) is not None:
                pass
        except asyncio.TimeoutError:
            pass
    return samples


@dataclass
class _PipeRun:
    sent: int = 0
    received: int = 0
    bad: int = 0
    t_first: int = 0
    t_last: int = 0
    latencies_ns: list[int] = field(default_factory=list)


def _pipe_frames(n: int, size: int) -> list[bytes]:
    pad = b"x" * max(0, size - 8)
    return [_client_frame(b"%08d" % i + pad) for i in range(n)]


async def _saturating(url: str, n: int, window: int, size: int, timeout: float) -> _PipeRun:
    """As fast as the server answers: ``window`` messages outstanding at all times."""
    out = [b"%08d" % i for i in range(n)]
    wire_frames = _pipe_frames(n, size)
    run = _PipeRun()
    done = asyncio.get_running_loop().create_future()

    def on_frame(w: _Wire, payload: bytes, t: int) -> None:
        k = run.received
        if k >= n:
            return
        if payload[:8] != out[k]:
            run.bad += 1
        run.received = k + 1
        run.t_last = t

    def on_chunk(w: _Wire) -> None:
        if run.received >= n:
            if not done.done():
                done.set_result(None)
            return
        hi = min(n, run.received + window)
        if hi > run.sent:
            w.write(b"".join(wire_frames[run.sent:hi]))
            run.sent = hi

    wire = await _wire_connect(url, on_frame, timeout)
    wire.on_chunk = on_chunk
    try:
        run.t_first = time.perf_counter_ns()
        run.sent = min(n, window)
        wire.write(b"".join(wire_frames[:run.sent]))
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            pass  # reported as received < sent
    finally:
        await wire.aclose()
    return run


async def _paced(url: str, n: int, window: int, size: int, rate: int,
                 timeout: float) -> _PipeRun:
    """On a fixed schedule (message i is due at t0 + i/rate), at most ``window`` outstanding.

    Latency counts from the *intended* send time (no coordinated omission).  The
    sender yields to the loop between checks instead of sleeping, because a
    timer sleep on Linux wakes up to a millisecond late.
    """
    out = [b"%08d" % i for i in range(n)]
    wire_frames = _pipe_frames(n, size)
    run = _PipeRun()
    period = 1e9 / rate
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    t0 = 0

    def on_frame(w: _Wire, payload: bytes, t: int) -> None:
        k = run.received
        if k >= n:
            return
        if payload[:8] != out[k]:
            run.bad += 1
        run.latencies_ns.append(t - (t0 + int(k * period)))
        run.received = k + 1
        run.t_last = t
        if run.received == n and not done.done():
            done.set_result(None)

    def pump(w: _Wire) -> None:
        due = min(n, int((time.perf_counter_ns() - t0) / period) + 1)
        hi = min(due, run.received + window)
        if hi > run.sent:
            w.write(b"".join(wire_frames[run.sent:hi]))
            run.sent = hi

    wire = await _wire_connect(url, on_frame, timeout)
    wire.on_chunk = pump
    deadline = time.monotonic() + timeout
    try:
        t0 = run.t_first = time.perf_counter_ns()
        while run.sent < n and time.monotonic() < deadline and not wire.closed.done():
            pump(wire)
            await asyncio.sleep(0)
        try:
            await asyncio.wait_for(done, max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            pass
    finally:
        await wire.aclose()
    return run


def _blocking_connect(url: str, timeout: float) -> tuple[Any, bytes]:
    """A plain blocking socket after a checked opening handshake; (socket, bytes after it)."""
    import socket

    host, port, path = _split(url)
    key = handshake.make_key()
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk or len(head) > 65536:
                raise ConnectionError(f"{url}: no complete handshake answer")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        accept = next((v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
                       if k.strip().lower() == "sec-websocket-accept"), None)
        if " 101 " not in lines[0] + " " or accept != handshake.accept_key(key):
            raise ConnectionError(f"{url}: answered {lines[0]!r} without a valid accept key")
    except BaseException:
        sock.close()
        raise
    return sock, rest


def _fanout_child(url: str, n: int, timeout: float, warm: bool) -> None:
    """Child-process entry: ``n`` clients on ``url``, driven by lines on stdin.

    Prints ``READY n`` once connected (and, with ``warm``, once a warm-up
    broadcast reached all of them: some servers register a client a loop turn
    after its handshake).  Then each ``rep TAG`` line makes client 0 send a
    trigger and prints ``NS COUNT``: nanoseconds from writing the trigger to the
    LAST client's receipt (-1 if incomplete within ``timeout``) and how many
    clients received it.  A raw ``epoll`` loop reads the sockets, so receiving
    costs a few microseconds per client; the timestamp is taken when ``poll``
    returns, after which that batch of receipts had already arrived.  EOF on
    stdin closes every connection (Close frame, short wait) and exits.
    """
    import select as sel

    deadline = time.monotonic() + 120
    socks, bufs = [], []
    for _ in range(n):
        sock, rest = _blocking_connect(url, max(0.5, deadline - time.monotonic()))
        socks.append(sock)
        bufs.append(rest)
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    ep = sel.epoll()
    for s in socks:
        s.setblocking(False)
        ep.register(s.fileno(), sel.EPOLLIN)
    seen = [b""] * n
    live = set(by_fd)

    def rep(tag: str, limit: float) -> tuple[int, int]:
        expect = f"bcast:{tag}:".encode().ljust(32, b".")
        count, t_last = 0, 0
        frame = _client_frame(expect)
        end = time.monotonic() + limit
        t0 = time.perf_counter_ns()
        socks[0].send(frame)
        while count < n:
            left = end - time.monotonic()
            if left <= 0:
                return -1, count
            events = ep.poll(left)
            t = time.perf_counter_ns()
            for fd, _ in events:
                i = by_fd[fd]
                try:
                    data = socks[i].recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    ep.unregister(fd)
                    live.discard(fd)
                    continue
                got, bufs[i] = _split_frames(bufs[i] + data)
                for op, payload in got:
                    if op == 9:
                        socks[i].send(_client_frame(payload, frames.Opcode.PONG))
                    elif op <= 2 and payload == expect and seen[i] != expect:
                        seen[i] = expect
                        count += 1
                        t_last = t
        return t_last - t0, count

    if warm:
        for k in range(20):
            ns, count = rep(f"warm{k}", 2.0)
            if ns >= 0:
                break
        else:
            raise ConnectionError(f"{url}: no warm-up broadcast reached all {n} clients "
                                  f"(last: {count})")
    print(f"READY {n}", flush=True)
    for line in sys.stdin:
        cmd, _, tag = line.strip().partition(" ")
        if cmd != "rep":
            break
        ns, count = rep(tag, timeout)
        print(f"{ns} {count}", flush=True)
    close = frames.encode_frame(frames.Frame.close(1000, mask_key=b"wslb"))
    for s in socks:
        try:
            s.send(close)
        except OSError:
            pass
    end = time.monotonic() + 2
    while live and time.monotonic() < end:  # wait for each server's Close and FIN
        for fd, _ in ep.poll(max(0.0, end - time.monotonic())):
            try:
                data = socks[by_fd[fd]].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                live.discard(fd)
    for s in socks:
        s.close()
    ep.close()


class _Fanout:
    """A receiver child holding N clients on one server's chat route (parent side)."""

    def __init__(self, url: str, n: int, timeout: float) -> None:
        self.n, self.timeout = n, timeout
        self.child = _py_child(f"{n} clients on {url}", "_fanout_child", url, n, timeout, True)
        try:
            line = self.child.ready_line(timeout + 120)
            if line != f"READY {n}":
                raise RuntimeError(f"fan-out clients: {line}")
        except BaseException:
            self.child.stop()
            raise

    def rep(self, tag: str) -> tuple[int | None, int]:
        """One broadcast: (ns to the last receipt or None if incomplete, receipts)."""
        assert self.child.proc.stdin is not None
        self.child.proc.stdin.write(f"rep {tag}\n".encode())
        self.child.proc.stdin.flush()
        ns, count = map(int, self.child.ready_line(self.timeout + 10).split())
        return (ns if ns >= 0 else None), count

    def close(self) -> None:
        self.child.stop(timeout=10)


# ---------------------------------------------------------------------------
# Child processes: servers and idle clients


def _read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    poller = select.poll()  # not select.select(): fds above 1023 are common here
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{what} printed nothing within {timeout} s")
        if poller.poll(left * 1000):
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{what} exited (code {proc.poll()}) before it was ready")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode().strip()


_spawned: list[int] = []  # every child process started, for BenchResults.child_pids


class _Child:
    """A child process that prints one line when ready and exits when its stdin closes."""

    def __init__(self, what: str, argv: list[str], cwd: str | None = None) -> None:
        self.what = what
        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, cwd=cwd, env=env)
        self.pid = self.proc.pid
        _spawned.append(self.pid)

    def ready_line(self, timeout: float) -> str:
        try:
            return _read_line(self.proc, timeout, self.what)
        except (TimeoutError, RuntimeError) as exc:
            self.err.seek(0)
            tail = self.err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{exc}: {' | '.join(tail)}") from None

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.proc
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout)
            except (subprocess.TimeoutExpired, OSError):
                proc.terminate()
                try:
                    proc.wait(2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()
        self.err.close()


def _py_child(what: str, fn: str, *args: Any) -> _Child:
    call = f"from wslab.labs.bench.runner import {fn}; {fn}({', '.join(map(repr, args))})"
    return _Child(what, [sys.executable, "-c", call])


def _serve_child(kind: str) -> None:
    """Child-process entry: serve /echo and /chat with ``kind``, print the port, run until
    stdin closes."""
    if kind == "wslab":
        from ...net.server import serve
        server = serve(name="bench-child")
        print(server.port, flush=True)
        sys.stdin.buffer.read()
        lab.stop_all(timeout=2)
        return
    asyncio.run(_serve_async(kind))


async def _serve_async(kind: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_stdin() -> None:
        if not os.read(0, 4096):
            loop.remove_reader(0)
            if not stop.done():
                stop.set_result(None)

    if kind == "tornado":
        import tornado.httpserver
        import tornado.netutil
        import tornado.web
        import tornado.websocket

        chat: set[tornado.websocket.WebSocketHandler] = set()

        class Echo(tornado.websocket.WebSocketHandler):
            def open(self) -> None:
                self.set_nodelay(True)

            def on_message(self, message: str | bytes) -> None:
                self.write_message(message, binary=isinstance(message, bytes))

        class Chat(tornado.websocket.WebSocketHandler):
            def open(self) -> None:
                self.set_nodelay(True)
                chat.add(self)

            def on_message(self, message: str | bytes) -> None:
                for c in list(chat):
                    c.write_message(message, binary=isinstance(message, bytes))

            def on_close(self) -> None:
                chat.discard(self)

        app = tornado.web.Application([(r"/echo", Echo), (r"/chat", Chat)])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        http = tornado.httpserver.HTTPServer(app)
        http.add_sockets(sockets)
        print(sockets[0].getsockname()[1], flush=True)
        loop.add_reader(0, on_stdin)
        await stop
        http.stop()
        await http.close_all_connections()
    elif kind == "websockets":
        from websockets.asyncio.server import broadcast, serve

        members: set[Any] = set()

        async def handler(ws: Any) -> None:
            if ws.request.path == "/chat":
                members.add(ws)
                try:
                    async for message in ws:
                        broadcast(members, message)
                finally:
                    members.discard(ws)
            else:
                async for message in ws:
                    await ws.send(message)

        server = await serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                             max_size=16 << 20)
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        loop.add_reader(0, on_stdin)
        await stop
        server.close()
        await server.wait_closed()
    else:
        raise ValueError(f"unknown server kind {kind!r}")


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` in ``/proc/PID/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS for pid {pid}")


def _raise_fd_limit(needed: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# ---------------------------------------------------------------------------
# Targets (the servers measured) and the interleaved run


@dataclass
class Target:
    """One server under test: its echo and chat URLs and the process it lives in."""

    name: str
    echo_url: str
    chat_url: str | None = None
    pid: int | None = None  # for the memory figure; os.getpid() for the in-kernel server


def _install_node(tmp: str, say: Say) -> str | None:
    """Copy the Node server into ``tmp`` and npm-install ``ws@8`` there; None or why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"{'node' if node is None else 'npm'} is not on the PATH"
    if not NODE_SCRIPT.exists():
        return f"{NODE_SCRIPT} is missing (run from a clone of the repository)"
    shutil.copy(NODE_SCRIPT, tmp)
    say(f"node-ws: npm install ws@8 into {tmp} ...")
    try:
        proc = subprocess.run([npm, "install", "ws@8", "--no-audit", "--no-fund",
                               "--loglevel=error"], cwd=tmp, capture_output=True, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        return "npm install ws@8 took over 180 s"
    if proc.returncode != 0 or not (Path(tmp) / "node_modules" / "ws").is_dir():
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines()
                 if ln.strip() and "complete log" not in ln]
        return f"npm install ws@8 failed ({proc.returncode}): {' | '.join(lines[:2]) or 'no output'}"
    return None


class _Peers:
    """Starts the requested peers; :meth:`close` stops every child and server it started."""

    def __init__(self, names: Sequence[str], say: Say) -> None:
        self.targets: list[Target] = []
        self.skipped: dict[str, str] = {}
        self.children: list[_Child] = []
        self._server: Any = None
        self._tmp: str | None = None
        unknown = [n for n in names if n not in PEERS]
        if unknown:
            raise ValueError(f"unknown peers {unknown}; choose from {list(PEERS)}")
        try:
            for name in names:
                self._start(name, say)
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, say: Say) -> None:
        if name == "wslab":
            from ...net.server import serve
            self._server = serve(name="bench")
            self.targets.append(Target(name, self._server.url, self._server.chat_url,
                                       os.getpid()))
            return
        if name == "websockets":
            try:
                import websockets.asyncio.server  # noqa: F401
            except ImportError:
                self.skipped[name] = "the websockets package is not installed (pip install websockets)"
                say(f"skipping {name}: {self.skipped[name]}")
                return
        if name == NODE:
            self._tmp = tempfile.mkdtemp(prefix="wslab-node-ws-")
            why = _install_node(self._tmp, say)
            if why is not None:
                self.skipped[name] = why
                say(f"skipping {name}: {why}")
                return
            child = _Child(name, [shutil.which("node") or "node", "node_ws_server.js", "0"],
                           cwd=self._tmp)
        else:
            kind = "wslab" if name == "wslab-process" else name
            child = _py_child(name, "_serve_child", kind)
        self.children.append(child)
        try:
            port = int(child.ready_line(60))
        except (RuntimeError, ValueError) as exc:
            self.skipped[name] = f"did not start: {exc}"
            say(f"skipping {name}: {self.skipped[name]}")
            return
        base = f"ws://127.0.0.1:{port}"
        self.targets.append(Target(name, f"{base}/echo", f"{base}/chat", child.pid))

    def close(self) -> None:
        for child in self.children:
            child.stop()
        self.children = []
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled and total > 0:
            from tqdm.auto import tqdm
            tqdm.monitor_interval = 0  # no monitor thread left behind in a kernel
            self.bar = tqdm(total=total, desc="bench", unit="step")

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description(what, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _rounds(cfg: BenchConfig, prog: _Progress, what: str, targets: Sequence[Any],
            step: Callable[[Any, int], None], notes: list[str]) -> None:
    """A B C D A B C D ...: ``step(target, round)`` for each round, within the budget."""
    start = time.monotonic()
    for r in range(cfg.rounds):
        if r and time.monotonic() - start > cfg.metric_budget:
            notes.append(f"{what}: stopped after {r} of {cfg.rounds} rounds "
                         f"(budget {cfg.metric_budget:g} s)")
            for _ in range((cfg.rounds - r) * len(targets)):
                prog.step(what)
            return
        for t in targets:
            step(t, r)
            prog.step(what)


def run_targets(targets: Sequence[Target], config: BenchConfig | None = None, *,
                progress: bool | None = None,
                client_compare: str | None = None) -> BenchResults:
    """Measure every target with every metric, interleaved (layer 2).

    ``client_compare`` names the target (bare Tornado) that Tornado's own client
    also measures, interleaved with the wslab client.
    """
    from ...net.client import connect

    cfg = config or BenchConfig()
    t_start = time.monotonic()
    res = BenchResults(cpu_count=os.cpu_count(), python=platform.python_version(),
                       platform=platform.platform(terse=True), config=asdict(cfg),
                       peers=[t.name for t in targets])
    chat_targets = [t for t in targets if t.chat_url]
    mem_targets = [t for t in targets if t.pid is not None] if cfg.memory_connections else []
    if cfg.memory_connections and not os.path.exists("/proc/self/status"):
        res.notes.append("memory: /proc is not available here; not measured")
        mem_targets = []
    # the in-kernel server holds one socket per client in this process; children inherit
    _raise_fd_limit(256 + 2 * max([cfg.memory_connections, *cfg.broadcast_clients, 0]))
    n_echo = len(targets) + (1 if client_compare else 0)
    total = (len(mem_targets) + cfg.rounds * (2 * n_echo + len(targets))
             + len(cfg.broadcast_clients) * (len(chat_targets) + cfg.broadcast_reps * len(chat_targets)))
    prog = _Progress(total, progress if progress is not None else True)
    timeout = cfg.step_timeout
    try:
        # 1. memory first, before the other metrics leave garbage in this process
        for t in mem_targets:
            res.memory.append(_memory(t, cfg.memory_connections, timeout))
            prog.step("memory")

        # 2. sequential echo, 32 B then 64 KiB, wslab client (and Tornado's client)
        clients = {t.name: connect(t.echo_url) for t in targets}
        try:
            for size, n in ((SMALL, cfg.echo_n), (BIG, cfg.echo_big_n)):
                samples: dict[tuple[str, str], list[float]] = {}
                steps: list[tuple[Target, str]] = [(t, "wslab") for t in targets]
                if client_compare:
                    i = next(i for i, t in enumerate(targets) if t.name == client_compare)
                    steps.insert(i + 1, (targets[i], "tornado"))

                def echo_step(st: tuple[Target, str], r: int, size: int = size, n: int = n,
                              samples: dict[tuple[str, str], list[float]] = samples) -> None:
                    t, who = st
                    warm = cfg.warmup if r == 0 else 5
                    if who == "wslab":
                        got = clients[t.name].measure_rtt(n=n, size=size, warmup=warm,
                                                          timeout=timeout, progress=False)
                    else:
                        got = lab.run(_tornado_client_rtt(t.echo_url, n, size, warm, timeout),
                                      timeout=timeout * 3, what="tornado client round trips")
                    samples.setdefault((t.name, who), []).extend(got)

                _rounds(cfg, prog, f"echo {size} B", steps, echo_step, res.notes)
                for (peer, who), s in samples.items():
                    us = [x * 1e6 for x in s]
                    res.echo.append(EchoRecord(peer, who, size, len(us), percentile(us, 50),
                                               percentile(us, 90), percentile(us, 99), max(us)))
        finally:
            for c in clients.values():
                c.close()

        # 3. pipelined: saturating throughput, then latency on a paced schedule
        pipes: dict[str, list[tuple[_PipeRun, _PipeRun]]] = {}

        def pipe_step(t: Target, r: int) -> None:
            sat = lab.run(_saturating(t.echo_url, cfg.pipeline_n, cfg.window, SMALL, timeout),
                          timeout=timeout + 10, what="pipelined run")
            paced = lab.run(_paced(t.echo_url, cfg.paced_n, cfg.window, SMALL, cfg.paced_rate,
                                   timeout), timeout=timeout + 10, what="paced run")
            pipes.setdefault(t.name, []).append((sat, paced))

        _rounds(cfg, prog, "pipelined", targets, pipe_step, res.notes)
        for peer, runs in pipes.items():
            rates = [s.received / ((s.t_last - s.t_first) / 1e9) for s, _ in runs
                     if s.received and s.t_last > s.t_first]
            lat = [x / 1e3 for _, p in runs for x in p.latencies_ns]
            res.throughput.append(ThroughputRecord(
                peer=peer, size=SMALL, window=cfg.window,
                sent=sum(s.sent for s, _ in runs), received=sum(s.received for s, _ in runs),
                out_of_order=sum(s.bad + p.bad for s, p in runs),
                msgs_per_s=_median(rates) or 0.0, paced_rate=cfg.paced_rate,
                paced_sent=sum(p.sent for _, p in runs),
                paced_received=sum(p.received for _, p in runs),
                paced_p50_us=percentile(lat, 50) if lat else None,
                paced_p99_us=percentile(lat, 99) if lat else None))

        # 4. broadcast fan-out: every peer holds N chat clients; reps interleaved
        for n in cfg.broadcast_clients:
            groups: dict[str, _Fanout] = {}
            times: dict[str, list[float]] = {t.name: [] for t in chat_targets}
            receipts: dict[str, int] = {t.name: 0 for t in chat_targets}
            attempts: dict[str, int] = {t.name: 0 for t in chat_targets}
            try:
                for t in chat_targets:
                    assert t.chat_url is not None
                    groups[t.name] = _Fanout(t.chat_url, n, timeout)
                    prog.step(f"connect {n}")

                def bcast_step(t: Target, r: int, groups: dict[str, _Fanout] = groups,
                               receipts: dict[str, int] = receipts,
                               times: dict[str, list[float]] = times,
                               attempts: dict[str, int] = attempts) -> None:
                    ns, got = groups[t.name].rep(str(r))
                    attempts[t.name] += 1
                    receipts[t.name] += got
                    if ns is not None:
                        times[t.name].append(ns / 1e6)

                _rounds(replace(cfg, rounds=cfg.broadcast_reps), prog, f"broadcast {n}",
                        chat_targets, bcast_step, res.notes)
            finally:
                for g in groups.values():
                    g.close()
            for t in chat_targets:
                ms = times[t.name]
                res.broadcast.append(BroadcastRecord(
                    peer=t.name, clients=n, reps=attempts[t.name], complete=len(ms),
                    received=receipts[t.name], expected=n * attempts[t.name],
                    p50_ms=percentile(ms, 50) if ms else None,
                    p99_ms=percentile(ms, 99) if ms else None,
                    max_ms=max(ms) if ms else None))
    finally:
        prog.close()
    res.seconds = time.monotonic() - t_start
    return res


def _median(xs: Sequence[float]) -> float | None:
    return percentile(xs, 50) if xs else None


def _memory(t: Target, n: int, timeout: float) -> MemoryRecord:
    """RSS of the server's process before and after ``n`` idle connections from a child."""
    assert t.pid is not None
    own = t.pid == os.getpid()
    if own:
        gc.collect()
    before = rss_kib(t.pid)
    child = _py_child("idle clients", "_fanout_child", t.echo_url, n, timeout, False)
    try:
        line = child.ready_line(timeout + 120)
        if line != f"READY {n}":
            raise RuntimeError(f"idle clients: {line}")
        time.sleep(0.5)  # let the server finish each open (events, buffers)
        if own:
            gc.collect()
        after = rss_kib(t.pid)
    finally:
        child.stop()
    return MemoryRecord(t.name, t.pid, n, before, after, (after - before) / n)


def measure(echo_url: str, chat_url: str | None = None, *, pid: int | None = None,
            config: BenchConfig | None = None, progress: bool | None = None) -> BenchResults:
    """Measure ONE server given its URLs (layer 2): echo, pipelined, broadcast, memory.

    ``chat_url`` enables the fan-out figure (every message to every client on
    it); ``pid`` enables the memory figure (the server's process id).
    """
    return run_targets([Target("server", echo_url, chat_url, pid)], config, progress=progress)


def run_peers(config: BenchConfig | None = None, *, peers: Sequence[str] = PEERS,
              progress: bool | None = None, say: Say | None = None) -> BenchResults:
    """Start the peers, measure them in one interleaved run, stop them all (layer 2).

    Peers that cannot run here (``websockets`` not installed, no ``node``/``npm``,
    ``npm install`` failed) are listed in ``results.skipped`` with the reason.
    """
    say = say or (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    first_child = len(_spawned)
    started = _Peers(peers, say)
    try:
        cmp = BASELINE if any(t.name == BASELINE for t in started.targets) else None
        res = run_targets(started.targets, config, progress=progress, client_compare=cmp)
    finally:
        started.close()
    res.peers = [p for p in peers if p not in started.skipped]
    res.skipped = dict(started.skipped)
    res.child_pids = _spawned[first_child:]  # servers, fan-out and memory clients
    res.seconds = time.monotonic() - t0
    return res
