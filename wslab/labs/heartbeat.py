"""Experiments for notebook 05: how fast does a heartbeat notice a dead connection? (layer 3, labs)

A client talks to the server through a :class:`~wslab.net.faults.FaultProxy`;
at a random moment the proxy starts *blackholing*: the TCP connection stays
open but nothing arrives any more, the half-open connection that TCP alone
does not notice for minutes.  The client's keepalive (a ping every
``interval``, a pong expected within ``timeout``) notices; the time from the
failure to that decision is the detection time.  With fixed-interval pings the
worst case is one interval (the failure just after a pong) plus the timeout.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..net import loop as lab
from ..net.client import connect
from ..net.faults import FaultProxy
from ..net.server import serve
from ..protocol.errors import WSLabError

SLACK = 0.10  # the bound allows 10 % on top of interval + timeout


@dataclass(frozen=True)
class DetectionRecord:
    interval: float
    timeout: float
    trial: int
    detection_s: float | None  # None: not detected within the wait
    close_code: int | None
    close_reason: str
    # from the unanswered ping leaving to the decision: the full timeout, always.  detection_s
    # can be a little shorter when the failure starts while that ping is in flight.
    ping_wait_s: float | None = None

    @property
    def bound_s(self) -> float:
        return (self.interval + self.timeout) * (1 + SLACK)

    @property
    def within_bound(self) -> bool:
        return self.detection_s is not None and self.detection_s <= self.bound_s


def detection_experiment(settings: list[tuple[float, float]] = ((0.2, 0.2), (0.5, 0.2), (0.2, 0.5)),
                         *, trials: int = 3, seed: int = 0) -> list[DetectionRecord]:
    """For each (interval, timeout): blackhole at a random moment, time the detection.

    Bounded: at most 20 trials per setting, settings up to 10 s each.
    """
    if not isinstance(trials, int) or not 1 <= trials <= 20:
        raise ValueError(f"trials is an integer 1-20, got {trials!r}")
    for interval, timeout in settings:
        if not (0 < interval <= 10 and 0 < timeout <= 10):
            raise ValueError("interval and timeout are seconds in (0, 10], "
                             f"got {(interval, timeout)}")
    rng = random.Random(seed)
    records = []
    server = serve(name="heartbeat-lab")
    proxy = FaultProxy(server.url)
    try:
        for interval, timeout in settings:
            for trial in range(trials):
                client = connect(proxy.url, ping_interval=interval, ping_timeout=timeout)
                try:
                    time.sleep(rng.uniform(0.05, 0.05 + interval))  # fail at a random phase
                    proxy.set("blackhole")
                    t_fail = time.monotonic()
                    deadline = t_fail + 2 * (interval + timeout) + 2
                    while client.keepalive.timed_out_at is None and time.monotonic() < deadline:
                        time.sleep(0.002)
                    ka = client.keepalive
                    records.append(DetectionRecord(
                        interval, timeout, trial,
                        None if ka.timed_out_at is None else ka.timed_out_at - t_fail,
                        client.close_code, client.close_reason or "",
                        None if ka.timed_out_at is None or ka.unanswered_ping_at is None
                        else ka.timed_out_at - ka.unanswered_ping_at))
                finally:
                    proxy.clear()
                    client.stop()
                    proxy.reset_all()
    finally:
        proxy.stop()
        server.stop()
    return records


# --- a heartbeat loop under test (notebook 05's exercise) ----------------------------------

@dataclass
class LoopTrial:
    """What a heartbeat loop did, healthy and then blackholed (times in seconds).

    Everything here is read from the client's own log (what left and arrived, and
    when), never from the loop's code: a check states only what was measured.
    """

    interval: float
    timeout: float
    healthy_s: float = 0.0            # how long the connection was healthy
    pings_healthy: int = 0            # pings the loop sent while healthy
    rtts: list[float] = field(default_factory=list)  # answered pings while healthy
    gaps: list[float] = field(default_factory=list)  # between consecutive pings while healthy
    closed_healthy: str | None = None  # a Close sent while healthy (code and reason)
    detection_s: float | None = None   # blackhole start -> the loop's Close frame
    close_sent: str | None = None      # "code reason" of that Close
    # from the last unanswered ping before the Close to the Close: how long the loop waited
    # for the missing pong (the timeout, if it waited `timeout`)
    pong_wait_s: float | None = None
    # pings sent after the blackhole began (or in flight when it began) that got no pong
    unanswered: int = 0
    # no Close: how long the newest unanswered ping had waited when the watch ended
    pending_s: float | None = None
    loop_error: BaseException | None = None
    error_in_cleanup: bool = False     # the error came once the trial cut the connection
    loop_returned: bool = False
    loop_running: bool = False         # still running when the trial ended
    returned_unclosed: bool = False    # returned after the blackhole without sending a Close


def _client_log(client, kind: str, since_ns: int) -> list:  # noqa: ANN001
    return [e for e in list(client.log) if e.direction == "out" and e.kind == kind
            and e.t_ns >= since_ns]


def _pong_times(client) -> dict[bytes, int]:  # noqa: ANN001
    return {bytes(e.data): e.t_ns for e in list(client.log)
            if e.direction == "in" and e.kind == "pong"}


def _healthy_part(trial: LoopTrial, client, start: int, t_fail: int) -> None:  # noqa: ANN001
    """Pings, their gaps and round trips, and any Close, from ``start`` to ``t_fail``."""
    trial.healthy_s = (t_fail - start) / 1e9
    pings = _client_log(client, "ping", start)
    sent = [e.t_ns for e in pings if e.t_ns <= t_fail]
    trial.pings_healthy = len(sent)
    trial.gaps = [(b - a) / 1e9 for a, b in zip(sent, sent[1:], strict=False)]
    pongs = _pong_times(client)
    trial.rtts = [(pongs[bytes(e.data)] - e.t_ns) / 1e9 for e in pings
                  if bytes(e.data) in pongs and e.t_ns <= t_fail]
    early = [e for e in _client_log(client, "close", start) if e.t_ns <= t_fail]
    if early:
        trial.closed_healthy = str(early[0].data)


def _blackholed_part(trial: LoopTrial, client, start: int, t_fail: int,  # noqa: ANN001
                     now: int) -> None:
    """The pings that got no pong and how long the loop waited for the last one."""
    pongs = _pong_times(client)
    closes = _client_log(client, "close", t_fail)
    close_t = closes[0].t_ns if closes else None
    # every ping of the healthy part was answered (else the check stopped there); a ping
    # still in flight when the blackhole began loses its pong too
    missing = [e.t_ns for e in _client_log(client, "ping", start)
               if bytes(e.data) not in pongs and e.t_ns <= (close_t or now)]
    trial.unanswered = len(missing)
    if close_t is not None:
        if missing:
            trial.pong_wait_s = (close_t - missing[-1]) / 1e9
    elif missing:
        trial.pending_s = (now - missing[-1]) / 1e9


def heartbeat_trial(loop: Callable[..., object], *, interval: float, timeout: float,
                    healthy_periods: float = 3.5, seed: int | None = None) -> LoopTrial:
    """Run ``loop(client, interval, timeout)`` in a thread on a client behind a FaultProxy.

    The connection is healthy for ``healthy_periods`` intervals plus a random
    phase, then the proxy blackholes it.  Recorded from the client's own log:
    the pings sent, the pongs' round trips, when the loop's Close frame left
    (the detection time) and how long after the unanswered ping (the wait for
    the missing pong).  Bounded: waits at most 2 x (interval + timeout) + 2 s
    after the blackhole.  Stops what it starts (a loop that never returns is
    reported, its thread left as a daemon).
    """
    for name, value in (("interval", interval), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 5:
            raise ValueError(f"{name} is a number of seconds 0.05-5, got {value!r}")
    rng = random.Random(seed)
    trial = LoopTrial(float(interval), float(timeout))
    server = serve(name="heartbeat-trial")
    proxy = FaultProxy(server.url)
    client = connect(proxy.url)
    done = threading.Event()
    cleaning = threading.Event()

    def run() -> None:
        try:
            loop(client, interval, timeout)
            trial.loop_returned = True
        except BaseException as exc:  # noqa: BLE001 - reported to the learner
            trial.loop_error = exc
            trial.error_in_cleanup = cleaning.is_set()
        finally:
            done.set()

    thread = threading.Thread(target=run, name="heartbeat-under-test", daemon=True)
    try:
        start = time.perf_counter_ns()
        thread.start()
        healthy_until = time.monotonic() + interval * healthy_periods + rng.uniform(0, interval)
        while time.monotonic() < healthy_until and not done.is_set():
            time.sleep(0.01)
        t_fail = time.perf_counter_ns()
        _healthy_part(trial, client, start, t_fail)
        if trial.closed_healthy is not None or done.is_set():
            return trial
        proxy.set("blackhole")
        deadline = time.monotonic() + 2 * (interval + timeout) + 2
        while time.monotonic() < deadline:
            closes = _client_log(client, "close", t_fail)
            if closes:
                trial.detection_s = (closes[0].t_ns - t_fail) / 1e9
                trial.close_sent = str(closes[0].data)
                break
            if done.is_set():
                break
            time.sleep(0.005)
        if trial.close_sent is not None:
            done.wait(interval + timeout + 2)  # let the loop finish its close (or go on)
        _blackholed_part(trial, client, start, t_fail, time.perf_counter_ns())
        trial.returned_unclosed = done.is_set() and trial.close_sent is None
    finally:
        cleaning.set()
        proxy.clear()
        proxy.reset_all()
        client.stop(timeout=2)
        done.wait(2)  # a loop blocked in ping() or recv() ends once the connection is gone
        trial.loop_running = not done.is_set()
        proxy.stop()
        server.stop()
    return trial


# --- fixed-interval pings or pings when idle (notebook 05) ----------------------------------

@dataclass(frozen=True)
class PingModes:
    """Pings sent by two clients during the same busy stretch of traffic."""

    interval: float
    seconds: float           # how long the traffic lasted
    messages: int            # echoes each client exchanged in that time
    fixed_pings: int         # ping_mode="fixed": a ping every interval, whatever happens
    idle_pings: int          # ping_mode="idle": a ping only after `interval` without data
    started_at: float        # time.monotonic() when the traffic began


def ping_modes_demo(url: str, *, interval: float = 0.2, messages: int = 60,
                    pause: float = 0.015) -> PingModes:
    """Two clients of the echo server at ``url`` exchange ``messages`` echoes, one every
    ``pause`` seconds; count the pings each one's keepalive sent meanwhile.

    ``ping_mode`` is wslab's own option: "fixed" pings every ``interval`` as the
    websockets library does; "idle" pings only after ``interval`` with nothing
    received, as aiohttp does.  Bounded: at most 1,000 messages.
    """
    if not isinstance(messages, int) or not 1 <= messages <= 1000:
        raise ValueError(f"messages is an integer 1-1,000, got {messages!r}")
    clients = {mode: connect(url, ping_interval=interval, ping_timeout=1, ping_mode=mode)
               for mode in ("fixed", "idle")}
    try:
        started = time.monotonic()
        for i in range(messages):
            for c in clients.values():
                c.send(str(i))
                c.recv(timeout=5)
            time.sleep(pause)
        seconds = time.monotonic() - started
        return PingModes(interval, seconds, messages, clients["fixed"].keepalive.pings_sent,
                         clients["idle"].keepalive.pings_sent, started)
    finally:
        for c in clients.values():
            c.stop()


# --- a live client for the FaultPanel ----------------------------------------------------

class LiveProbe:
    """A client that pings through a proxy twice a second and says what it sees.

    ``status`` is one line for a label ("OPEN, pong in 0.31 ms", "no pong within
    1 s: dead", "reconnecting: ..."); ``on_change(status)`` is called from the
    probe's thread on every change.  After a missed pong it closes with 1011 (as
    notebook 05 teaches) and connects again a second later, so clearing a fault
    brings it back.  Registered with the lab loop: ``wslab.stop_all()`` stops it.
    """

    _stop_order = 0  # before the proxy and the server

    def __init__(self, url: str, *, every: float = 0.5, timeout: float = 1.0,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.url, self.every, self.timeout = url, every, timeout
        self.on_change = on_change
        self.status = "starting"
        self.answered = 0
        self.missed = 0
        self.connects = 0
        self.last_rtt: float | None = None
        self._stop = threading.Event()
        self._client = None
        self._thread = threading.Thread(target=self._run, name="wslab-live-probe", daemon=True)
        lab.register(self)
        self._thread.start()

    def _say(self, status: str) -> None:
        self.status = status
        if self.on_change is not None:
            try:
                self.on_change(status)
            except Exception:  # noqa: BLE001 - a broken label must not stop the probe
                self.on_change = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._client = connect(self.url, timeout=self.timeout)
            except (WSLabError, OSError) as exc:
                self._say(f"cannot connect ({getattr(exc, 'cause', exc)}); retrying in 1 s")
                self._stop.wait(1.0)
                continue
            self.connects += 1
            self._session(self._client)
            self._stop.wait(1.0)

    def _session(self, client) -> None:  # noqa: ANN001
        while not self._stop.is_set():
            try:
                self.last_rtt = client.ping(timeout=self.timeout)
            except TimeoutError:
                self.missed += 1
                self._say(f"no pong within {self.timeout:g} s: connection declared dead, "
                          "closing with 1011, reconnecting in 1 s")
                try:
                    client.close(1011, "keepalive timeout", timeout=0.2)
                except WSLabError:
                    pass
                return
            except WSLabError:
                self._say(f"{client.state.name} {client.close_code} {client.close_reason or ''}"
                          .rstrip() + ": reconnecting in 1 s")
                return
            self.answered += 1
            self._say(f"OPEN, pong in {self.last_rtt * 1e3:.2f} ms")
            self._stop.wait(self.every)

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        client = self._client
        if client is not None:
            client.stop(timeout=min(timeout, 1.0))
        self._thread.join(timeout)
        lab.unregister(self)
        self._say("stopped")
