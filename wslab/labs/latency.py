"""Experiments for notebook 10, the latency lab (layer 3, labs).

Each function measures something on real loopback sockets and returns plain
numbers for the plots in :mod:`wslab.ui.plots`.  All are bounded in count and
time and stop what they start.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import timeit
from dataclasses import dataclass
from typing import Any

from ..i18n import _
from ..net import loop as lab
from ..net.client import connect
from ..net.faults import FaultProxy
from ..net.server import serve


@dataclass(frozen=True)
class ColdPath:
    """One fresh server process: its first handshake and round trips, and later ones."""

    start_s: float                 # serve(process=True) until it listens
    first_connect_s: float         # the first opening handshake the process ever served
    later_connect_s: list[float]   # handshakes of the next connections
    first_rtt_s: list[float]       # round trips on the first connection, from message 1
    later_rtt_s: list[float]       # round trips on the last connection, from message 1

    def row(self) -> tuple[float, float, float, float]:
        """(first handshake, median later handshake, first round trip of the first
        connection, first round trip of the last connection), in ms: the same steps, in a
        cold process and in the same process warm."""
        return (self.first_connect_s * 1e3, statistics.median(self.later_connect_s) * 1e3,
                self.first_rtt_s[0] * 1e3, self.later_rtt_s[0] * 1e3)

    def __str__(self) -> str:
        hs, hs2, rtt, rtt2 = self.row()
        return _("handshake {hs:.2f} ms then {hs2:.2f} ms; first round trip {rtt:.2f} ms "
                 "then {rtt2:.2f} ms; started in {start:.0f} ms").format(
                     hs=hs, hs2=hs2, rtt=rtt, rtt2=rtt2, start=self.start_s * 1e3)


def cold_path(*, processes: int = 3, n: int = 30, later: int = 3) -> list[ColdPath]:
    """Start ``processes`` fresh server processes one after the other; on each, time the
    first handshake and the first ``n`` round trips, then ``later`` more connections and
    the round trips of the last one.  A fresh process runs its code for the first time
    (lazy imports, empty caches, the adaptive interpreter not yet specialised): what a
    benchmark started right after a deploy or a restart measures.  This kernel's client
    is already warm, so the difference is the server's."""
    if not 1 <= processes <= 10 or not 5 <= n <= 1000 or not 1 <= later <= 20:
        raise ValueError("processes 1-10, n 5-1000, later 1-20")
    out = []
    for k in range(processes):
        t0 = time.perf_counter()
        server = serve(name=f"cold-path-{k}", process=True)
        try:
            started = time.perf_counter() - t0
            t0 = time.perf_counter()
            with connect(server.url) as c:
                first = time.perf_counter() - t0
                first_rtt = c.measure_rtt(n=n, warmup=0)
            handshakes, rtts = [], []
            for _ in range(later):
                t0 = time.perf_counter()
                with connect(server.url) as c:
                    handshakes.append(time.perf_counter() - t0)
                    rtts = c.measure_rtt(n=n, warmup=0)
        finally:
            server.stop()
        out.append(ColdPath(started, first, handshakes, first_rtt, rtts))
    return out


def cold_summary(runs: list[ColdPath]) -> str:
    """A table: per fresh process, its first handshake and first round trip against the
    same steps on a later connection (ms, and how many times slower the first was); the
    medians; then the steady state (the median round trip of the later connections)."""
    med = statistics.median
    rows = [(str(k), *r.row()) for k, r in enumerate(runs, 1)]
    rows.append(("median", *(med(r[i] for r in rows) for i in range(1, 5))))
    lines = ["fresh     handshake (ms)          first round trip (ms)",
             "process   first   later  ratio    first   later  ratio"]
    for name, hs, hs2, rtt, rtt2 in rows:
        lines.append(f"{name:<8}{hs:7.2f} {hs2:7.2f} {hs / hs2:5.1f}x  {rtt:7.2f} {rtt2:7.2f} "
                     f"{rtt / rtt2:5.1f}x")
    steady = med(med(r.later_rtt_s) for r in runs) * 1e3
    lines.append(_("steady state: a median round trip of {ms:.2f} ms").format(ms=steady))
    return "\n".join(lines)


