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

from ..net import loop as lab
from ..net.client import connect
from ..net.faults import FaultProxy
from ..net.server import serve


def cold_start(url: str, *, n: int = 60) -> list[float]:
    """Round trips of the first ``n`` messages on a brand-new connection (no warm-up)."""
    with connect(url) as c:
        return c.measure_rtt(n=n, warmup=0)


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
            lambda: log.record_message(1, "in", "text", 5, "hello"), number=100_000,
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


@dataclass
class StallTrial:
    """A paced latency loop run through a network stall, and the truth about it.

    ``truth_s[i]`` is when reply ``i`` arrived minus when message ``i`` was due
    (``start + i * interval``, ``start`` when the first message left): what a
    user sending on schedule would have waited.  ``reported_s`` is what the loop under test
    returned.
    """

    n: int
    interval_s: float
    stall_s: float
    reported_s: list[float]
    truth_s: list[float]
    early_s: float  # how far the earliest message left before its due time (0: never early)
    error: BaseException | None = None


def stall_trial(loop, *, n: int = 200, interval: float = 0.005, stall: float = 0.2,  # noqa: ANN001
                stall_at: float = 0.3) -> StallTrial:
    """Run ``loop(client, n, interval)`` (it returns one latency per message, in seconds)
    on a client behind a FaultProxy that holds every reply for ``stall`` seconds once,
    ``stall_at`` of the way through the run.  The truth comes from the client's own log
    (perf_counter_ns of each reply) and the schedule ``start + i * interval``.
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
    try:
        client.measure_rtt(n=20, warmup=5)  # a warm connection, as in the other cells
        since = time.perf_counter_ns()
        start = time.perf_counter()
        hold = n * interval * stall_at
        timers = [threading.Timer(hold, proxy.set, ("latency",),
                                  {"ms": HOLD_MS, "direction": "downstream"}),
                  threading.Timer(hold + stall, proxy.clear, ("latency",))]
        for t in timers:
            t.start()
        try:
            reported = list(loop(client, n, interval))
        except BaseException as exc:  # noqa: BLE001 - the loop under test: reported
            error = exc
        log = list(client.log)
        texts = [e for e in log if e.kind == "text" and e.t_ns >= since]
        sent = [e.t_ns for e in texts if e.direction == "out"]
        got = [e.t_ns for e in texts if e.direction == "in"]
        if sent:
            # The schedule: start + i * interval, anchored on the first ten messages (the one
            # that left least late).  Anchoring on the first alone would put the whole schedule
            # late when that one message waited for a busy machine, and the rest "early".
            start = min(s / 1e9 - i * interval for i, s in enumerate(sent[:10]))
        truth = [g / 1e9 - (start + i * interval) for i, g in enumerate(got[:n])]
        early = max([0.0] + [(start + i * interval) - s / 1e9 for i, s in enumerate(sent[:n])])
    finally:
        for t in timers:
            t.cancel()
        proxy.stop()
        client.stop()
        server.stop()
    return StallTrial(n, interval, stall, reported, truth, early, error)

