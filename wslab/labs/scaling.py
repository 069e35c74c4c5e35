"""Scaling out (notebook 11): the experiments, with real nginx, Redis and server processes.

Layer 3 (labs).

* :func:`cross_process`: a broadcast from process 0 reaches a client of process 1,
  with Redis's own ``MONITOR`` trace showing the one ``PUBLISH`` in between;
* :func:`broadcast_latency`: p50/p99 of a broadcast to 1,000 clients (in a
  separate process, :mod:`wslab.labs.fleet`) on one server process, against the
  same clients spread over two processes joined by the backplane;
* :func:`hop_costs`: what each hop costs: a round trip direct, through nginx,
  and a Redis round trip;
* :func:`idle_timeout`: nginx's ``proxy_read_timeout`` cuts a silent
  connection; a heartbeat keeps another one alive;
* :func:`rolling_restart`: numbered events keep flowing to a
  ``ReconnectingClient`` while the servers restart one after the other; every
  event is received once and in order, with a timeline to plot.

Every experiment is bounded in clients, rounds and seconds, and stops what it starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..i18n import _
from ..net import loop as lab
from ..net.children import Child, python_argv, spawn
from ..net.client import connect
from ..net.cluster import Cluster, cluster
from ..net.reconnect import ReconnectingClient
from ..net.server import serve
from ..net.services import redis as start_redis
from ..protocol.state import State
from .stats import percentile

# --- the Redis hop, made visible ------------------------------------------------------------------


@dataclass
class RedisTrace:
    """Commands Redis executed while it was watched (``MONITOR``), oldest first."""

    lines: list[str] = field(default_factory=list)

    def publishes(self) -> list[str]:
        return [line for line in self.lines if line.startswith("PUBLISH")]

    def __str__(self) -> str:
        return "\n".join(self.lines) or _("(Redis executed nothing)")


async def _amonitor(url: str, trace: RedisTrace, started: asyncio.Event,
                    stop: asyncio.Event) -> None:
    import redis.asyncio as aredis  # imported only by the scaling lab
    client = aredis.Redis.from_url(url)
    try:
        async with client.monitor() as m:
            started.set()
            while not stop.is_set():
                reader = asyncio.ensure_future(m.next_command())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if reader not in done:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                    break
                stopper.cancel()
                cmd = reader.result()
                trace.lines.append(f"{cmd['command']}  (from {cmd.get('client_address')}:"
                                   f"{cmd.get('client_port')})")
    finally:
        started.set()
        await client.aclose()


def redis_trace(url: str, action: Callable[[], Any], *,
                until: Callable[[RedisTrace], bool] | None = None,
                timeout: float = 5.0) -> RedisTrace:
    """Run ``action()`` while Redis reports every command it executes (``MONITOR``).

    Waits (at most ``timeout`` s) until ``until(trace)`` is true, by default until
    one ``PUBLISH`` was seen.  MONITOR costs Redis throughput: a lab tool only.
    """
    trace = RedisTrace()
    until = until or (lambda t: bool(t.publishes()))

    async def setup() -> tuple[asyncio.Event, asyncio.Event, asyncio.Future]:
        started, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(_amonitor(url, trace, started, stop))
        await asyncio.wait_for(started.wait(), timeout)
        return started, stop, task

    _, stop, task = lab.run(setup(), timeout=timeout + 1, what="starting MONITOR")
    try:
        action()
        deadline = time.monotonic() + timeout
        while not until(trace) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        lab.call(stop.set)
        lab.run(asyncio.wait_for(asyncio.shield(task), timeout), timeout=timeout + 1,
                what="stopping MONITOR")
    return trace


@dataclass
class CrossProcess:
    """One broadcast from process 0: who received it, when, and what Redis saw."""

    message: str
    arrivals_ms: dict[str, float]
    trace: RedisTrace

    def __str__(self) -> str:
        rows = [_("broadcast {message!r} from process 0:").format(message=self.message)]
        rows += ["  " + _("{who:<34} received it after {ms:7.3f} ms").format(who=who, ms=ms)
                 for who, ms in self.arrivals_ms.items()]
        rows.append(_("what Redis executed meanwhile (MONITOR):"))
        rows += [f"  {line[:150]}" for line in self.trace.lines] or ["  " + _("(nothing)")]
        return "\n".join(rows)


def cross_process(cl: Cluster, message: str = "hello from process 0") -> CrossProcess:
    """Clients on process 0 and process 1 (direct), a broadcast from process 0, Redis watched."""
    if len(cl.servers) < 2:
        raise ValueError("cross_process needs a cluster of at least 2 processes")
    on0, on1 = connect(cl.servers[0].url), connect(cl.servers[1].url)
    try:
        t0 = [0]
        trace = redis_trace(cl.redis_url, lambda: (t0.__setitem__(0, time.perf_counter_ns()),
                                                   cl.servers[0].broadcast(message)))
        got0, got1 = on0.recv(5), on1.recv(5)
        assert got0 == got1 == message
        # the client log stamps each message on arrival (perf_counter_ns, this process)
        t_in = {name: next(e.t_ns for e in reversed(c.log) if e.kind in ("text", "binary")
                           and e.direction == "in")
                for name, c in (("client of process 0 (local)", on0),
                                ("client of process 1 (through Redis)", on1))}
        return CrossProcess(message, {k: (v - t0[0]) / 1e6 for k, v in t_in.items()}, trace)
    finally:
        on0.stop()
        on1.stop()


# --- broadcast latency to many clients ------------------------------------------------------------


@dataclass
class LatencyRecord:
    """Broadcast latency (ms) to ``clients`` clients over ``processes`` server processes."""

    label: str
    processes: int
    clients: int
    rounds: int
    samples_ms: list[float] = field(repr=False)
    local_ms: list[float] = field(repr=False)    # clients of the sending process
    remote_ms: list[float] = field(repr=False)   # clients of the other one (through Redis)
    at: float = field(default_factory=time.monotonic, repr=False)  # when measured (monotonic)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples_ms, 99)

    def __str__(self) -> str:
        s = f"{self.label:<34} " + _("{clients} clients x {rounds} broadcasts: p50 {p50:7.3f} "
                                     "ms  p99 {p99:7.3f} ms").format(
            clients=self.clients, rounds=self.rounds, p50=self.p50_ms, p99=self.p99_ms)
        if self.remote_ms:
            s += "   " + _("(local p50 {local:.3f} ms, through Redis p50 {remote:.3f} ms)").format(
                local=percentile(self.local_ms, 50), remote=percentile(self.remote_ms, 50))
        return s


def _fleet(urls: list[str], n: int, rounds: int, timeout: float) -> Child:
    """The client process of :mod:`wslab.labs.fleet`, whose output is read line by line."""
    spec = json.dumps({"urls": urls, "n": n, "rounds": rounds, "timeout": timeout})
    return spawn(python_argv("wslab.labs.fleet", spec), what="the client process",
                 stdin=False)


def _fleet_line(fleet: Child, timeout: float) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(fleet.readline(timeout + 30))  # it has its own timeouts
    return line


def _measure(label: str, servers: list[Any], n: int, rounds: int, timeout: float) -> LatencyRecord:
    fleet = _fleet([s.url for s in servers], n, rounds, timeout)
    try:
        ready = _fleet_line(fleet, timeout)
        if ready.get("ready") != n:
            raise RuntimeError(f"the client process connected {ready} of {n}")
        for r in range(rounds):
            servers[0].broadcast(f"{r} {time.monotonic_ns()}")
            if _fleet_line(fleet, timeout).get("round") != r:
                raise RuntimeError(f"round {r} did not complete")
        result = _fleet_line(fleet, timeout)
    finally:
        fleet.stop(5, close_stdin=False)
    lat = result["latency_ns"]
    return LatencyRecord(label, len(servers), n, rounds, [ns / 1e6 for _, _, ns in lat],
                         [ns / 1e6 for i, _, ns in lat if i == 0],
                         [ns / 1e6 for i, _, ns in lat if i != 0] if len(servers) > 1 else [])


def broadcast_latency(*, clients: int = 1000, rounds: int = 20,
                      timeout: float = 60.0) -> list[LatencyRecord]:
    """One broadcast to ``clients`` clients, ``rounds`` times: one process, then two with Redis.

    The clients run in a separate process; the broadcast is timed from the
    moment this process asks the server to send it until each client has it.
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or not 2 <= clients <= 2000:
        raise ValueError(f"clients is an integer 2-2000, got {clients!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 200:
        raise ValueError(f"rounds is an integer 1-200, got {rounds!r}")
    records = []
    one = serve(name="scale-one", process=True)
    try:
        records.append(_measure("1 process", [one], clients, rounds, timeout))
    finally:
        one.stop()
    rs = start_redis()
    two = []
    try:
        two = [serve(name=f"scale-two-{i}", process=True, backplane=rs.url) for i in range(2)]
        records.append(_measure("2 processes + Redis backplane", two, clients, rounds, timeout))
    finally:
        for s in two:
            s.stop()
        rs.stop()
    return records


# --- per-hop costs --------------------------------------------------------------------------------


@dataclass
class HopCosts:
    """Median costs of each hop on this machine (ms)."""

    direct_rtt_ms: float
    nginx_rtt_ms: float
    redis_rtt_ms: float

    @property
    def nginx_hop_ms(self) -> float:
        """What nginx adds to a round trip (two passes through it)."""
        return self.nginx_rtt_ms - self.direct_rtt_ms

    def __str__(self) -> str:
        return _("echo round trip, direct to a server process : {direct:.3f} ms\n"
                 "echo round trip, through nginx              : {nginx:.3f} ms (+{hop:.3f} ms)\n"
                 "Redis round trip (PING)                     : {redis:.3f} ms").format(
            direct=self.direct_rtt_ms, nginx=self.nginx_rtt_ms, hop=self.nginx_hop_ms,
            redis=self.redis_rtt_ms)


def hop_costs(cl: Cluster, *, n: int = 300) -> HopCosts:
    """Median round trips: direct to server 0, through nginx, and to Redis."""
    direct, via = connect(cl.servers[0].url), connect(cl.url)
    try:
        d = statistics.median(direct.measure_rtt(n, progress=False)) * 1e3
        v = statistics.median(via.measure_rtt(n, progress=False)) * 1e3
    finally:
        direct.stop()
        via.stop()

    async def pings() -> list[float]:
        import redis.asyncio as aredis
        client = aredis.Redis.from_url(cl.redis_url)
        out = []
        try:
            for _ in range(n):
                t = time.perf_counter_ns()
                await client.ping()
                out.append((time.perf_counter_ns() - t) / 1e6)
        finally:
            await client.aclose()
        return out

    r = statistics.median(lab.run(pings(), timeout=30, what="Redis round trips"))
    return HopCosts(d, v, r)


# --- the proxy's idle timeout ---------------------------------------------------------------------


@dataclass
class IdleResult:
    proxy_read_timeout: float
    ping_interval: float
    silent_closed_after_s: float | None
    silent_code: int | None
    heartbeat_open_after_s: float
    heartbeat_state: str

    def __str__(self) -> str:
        cut = (_("cut after {s:.2f} s with code {code}").format(
                   s=self.silent_closed_after_s, code=self.silent_code)
               if self.silent_closed_after_s is not None else _("still open"))
        return _("nginx proxy_read_timeout {timeout:g} s\n"
                 "  silent client                    : {cut}\n"
                 "  client pinging every {every:g} s     : {state} after {after:.2f} s").format(
            timeout=self.proxy_read_timeout, cut=cut, every=self.ping_interval,
            state=self.heartbeat_state, after=self.heartbeat_open_after_s)


def idle_timeout(*, proxy_read_timeout: float = 2.0, ping_interval: float = 0.5,
                 timeout: float = 30.0) -> IdleResult:
    """Two clients through nginx: one silent, one sending a ping every ``ping_interval``."""
    if not 0 < ping_interval < proxy_read_timeout:
        raise ValueError("ping_interval must be shorter than proxy_read_timeout, or the "
                         "heartbeat cannot keep the connection alive")
    cl = cluster(1, name="scale-idle", proxy_read_timeout=proxy_read_timeout)
    silent = alive = None
    try:
        silent = connect(cl.url)
        alive = connect(cl.url, ping_interval=ping_interval, ping_timeout=proxy_read_timeout)
        t0 = time.monotonic()
        closed_after = None
        while time.monotonic() - t0 < timeout:
            if silent.state == State.CLOSED:
                closed_after = time.monotonic() - t0
                break
            time.sleep(0.01)
        # one more timeout's worth of silence for the heartbeat client
        end = time.monotonic() + proxy_read_timeout
        while time.monotonic() < end and alive.state == State.OPEN:
            time.sleep(0.02)
        return IdleResult(proxy_read_timeout, ping_interval, closed_after, silent.close_code,
                          time.monotonic() - t0, alive.state.name)
    finally:
        for c in (silent, alive):
            if c is not None:
                c.stop()
        cl.stop()


# --- a rolling restart under load -----------------------------------------------------------------


@dataclass
class RollingRestart:
    """Numbered events through restarts: what was sent, received, and when (monotonic s)."""

    sent: int
    received: list[int] = field(repr=False)
    published_at: list[float] = field(repr=False)
    received_at: list[float] = field(repr=False)
    restarts: list[tuple[float, int]] = field(repr=False)       # (t, server index)
    disconnects: list[tuple[float, int | None]] = field(repr=False)  # (t, close code)
    reconnects: list[float] = field(repr=False)
    t0: float = 0.0
    duplicates: int = 0
    lost: int = 0

    @property
    def in_order_once(self) -> bool:
        return self.received == list(range(self.sent))

    @property
    def latency_ms(self) -> list[float]:
        return [(r - p) * 1e3 for p, r in zip(self.published_at, self.received_at, strict=False)]

    def __str__(self) -> str:
        lat = self.latency_ms
        order = (_("each once and in order") if self.in_order_once
                 else _("NOT each once in order"))
        return _("{sent} events published, {received} received, {order}; {restarts} restarts, "
                 "{disconnects} disconnects (codes {codes}), duplicates dropped by the client "
                 "{duplicates}, lost {lost}; latency p50 {p50:.2f} ms, max {max:.1f} ms").format(
            sent=self.sent, received=len(self.received), order=order,
            restarts=len(self.restarts), disconnects=len(self.disconnects),
            codes=sorted({c for _at, c in self.disconnects if c is not None}),
            duplicates=self.duplicates, lost=self.lost, p50=percentile(lat, 50), max=max(lat))


def _collect(rc: ReconnectingClient, events: int, timeout: float, errors: list[BaseException],
             received: list[int], received_at: list[float]) -> None:
    """Receive until ``events`` arrived, ``timeout`` passed or a thread failed."""
    end = time.monotonic() + timeout
    while len(received) < events and time.monotonic() < end and not errors:
        try:
            received.append(rc.recv(1.0))
            received_at.append(time.monotonic())
        except TimeoutError:
            continue


def rolling_restart(cl: Cluster, *, events: int = 3000, rate: float = 500.0,
                    restart_every: float = 1.5, timeout: float = 60.0) -> RollingRestart:
    """Publish ``events`` numbered events at ``rate`` per second while the servers of ``cl``
    restart one after the other every ``restart_every`` s (1012, then back on their port)."""
    if isinstance(events, bool) or not isinstance(events, int) or not 1 <= events <= 50_000:
        raise ValueError(f"events is an integer 1-50,000, got {events!r}")
    if not 10 <= rate <= 5000:
        raise ValueError(f"rate is events per second 10-5000, got {rate!r}")
    publisher = serve(name="scale-publisher", backplane=cl.redis_url)  # not behind nginx
    rc = ReconnectingClient(cl.ack_url, initial_delay=0.05, max_delay=0.5)
    published_at = [0.0] * events
    done = threading.Event()
    errors: list[BaseException] = []
    t_start = time.monotonic()
    restarts: list[tuple[float, int]] = []

    def publish() -> None:
        try:
            start = time.monotonic()
            for i in range(events):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                published_at[i] = time.monotonic()
                publisher.ack_broadcast(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        finally:
            done.set()

    def restart() -> None:
        k = 0
        while not done.wait(restart_every):
            try:
                cl.restart(k % len(cl.servers), code=1012)
                restarts.append((time.monotonic(), k % len(cl.servers)))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
            k += 1

    received: list[int] = []
    received_at: list[float] = []
    threads = [threading.Thread(target=publish, name="wslab-scaling-publish"),
               threading.Thread(target=restart, name="wslab-scaling-restart")]
    try:
        deadline = time.monotonic() + 5
        while rc.phase != "open" and time.monotonic() < deadline:
            time.sleep(0.01)
        for t in threads:
            t.start()
        _collect(rc, events, timeout, errors, received, received_at)
    finally:
        done.set()
        for t in threads:
            t.join(timeout)
        rc.stop()
        publisher.stop()
    if errors:
        raise errors[0]
    disconnects = [(e.t, e.code) for e in rc.events if e.kind == "closed" and e.t > t_start]
    reconnects = [e.t for e in rc.events if e.kind == "open" and e.t > t_start]
    return RollingRestart(events, received, published_at[:len(received)], received_at,
                          restarts, disconnects, reconnects, t_start,
                          rc.stats.duplicate_events, rc.stats.events_lost)


def environment() -> str:
    """The programs these experiments run, and where (for the notebook's first cell)."""
    from ..net.services import find_program
    out = []
    for name, pkg in (("redis-server", "redis-server"), ("nginx", "nginx")):
        path = find_program(name, package=pkg)
        flag = "-v" if name == "nginx" else "--version"
        res = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
        out.append(f"{path}: {(res.stdout or res.stderr).strip().splitlines()[0]}")
    out.append(f"CPU cores: {os.cpu_count()}")
    return "\n".join(out)


# --- a graceful drain -----------------------------------------------------------------------------


@dataclass
class Drain:
    """Who was where before and after draining one server, and how the clients came back."""

    code: int
    before: list[int | None]
    after: list[int | None]
    close_codes: list[int | None]
    back_after_ms: list[float]          # close -> open again, per moved client (jitter)

    def __str__(self) -> str:
        back = ", ".join(f"{ms:.0f}" for ms in sorted(self.back_after_ms))
        return _("clients per server before: {before}, after draining server 0 with {code}: "
                 "{after}\n"
                 "close codes the moved clients saw: {codes}\n"
                 "reconnected after (ms, sorted; random jitter spreads them): {back}").format(
            before=self.before, code=self.code, after=self.after, codes=self.close_codes,
            back=back)


def drain(cl: Cluster, *, clients: int = 6, code: int = 1012, timeout: float = 15.0) -> Drain:
    """``clients`` ReconnectingClients through nginx; drain server 0; watch them move."""
    rcs = [ReconnectingClient(cl.ack_url, initial_delay=0.2, max_delay=2.0, jitter="full")
           for _ in range(clients)]
    try:
        end = time.monotonic() + timeout
        # a client is "open" when its 101 arrives, which can be a moment before the server
        # process has run open(): wait until the servers count them all too
        while time.monotonic() < end and (any(rc.phase != "open" for rc in rcs)
                                          or sum(n or 0 for n in cl.connections()) < clients):
            time.sleep(0.01)
        before = cl.connections()
        cl.stop_server(0, code=code)
        while time.monotonic() < end:
            now = cl.connections()
            if now[1:] and sum(n or 0 for n in now[1:]) == clients and \
                    all(rc.phase == "open" for rc in rcs):
                break
            time.sleep(0.02)
        after = cl.connections()
        codes, back = [], []
        for rc in rcs:
            closed = [e for e in rc.events if e.kind == "closed"]
            if closed:
                codes.append(closed[0].code)
                reopen = [e.t for e in rc.events if e.kind == "open" and e.t > closed[0].t]
                if reopen:
                    back.append((reopen[0] - closed[0].t) * 1e3)
        return Drain(code, before, after, codes, back)
    finally:
        for rc in rcs:
            rc.stop()
