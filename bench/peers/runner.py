"""Benchmarks: the wslab server against real peers, measured honestly.

One harness measures any WebSocket server that offers an echo route and a chat
route, given their URLs, and every server the same way: the measuring client
runs in a process of its own (:mod:`.meter`), as a browser does, whether the
server is the in-kernel one (this process) or a child process.

* **echo round trip** (:class:`EchoRecord`): one message at a time, 32 B and
  64 KiB, with the wslab :class:`~wslab.net.client.Client` (``measure_rtt``:
  ``time.perf_counter_ns`` around each round trip, warm-up first); p50/p90/p99.
  The same figure with Tornado's own client (``websocket_connect``) against the
  bare Tornado server compares the clients.
* **pipelined throughput** (:class:`ThroughputRecord`): a minimal "wire" client
  (pre-encoded masked frames, replies counted without decoding text) keeps
  ``window`` messages outstanding and reports messages/s; a second, *paced* run
  sends on a fixed schedule and times each message from its **intended** send
  time (no coordinated omission; see :mod:`.meter`).
* **broadcast fan-out** (:class:`BroadcastRecord`): N wire clients on the chat
  route, in a receiver child reading raw sockets with ``epoll`` (a few
  microseconds per client, the same for every peer).  The server broadcasts
  with its OWN broadcast call: ``server.broadcast()`` for wslab (called from
  the main thread, as a notebook cell calls it: the hop to the lab loop is
  part of the figure), ``websockets``' ``broadcast()``, Node ``ws``'s
  documented loop (``send`` to every open client), and for bare Tornado the
  loop a careful Tornado user writes (``write_message`` per client over a copy
  of the set: Tornado has no public way to encode a frame once).  The figure
  is ``perf_counter_ns()`` just before that call (in the server's process) to
  the LAST client's receipt (same ``CLOCK_MONOTONIC`` clock in every process),
  repeated ``broadcast_reps`` times.  A server known only by its URLs is timed
  from a message one client sends to ``/chat`` instead.
* **memory per connection** (:class:`MemoryRecord`): the server process's RSS
  (``VmRSS`` in ``/proc/PID/status``) before and after N idle connections held
  by a child process.

:func:`run_peers` runs every metric against several servers in ONE interleaved
run (A B C D A B C D ...), so machine noise hits all of them alike, in
``rounds`` rounds: each figure is the MEDIAN of its per-round values, with
their spread (lowest-highest), and each ratio the median of the per-round
ratios (the peers of a round ran side by side), with its spread; a ratio whose
rounds differ by more than :data:`~.records.MOVES` of its median is reported as
moving from run to run.  The peers:

* ``wslab``: :func:`wslab.serve` on the lab loop thread of *this* process, events
  recorded as by default: what a notebook gets;
* ``wslab-process``: the same server in a child process;
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
writes ``peers.json``.  Command line: ``python -m bench.peers``.

This module runs the rounds; :mod:`.records` holds the configuration and the
records, :mod:`.meter` the measuring client's process, :mod:`.wire` the
wire-level clients, :mod:`.targets` the servers and child processes.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from wslab.labs.stats import percentile

from .meter import PipeRun
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
from .targets import (
    Target,
    _Fanout,
    _Meter,
    _Peers,
    _py_child,
    _raise_fd_limit,
    _spawned,
    rss_kib,
)

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "bench" / "results"


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
    """Measure every target with every metric, interleaved, the client in its own process.

    ``client_compare`` names the target (bare Tornado) that Tornado's own client
    also measures, interleaved with the wslab client.
    """
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
    _raise_fd_limit(256 + 2 * max([cfg.memory_connections, *cfg.broadcast_clients,
                                   cfg.mixed_clients, 0]))
    n_echo = len(targets) + (1 if client_compare else 0)
    mixed_targets = [t for t in chat_targets if t.name != "wslab-process"] \
        if cfg.mixed_n else []
    total = (len(mem_targets) + cfg.rounds * (2 * n_echo + len(targets))
             + len(cfg.broadcast_clients) * len(chat_targets) * (1 + cfg.broadcast_reps)
             + (cfg.rounds * len(targets) if cfg.handshakes_n else 0)
             + cfg.mixed_rounds * len(mixed_targets))
    prog = _Progress(total, progress if progress is not None else True)
    meter: _Meter | None = None
    try:
        # 1. memory first, before the other metrics leave garbage in this process
        for t in mem_targets:
            rec = _memory(t, cfg.memory_connections, cfg.step_timeout)
            res.memory.append(rec)
            res.add_round("memory (KiB/conn)", t.name, 0, rec.kib_per_connection)
            prog.step("memory")
        meter = _Meter(cfg.step_timeout)
        run = _Run(cfg, res, prog, meter)
        run.echo(targets, client_compare)  # 2. sequential echo, 32 B then 64 KiB
        run.pipelined(targets)             # 3. saturating throughput, then paced latency
        if cfg.handshakes_n:               # 4. opening handshakes per second
            run.handshakes(targets)
        meter.close()
        meter = None
        for n in cfg.broadcast_clients:    # 5. broadcast fan-out, reps interleaved
            run.broadcast(chat_targets, n)
        if mixed_targets:                  # 6. a chatty client while broadcasts go out
            meter = _Meter(cfg.step_timeout)
            run.meter = meter
            run.mixed(mixed_targets)
            if any(t.name == "wslab-process" for t in chat_targets):
                res.notes.append("mixed load: wslab-process not measured (its broadcast "
                                 "has no path: the chatty client would get it too)")
    finally:
        if meter is not None:
            meter.close()
        prog.close()
    res.seconds = time.monotonic() - t_start
    return res


class _Run:
    """The metrics of one run after the memory figure, each interleaved over the targets."""

    def __init__(self, cfg: BenchConfig, res: BenchResults, prog: _Progress,
                 meter: _Meter) -> None:
        self.cfg, self.res, self.prog, self.meter = cfg, res, prog, meter
        self.timeout = cfg.step_timeout

    def echo(self, targets: Sequence[Target], client_compare: str | None) -> None:
        """Sequential echo, 32 B then 64 KiB, wslab client (and Tornado's client)."""
        cfg, res = self.cfg, self.res
        for size, n in ((SMALL, cfg.echo_n), (BIG, cfg.echo_big_n)):
            samples: dict[tuple[str, str], list[float]] = {}
            steps: list[tuple[Target, str]] = [(t, "wslab") for t in targets]
            if client_compare:
                i = next(i for i, t in enumerate(targets) if t.name == client_compare)
                steps.insert(i + 1, (targets[i], "tornado"))
            name = "32 B" if size == SMALL else "64 KiB"

            def echo_step(st: tuple[Target, str], r: int, size: int = size, n: int = n,
                          name: str = name,
                          samples: dict[tuple[str, str], list[float]] = samples) -> None:
                t, who = st
                got = self.meter.ask("echo", t.echo_url, self.timeout * 3 + 10, client=who,
                                     n=n, size=size, warmup=cfg.warmup if r == 0 else 5)
                samples.setdefault((t.name, who), []).extend(got)
                if who == "wslab" and got:
                    res.add_round(f"echo {name} p50 (us)", t.name, r, percentile(got, 50))
                    res.add_round(f"echo {name} p99 (us)", t.name, r, percentile(got, 99))
                elif got:
                    res.add_round(f"echo {name} p50, tornado client (us)", t.name, r,
                                  percentile(got, 50))

            _rounds(cfg, self.prog, f"echo {size} B", steps, echo_step, res.notes)
            for (peer, who), us in samples.items():
                res.echo.append(EchoRecord(peer, who, size, len(us), percentile(us, 50),
                                           percentile(us, 90), percentile(us, 99), max(us)))

    def pipelined(self, targets: Sequence[Target]) -> None:
        """Saturating throughput, then latency on a paced schedule."""
        cfg, res = self.cfg, self.res
        pipes: dict[str, list[tuple[PipeRun, PipeRun]]] = {}

        def pipe_step(t: Target, r: int) -> None:
            sat = PipeRun(**self.meter.ask("saturating", t.echo_url, self.timeout + 20,
                                           n=cfg.pipeline_n, window=cfg.window, size=SMALL))
            paced = PipeRun(**self.meter.ask("paced", t.echo_url, self.timeout + 20,
                                             n=cfg.paced_n, window=cfg.window, size=SMALL,
                                             rate=cfg.paced_rate))
            pipes.setdefault(t.name, []).append((sat, paced))
            if sat.rate is not None:
                res.add_round("pipelined (msg/s)", t.name, r, sat.rate)
            if paced.latencies_ns:
                lat = [x / 1e3 for x in paced.latencies_ns]
                res.add_round(f"paced {cfg.paced_rate}/s p50 (us)", t.name, r, percentile(lat, 50))
                res.add_round(f"paced {cfg.paced_rate}/s p99 (us)", t.name, r, percentile(lat, 99))

        _rounds(cfg, self.prog, "pipelined", targets, pipe_step, res.notes)
        for peer, runs in pipes.items():
            rates = [s.rate for s, _ in runs if s.rate is not None]
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

    def handshakes(self, targets: Sequence[Target]) -> None:
        """Opening handshakes per second (new TCP connection each), interleaved."""
        cfg, res = self.cfg, self.res

        def step(t: Target, r: int) -> None:
            got = self.meter.ask("handshakes", t.echo_url, self.timeout * 3 + 20,
                                 n=cfg.handshakes_n, workers=cfg.handshake_workers)
            if got["failed"]:
                res.notes.append(f"handshakes: {t.name} round {r}: {got['failed']} failed")
            res.add_round("handshakes (per s)", t.name, r, got["per_s"])

        _rounds(cfg, self.prog, "handshakes", targets, step, res.notes)

    def mixed(self, targets: Sequence[Target]) -> None:
        """A chatty client's echo latency (paced, from the intended send time) while
        ``mixed_clients`` chat clients get a broadcast every ``mixed_every`` s."""
        cfg, res = self.cfg, self.res
        label = (f"mixed: chatty p99, {cfg.mixed_clients} clients, broadcast every "
                 f"{cfg.mixed_every * 1e3:g} ms")

        def step(t: Target, r: int) -> None:
            assert t.chat_url is not None
            fan = _Fanout(t.chat_url, cfg.mixed_clients, self.timeout, t.broadcast)
            stop = threading.Event()
            sent = [0]

            def broadcasts() -> None:
                tick = time.monotonic()
                while not stop.is_set() and sent[0] < 10_000:
                    fan.rep(f"mix{r}-{sent[0]}", 5.0)
                    sent[0] += 1
                    tick += cfg.mixed_every
                    stop.wait(max(0.0, tick - time.monotonic()))

            thread = threading.Thread(target=broadcasts, name="bench-mixed", daemon=True)
            try:
                thread.start()
                got = PipeRun(**self.meter.ask(
                    "paced", t.echo_url, self.timeout + 20, n=cfg.mixed_n, window=cfg.window,
                    size=SMALL, rate=cfg.mixed_rate))
            finally:
                stop.set()
                thread.join(15)
                fan.close()
            if got.latencies_ns:
                res.add_round(label, t.name, r,
                              percentile([x / 1e6 for x in got.latencies_ns], 99))
            res.add_round("mixed: broadcasts made", t.name, r, float(sent[0]))

        _rounds(replace(cfg, rounds=cfg.mixed_rounds), self.prog, "mixed", targets, step,
                res.notes)

    def broadcast(self, chat_targets: Sequence[Target], n: int) -> None:
        """Every peer holds ``n`` chat clients; broadcasts timed, reps interleaved."""
        cfg, res = self.cfg, self.res
        groups: dict[str, _Fanout] = {}
        times: dict[str, list[float]] = {t.name: [] for t in chat_targets}
        receipts: dict[str, int] = {t.name: 0 for t in chat_targets}
        attempts: dict[str, int] = {t.name: 0 for t in chat_targets}
        try:
            for t in chat_targets:
                assert t.chat_url is not None
                groups[t.name] = _Fanout(t.chat_url, n, self.timeout, t.broadcast)
                self.prog.step(f"connect {n}")

            def bcast_step(t: Target, r: int) -> None:
                ns, got = groups[t.name].rep(str(r))
                attempts[t.name] += 1
                receipts[t.name] += got
                if ns is not None:
                    times[t.name].append(ns / 1e6)

            _rounds(replace(cfg, rounds=cfg.broadcast_reps), self.prog, f"broadcast {n}",
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
                max_ms=max(ms) if ms else None,
                trigger="call" if t.broadcast is not None else "relay"))
            # rounds: the reps in cfg.rounds consecutive blocks (interleaved within each)
            k = max(1, min(cfg.rounds, len(ms)))
            for r in range(k):
                block = ms[r * len(ms) // k:(r + 1) * len(ms) // k]
                if block:
                    res.add_round(f"broadcast {n} p50 (ms)", t.name, r, percentile(block, 50))
                    res.add_round(f"broadcast {n} p99 (ms)", t.name, r, percentile(block, 99))


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
            broadcast: Callable[[str], Any] | None = None,
            config: BenchConfig | None = None, progress: bool | None = None) -> BenchResults:
    """Measure ONE server given its URLs (layer 2): echo, pipelined, broadcast, memory.

    ``chat_url`` enables the fan-out figure; ``broadcast(text)``, if given, is the
    server's own broadcast call (e.g. ``server.broadcast``), timed from just before
    the call; without it a message one client sends to ``chat_url`` is timed (every
    message to every client on it).  ``pid`` enables the memory figure (the
    server's process id).
    """
    trigger = None
    if broadcast is not None:
        if not callable(broadcast):
            raise ValueError(f"broadcast is a callable such as server.broadcast, got {broadcast!r}")

        def trigger(text: str) -> int:
            t0 = time.perf_counter_ns()
            broadcast(text)
            return t0

    return run_targets([Target("server", echo_url, chat_url, pid, trigger)], config,
                       progress=progress)


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
        cfg = config or BenchConfig()
        kernel = next((t for t in started.targets if t.name == "wslab"), None)
        if kernel is not None and cfg.profile_echoes:
            from .calls import calls_per_echo
            res.calls_per_echo = calls_per_echo(kernel.echo_url, n=cfg.profile_echoes,
                                                window=cfg.window, timeout=cfg.step_timeout)
    finally:
        started.close()
    res.peers = [p for p in peers if p not in started.skipped]
    res.skipped = dict(started.skipped)
    res.child_pids = _spawned[first_child:]  # servers, fan-out and memory clients
    res.seconds = time.monotonic() - t0
    return res
