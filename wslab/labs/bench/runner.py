"""Benchmarks: the wslab server against real peers, measured honestly (layer 3, labs).

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
  the package taken from ``.cache/node`` where ``.ci/run`` installs it; nothing
  is installed at run time: without ``node`` or the package the peer is skipped
  and the report says why.

Every loop is bounded in count AND time (per-step timeouts, a time budget per
metric); long runs show ``tqdm.auto`` progress bars, updated between steps and
never inside a timed span.  Results are dataclass records; :meth:`BenchResults.save`
writes ``peers.json`` and ``peers.png``.  Command line: ``python -m wslab bench``.

This module runs the rounds; :mod:`.records` holds the configuration and the
records, :mod:`.wire` the wire-level clients, :mod:`.targets` the servers and
child processes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ...net import loop as lab
from ..stats import percentile
from .records import (
    BASELINE,
    BIG,
    PEERS,
    SMALL,
    BenchConfig,
    BenchResults,
    BroadcastRecord,
    EchoRecord,
    MemoryRecord,
    Say,
    ThroughputRecord,
)
from .targets import Target, _Fanout, _Peers, _py_child, _raise_fd_limit, _spawned, rss_kib
from .wire import _client_frame, _Wire, _wire_connect

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "bench" / "results"


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

    def take(self, payload: bytes, out: list[bytes], t: int) -> int:
        """Count one echo (checking its tag against ``out``); its index, or -1 past the end."""
        k = self.received
        if k >= len(out):
            return -1
        if payload[:8] != out[k]:
            self.bad += 1
        self.received = k + 1
        self.t_last = t
        return k

    def send_up_to(self, w: _Wire, wire_frames: list[bytes], hi: int) -> None:
        """Write the pre-encoded frames up to (not including) number ``hi``."""
        if hi > self.sent:
            w.write(b"".join(wire_frames[self.sent:hi]))
            self.sent = hi


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
        run.take(payload, out, t)

    def on_chunk(w: _Wire) -> None:
        if run.received >= n:
            if not done.done():
                done.set_result(None)
            return
        run.send_up_to(w, wire_frames, min(n, run.received + window))

    wire = await _wire_connect(url, on_frame, timeout)
    wire.on_chunk = on_chunk
    try:
        run.t_first = time.perf_counter_ns()
        run.send_up_to(wire, wire_frames, min(n, window))
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
        k = run.take(payload, out, t)
        if k < 0:
            return
        run.latencies_ns.append(t - (t0 + int(k * period)))
        if run.received == n and not done.done():
            done.set_result(None)

    def pump(w: _Wire) -> None:
        due = min(n, int((time.perf_counter_ns() - t0) / period) + 1)
        run.send_up_to(w, wire_frames, min(due, run.received + window))

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
    child = _py_child("idle clients", "wire", "_fanout_child", t.echo_url, n, timeout, False)
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

    Peers that cannot run here (``websockets`` not installed, no ``node`` or no
    ``ws`` package in ``.cache/node``) are listed in ``results.skipped`` with the
    reason.
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