def tcp_vs_websocket(*, n: int = 500) -> dict[str, float]:
    """Median round trip (ms) of a plain TCP echo and of a WebSocket echo, same loop, same
    machine: the difference is the WebSocket layers (framing, masking, Python objects)."""
    async def tcp_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    async def tcp_rtt() -> list[float]:
        srv = await asyncio.start_server(tcp_echo, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        out = []
        for i in range(n + 20):
            t = time.perf_counter_ns()
            w.write(b"x" * 32)
            await r.readexactly(32)
            if i >= 20:
                out.append((time.perf_counter_ns() - t) / 1e9)
        w.close()
        srv.close()
        await srv.wait_closed()
        return out

    tcp = lab.run(tcp_rtt(), timeout=60)
    server = serve(name="latency-lab-ws")
    try:
        with connect(server.url) as c:
            ws = c.measure_rtt(n=n, warmup=20)
    finally:
        server.stop()
    return {"TCP echo (asyncio streams)": statistics.median(tcp) * 1e3,
            "WebSocket echo (wslab)": statistics.median(ws) * 1e3}


def measuring_costs() -> dict[str, float]:
    """What measuring itself costs, in microseconds per call."""
    from ..net.events import EventLog
    log = EventLog(1000)
    return {
        "time.perf_counter_ns()": min(timeit.repeat(time.perf_counter_ns, number=100_000,
                                                    repeat=5)) / 100_000 * 1e6,
        "time.monotonic_ns()": min(timeit.repeat(time.monotonic_ns, number=100_000,
                                                 repeat=5)) / 100_000 * 1e6,
        "recording one server event": min(timeit.repeat(
            lambda: log.record_message(1, "in", "hello"), number=100_000,
            repeat=5)) / 100_000 * 1e6,
    }


@dataclass(frozen=True)
class OmissionResult:
    """One paced run seen two ways: from the actual send time and from the intended one."""

    interval_s: float
    stall_s: float
    naive_s: list[float]     # reply time - actual send time
    intended_s: list[float]  # reply time - the time the message *should* have been sent


def coordinated_omission(*, n: int = 400, interval: float = 0.002, stall: float = 0.1,
                         stall_at: int = 150) -> OmissionResult:
    """A client paced at one message per ``interval``; the server stalls once for ``stall``.

    A closed-loop client waits for each reply before sending the next, so during the
    stall it sends nothing and its naive latency log holds ONE slow sample: the stall
    is "coordinated" away.  Measuring from the intended send time counts every message
    that should have gone out during the stall.
    """
    if not 10 <= n <= 10_000 or not 0 < interval <= 0.1 or not 0 <= stall <= 2:
        raise ValueError("n 10-10000, interval in (0, 0.1] s, stall in [0, 2] s")
    server = serve(name="omission")
    count = {"n": 0}

    @server.on_message
    def stalling_echo(conn, message) -> None:  # noqa: ANN001
        count["n"] += 1
        if count["n"] == stall_at:
            time.sleep(stall)  # a pause of the whole server (GC, a slow handler, a VM hiccup)
        conn.send(message)

    async def run(client) -> tuple[list[float], list[float]]:  # noqa: ANN001
        naive, intended = [], []
        start = time.perf_counter()
        for i in range(n):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            await client.asend("m")
            await client.arecv(5)
            got = time.perf_counter()
            naive.append(got - sent)
            intended.append(got - due)
        return naive, intended

    try:
        with connect(server.url) as c:
            naive, intended = lab.run(run(c), timeout=n * interval + stall + 30)
    finally:
        server.stop()
    return OmissionResult(interval, stall, naive, intended)


def injected_latency(*, delays_ms: tuple[float, ...] = (0, 1, 5, 20), n: int = 30
                     ) -> dict[float, list[float]]:
    """Round trips through the FaultProxy with ``latency`` set both ways, per delay."""
    server = serve(name="latency-lab-proxy")
    proxy = FaultProxy(server.url)
    out = {}
    try:
        with connect(proxy.url) as c:
            for ms in delays_ms:
                if ms:
                    proxy.set("latency", ms=ms)
                else:
                    proxy.clear()
                out[ms] = c.measure_rtt(n=n, warmup=3)
    finally:
        proxy.stop()
        server.stop()
    return out


def bandwidth_sizes(*, kib_per_s: float = 1024, sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
                    n: int = 5) -> dict[int, list[float]]:
    """Round trips of growing payloads through a proxy capped at ``kib_per_s`` each way."""
    server = serve(name="latency-lab-bw")
    proxy = FaultProxy(server.url)
    proxy.set("bandwidth", kib_per_s=kib_per_s)
    out = {}
    try:
        with connect(proxy.url) as c:
            for size in sizes:
                out[size] = c.measure_rtt(n=n, size=size, warmup=1, timeout=30)
    finally:
        proxy.stop()
        server.stop()
    return out


HOLD_MS = 60_000.0  # "hold every reply": a latency far longer than any stall, cleared early
STAMPS_MAX = 100_000  # sends/receives a TimedClient keeps (a loop under test may run away)


class TimedClient:
    """The client a loop under test is given: the real one, plus the time of each
    ``send()`` call and of each ``recv()`` return, taken in the loop's own thread.

    A reply reaches the lab loop first and the loop's thread a little later (the
    thread hop); stamping here puts that hop in the truth too, so a loop that measures
    from the actual send time can never report more than the truth.  Every other
    attribute is the real client's.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent_ns: list[int] = []
        self.got_ns: list[int] = []

    def send(self, message: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if len(self.sent_ns) < STAMPS_MAX:
            self.sent_ns.append(time.perf_counter_ns())
        return self.client.send(message, *args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        message = self.client.recv(*args, **kwargs)
        if len(self.got_ns) < STAMPS_MAX:
            self.got_ns.append(time.perf_counter_ns())
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@dataclass
class StallTrial:
    """A paced latency loop run through a network stall, and the truth about it.

    ``truth_s[i]`` is when the loop had reply ``i`` (``recv()`` returned in its own
    thread) minus when message ``i`` was due (``start + i * interval``): what a user
    sending on schedule would have waited.  ``start`` is the schedule the sends kept
    best (the least late of them all), so a message that left on time counts from
    the moment it left.  ``reported_s`` is what the loop under test returned.
    """

    n: int
    interval_s: float
    stall_s: float
    reported_s: list[float]
    truth_s: list[float]
    early_s: float  # how far the earliest message left before its due time (0: never early)
    error: BaseException | None = None


def _schedule(sent_s: list[float], interval: float) -> tuple[float, float]:
    """(start of the schedule for the truth, how early the earliest message left).

    Early is judged against the first ten sends (a loop that does not pace drifts
    ahead of them); the truth's start is the least late send of the whole run, so no
    message of a paced loop counts as sent before it was due."""
    first = min(s - i * interval for i, s in enumerate(sent_s[:10]))
    early = max([0.0] + [(first + i * interval) - s for i, s in enumerate(sent_s)])
    return min(s - i * interval for i, s in enumerate(sent_s)), early


def stall_trial(loop, *, n: int = 200, interval: float = 0.005, stall: float = 0.2,  # noqa: ANN001
                stall_at: float = 0.3) -> StallTrial:
    """Run ``loop(client, n, interval)`` (it returns one latency per message, in seconds)
    on a client behind a FaultProxy that holds every reply for ``stall`` seconds once,
    ``stall_at`` of the way through the run.  The loop gets a :class:`TimedClient`; the
    truth comes from its stamps and the schedule ``start + i * interval``.
    """
    if not isinstance(n, int) or not 20 <= n <= 5000:
        raise ValueError(f"n is an integer 20-5000, got {n!r}")
    if not 0.001 <= interval <= 0.1 or not 0.01 <= stall <= 2 or not 0 < stall_at < 1:
        raise ValueError("interval 0.001-0.1 s, stall 0.01-2 s, stall_at in (0, 1)")
    server = serve(name="latency-lab-stall")
    proxy = FaultProxy(server.url)
    client = connect(proxy.url)
    reported: list[float] = []
    error = None
    timers: list[threading.Timer] = []
    truth: list[float] = []
    early = 0.0
    try:
        client.measure_rtt(n=20, warmup=5)  # a warm connection, as in the other cells
        timed = TimedClient(client)
        hold = n * interval * stall_at
        timers = [threading.Timer(hold, proxy.set, ("latency",),
                                  {"ms": HOLD_MS, "direction": "downstream"}),
                  threading.Timer(hold + stall, proxy.clear, ("latency",))]
        for t in timers:
            t.start()
        try:
            reported = list(loop(timed, n, interval))
        except BaseException as exc:  # noqa: BLE001 - the loop under test: reported
            error = exc
        sent = [s / 1e9 for s in timed.sent_ns[:n]]
        if sent:
            start, early = _schedule(sent, interval)
            truth = [g / 1e9 - (start + i * interval) for i, g in enumerate(timed.got_ns[:n])]
    finally:
        for t in timers:
            t.cancel()
        proxy.stop()
        client.stop()
        server.stop()
    return StallTrial(n, interval, stall, reported, truth, early, error)
