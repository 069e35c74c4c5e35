"""``wslab.FaultProxy(target_url)``: a loopback TCP proxy that injects faults (layer 2, I/O).

Clients connect to ``proxy.url`` instead of the target; for every accepted
connection the proxy opens its own TCP connection to the target and forwards
the raw bytes both ways.  Between the two sockets sit *faults* (toxiproxy calls
them "toxics"): small transforms of one direction of the byte stream.

``upstream`` is client -> server, ``downstream`` is server -> client, ``both``
(the default) means each of the two.  Faults can be set and cleared while
connections are open; a change applies to every byte not yet forwarded.

=============  ==============================  =====================================================
fault          parameters                      what happens to the bytes
=============  ==============================  =====================================================
latency        ``ms``, ``jitter=0``            each chunk waits ``ms`` +/- ``jitter`` (uniform,
                                               never below 0) after it arrived; a chunk never
                                               overtakes an earlier one
bandwidth      ``kib_per_s``                   bytes leave no faster than ``kib_per_s`` KiB/s
blackhole      (none)                          bytes are read and discarded; TCP stays open, so
                                               only a heartbeat notices (a FIN is held back)
reset          (none)                          a connection whose bytes reach the fault is
                                               aborted with a TCP RST on both sides
limit_data     ``bytes``                       after ``bytes`` forwarded (counted from when the
                                               fault was set) the connection is closed
slicer         ``size``, ``delay_ms=0``        writes are split into ``size``-byte pieces, with
                                               ``delay_ms`` between pieces
=============  ==============================  =====================================================

``proxy.reset_all()`` aborts every open connection at once (RST via ``SO_LINGER 0``).
Everything runs on the lab loop; the methods here are the synchronous facade.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import ipaddress
import math
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..protocol.uri import host_for_url, parse_ws_uri
from . import loop as lab
from .errors import LabTimeout, ServerStartError

T = TypeVar("T")

UPSTREAM, DOWNSTREAM = "upstream", "downstream"
DIRECTIONS = (UPSTREAM, DOWNSTREAM)
DIRECTION_CHOICES = (UPSTREAM, DOWNSTREAM, "both")

READ_SIZE = 64 * 1024        # bytes read from a socket at once
MAX_QUEUED = 1024 * 1024     # bytes read but not yet forwarded, per direction and connection
PACE_SLICE_S = 0.01          # the bandwidth fault writes pieces of about 10 ms worth
CONNECT_TIMEOUT = 5.0        # seconds to reach the target for each accepted client
CLOSE_WAIT = 1.0             # seconds a graceful close may take before the socket is aborted

_REQUIRED, _NUMBER, _COUNT = object(), "number", "count"

# fault -> {param: (default or _REQUIRED, kind, minimum, minimum allowed?)}
_PARAMS: dict[str, dict[str, tuple[Any, str, float, bool]]] = {
    "latency": {"ms": (_REQUIRED, _NUMBER, 0, True), "jitter": (0, _NUMBER, 0, True)},
    "bandwidth": {"kib_per_s": (_REQUIRED, _NUMBER, 0, False)},
    "blackhole": {},
    "reset": {},
    "limit_data": {"bytes": (_REQUIRED, _COUNT, 0, True)},
    "slicer": {"size": (_REQUIRED, _COUNT, 1, True), "delay_ms": (0, _NUMBER, 0, True)},
}
FAULTS = tuple(_PARAMS)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One thing the proxy did: ``accept``, ``close``, ``reset``, ``connect-failed``,
    ``fault-set`` or ``fault-clear``.  ``t_ns`` is ``time.monotonic_ns()``."""

    t_ns: int
    kind: str
    conn: int | None = None
    direction: str = ""
    detail: str = ""

    def __str__(self) -> str:
        who = f"conn {self.conn}" if self.conn is not None else "-"
        parts = [f"{self.kind:<14} {who}"]
        if self.direction:
            parts.append(self.direction)
        if self.detail:
            parts.append(self.detail)
        return "  ".join(parts)


class _Closing(Exception):
    """Raised inside a pipe to end its connection: gracefully, or with an RST."""

    def __init__(self, reason: str, *, rst: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rst = rst


class _Notifier:
    """Wake every waiter on the lab loop when something changed."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        if not self._waiters:
            return
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float | None) -> None:
        """Return on the next notify() or after ``timeout`` seconds, whichever comes first."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.add(fut)
        handle = None
        if timeout is not None:
            handle = loop.call_later(max(0.0, timeout), _resolve, fut)
        try:
            await fut
        finally:
            self._waiters.discard(fut)
            if handle is not None:
                handle.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Abort a connection so the peer gets a TCP RST (SO_LINGER on, timeout 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # not possible on this socket: a plain abort still drops the connection
    writer.transport.abort()


class _Board:
    """What one proxy's connections share, on the lab loop: the faults in force per direction
    (with a generation count per fault, bumped each time it is set), the counters, the
    jitter's random source, and two notifiers: ``settings`` (a fault changed) and
    ``watch`` (counters or connections changed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.faults: dict[str, dict[str, dict[str, Any]]] = {d: {} for d in DIRECTIONS}
        self.gen: dict[str, dict[str, int]] = {d: dict.fromkeys(FAULTS, 0) for d in DIRECTIONS}
        self.stats: dict[str, Any] = {
            d: {"bytes": 0, "dropped": 0, "queued": 0, "writes": 0, "delayed": 0,
                "delay_min_ms": None, "delay_max_ms": None} for d in DIRECTIONS}
        self.stats.update(accepted=0, closed=0, reset=0, failed=0)
        self.settings = _Notifier()
        self.watch = _Notifier()

    def changed(self) -> None:
        """Counters or connections changed: wake whoever waits on them."""
        self.watch.notify()

    def note_delay(self, direction: str, delay_ms: float) -> None:
        """A chunk left after ``delay_ms`` of injected latency."""
        s = self.stats[direction]
        s["delayed"] += 1
        lo, hi = s["delay_min_ms"], s["delay_max_ms"]
        s["delay_min_ms"] = delay_ms if lo is None else min(lo, delay_ms)
        s["delay_max_ms"] = delay_ms if hi is None else max(hi, delay_ms)


class _Pipe:
    """One direction of one connection: a reader task queues chunks, a writer task forwards them."""

    def __init__(self, board: _Board, link: _Link, direction: str,
                 src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        self.board = board
        self.link = link
        self.direction = direction
        self.src = src
        self.dst = dst
        self.queue: collections.deque[tuple[float, bytes] | None] = collections.deque()
        self.queued = 0
        self._have = _Notifier()   # a chunk was queued
        self._space = _Notifier()  # the queue shrank
        self.next_free = 0.0       # bandwidth: when the link is free for the next piece
        self._slot: tuple[float, float, int] | None = None  # bandwidth: (due, rate, size)
        self.limit_gen = board.gen[direction]["limit_data"]
        self.limit_count = 0

    # --- reading ----------------------------------------------------------------------------
    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stats = self.board.stats[self.direction]
        while True:
            data = await self.src.read(READ_SIZE)
            if not data:
                self.queue.append(None)
                self._have.notify()
                return
            faults = self.board.faults[self.direction]
            if "reset" in faults:
                stats["dropped"] += len(data)
                raise _Closing(f"reset fault ({self.direction})", rst=True)
            if "blackhole" in faults:
                stats["dropped"] += len(data)
                self.board.changed()
                continue
            self.queue.append((loop.time(), data))
            self.queued += len(data)
            stats["queued"] += len(data)
            self._have.notify()
            self.board.changed()
            while self.queued >= MAX_QUEUED:
                await self._space.wait(None)

    def _take(self, n: int, *, forwarded: bool) -> None:
        self.queued -= n
        stats = self.board.stats[self.direction]
        stats["queued"] -= n
        if not forwarded:
            stats["dropped"] += n
        self._space.notify()

    def discard_queue(self) -> None:
        """The connection ends: every byte read and not yet forwarded is dropped."""
        if self.queued:
            self._take(self.queued, forwarded=False)
        self.queue.clear()

    # --- writing -----------------------------------------------------------------------------
    async def write_loop(self) -> None:
        while True:
            while not self.queue:
                await self._have.wait(None)
            item = self.queue.popleft()  # its bytes stay counted in self.queued until taken
            if item is None:
                await self._forward_eof()
                return
            t_arrived, data = item
            if await self._delay(t_arrived):
                await self._forward(data)
            else:
                self._take(len(data), forwarded=False)

    async def _delay(self, t_arrived: float) -> bool:
        """Wait out the latency fault (re-read while waiting); False if the chunk is dropped."""
        loop = asyncio.get_running_loop()
        unit: float | None = None  # the jitter draw, in [-1, 1], once per chunk
        while True:
            faults = self.board.faults[self.direction]
            if "reset" in faults:
                raise _Closing(f"reset fault ({self.direction})", rst=True)
            if "blackhole" in faults:
                return False
            lat = faults.get("latency")
            if lat is None:
                return True
            if unit is None and lat["jitter"]:
                unit = self.board.rng.uniform(-1.0, 1.0)
            delay_ms = max(0.0, lat["ms"] + (unit or 0.0) * lat["jitter"])
            wait = t_arrived + delay_ms / 1000 - loop.time()
            if wait <= 0:
                self.board.note_delay(self.direction, delay_ms)
                return True
            await self.board.settings.wait(wait)

    async def _forward(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        stats = self.board.stats[self.direction]
        view = memoryview(data)
        pos = 0
        while pos < len(data):
            faults = self.board.faults[self.direction]
            if "reset" in faults:
                raise _Closing(f"reset fault ({self.direction})", rst=True)
            if "blackhole" in faults:
                self._take(len(data) - pos, forwarded=False)
                return
            n = len(data) - pos
            slicer = faults.get("slicer")
            if slicer is not None:
                n = min(n, slicer["size"])
            bandwidth = faults.get("bandwidth")
            rate = bandwidth["kib_per_s"] * 1024 if bandwidth is not None else 0.0
            if rate:
                n = min(n, max(1, int(rate * PACE_SLICE_S)))
            limit = faults.get("limit_data")
            if limit is not None:
                gen = self.board.gen[self.direction]["limit_data"]
                if gen != self.limit_gen:  # set (again) since this connection counted
                    self.limit_gen, self.limit_count = gen, 0
                left = limit["bytes"] - self.limit_count
                if left <= 0:
                    raise _Closing(f"limit_data: {limit['bytes']} bytes {self.direction}",
                                   rst=False)
                n = min(n, left)
            if rate:
                # Pacing: a piece leaves when its last byte would have crossed a link of
                # this rate, so N bytes take at least N / rate seconds.
                now = loop.time()
                if self._slot is None or self._slot[1:] != (rate, n):
                    # A wake-up less than two pieces late is the loop's lag (a busy machine),
                    # not an idle link: the next piece follows the last one as on a wire, so
                    # a long transfer keeps the rate; a longer gap is idle time, never credit.
                    busy = now - self.next_free < 2 * PACE_SLICE_S
                    start = self.next_free if busy else now
                    self._slot = (start + n / rate, rate, n)
                if now < self._slot[0]:
                    await self.board.settings.wait(self._slot[0] - now)
                    continue  # settings may have changed meanwhile
                self.next_free, self._slot = self._slot[0], None
            else:
                self.next_free, self._slot = 0.0, None
            self.dst.write(view[pos:pos + n])
            pos += n
            self._take(n, forwarded=True)
            stats["bytes"] += n
            stats["writes"] += 1
            self.limit_count += n
            await self.dst.drain()
            self.board.changed()
            if limit is not None and self.limit_count >= limit["bytes"]:
                raise _Closing(f"limit_data: {limit['bytes']} bytes {self.direction}", rst=False)
            if slicer is not None and pos < len(data):
                if slicer["delay_ms"]:
                    await asyncio.sleep(slicer["delay_ms"] / 1000)
                else:
                    await asyncio.sleep(0)  # let the receiver read each piece on its own

    async def _forward_eof(self) -> None:
        # A blackhole forwards nothing, not even a FIN: hold it until the blackhole is cleared.
        while "blackhole" in self.board.faults[self.direction]:
            await self.board.settings.wait(None)
        try:
            if self.dst.can_write_eof():
                self.dst.write_eof()
        except (OSError, RuntimeError):
            pass


class _Link:
    """One proxied connection: the client's socket, the target's socket, two pipes."""

    def __init__(self, cid: int, peer: Any) -> None:
        self.id = cid
        self.peer = peer
        self.writers: list[asyncio.StreamWriter] = []
        self.pipes: list[_Pipe] = []
        self.runner: asyncio.Task[Any] | None = None
        self.abort_reason: str | None = None  # set when reset_all/stop cancels the runner
        self.abort_rst = False


def _check_value(fault: str, name: str, value: Any) -> float | int:
    _, kind, minimum, inclusive = _PARAMS[fault][name]
    if kind == _COUNT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        what = f"an integer >= {minimum}"
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value))
        what = f"a number {'>=' if inclusive else '>'} {minimum}"
    if ok:
        ok = value >= minimum if inclusive else value > minimum
    if not ok:
        raise ValueError(f"{fault} {name} must be {what}, got {value!r}")
    return value


def _check_fault(fault: Any) -> str:
    if fault not in _PARAMS:
        raise ValueError(f"unknown fault {fault!r}; known faults: {', '.join(FAULTS)}")
    return fault


def _check_direction(direction: Any) -> tuple[str, ...]:
    if direction not in DIRECTION_CHOICES:
        raise ValueError(f"direction must be one of {', '.join(map(repr, DIRECTION_CHOICES))} "
                         f"(upstream = client->server, downstream = server->client), "
                         f"got {direction!r}")
    return DIRECTIONS if direction == "both" else (direction,)


def _parse_target(target_url: str) -> tuple[str, int, str, str]:
    """``(host, port, scheme, path)`` of ``ws://host:port/path``, ``http://...`` or
    ``host:port``."""
    if not isinstance(target_url, str) or not target_url:
        raise ValueError(f"target_url is a URL such as 'ws://127.0.0.1:8888/echo' or "
                         f"'127.0.0.1:8888', got {target_url!r}")
    bare = "://" not in target_url
    if bare and not target_url.rpartition("]")[2].rpartition(":")[2].isdigit():
        raise ValueError(f"target_url needs a host and a port, e.g. 'ws://127.0.0.1:8888/echo' "
                         f"or '127.0.0.1:8888', got {target_url!r}")
    try:
        uri = parse_ws_uri("ws://" + target_url if bare else target_url,
                           schemes=("ws", "wss", "http", "https"))
    except ValueError as exc:
        raise ValueError(f"target_url: {exc} (the proxy forwards raw TCP to ws, wss, http or "
                         "https URLs, or host:port)") from None
    return uri.host, uri.port, uri.scheme, "" if bare else uri.resource


def _check_host(host: Any) -> str:
    ok = False
    if isinstance(host, str):
        try:
            ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"the fault proxy listens on loopback only: host is '127.0.0.1', "
                         f"'::1' or 'localhost', got {host!r}")
    return host


class FaultProxy:
    """A fault-injecting TCP proxy in front of ``target_url`` (layer 2, I/O).  See the module doc.

    ``proxy.set(fault, direction="both", **params)`` switches a fault on (or changes it),
    ``proxy.clear(fault=None, direction="both")`` switches it off, both live.
    ``seed`` (an int or a ``random.Random``) makes the jitter reproducible.
    """

    _stop_order = 1  # after clients (0), before servers (2)

    def __init__(self, target_url: str, *, host: str = "127.0.0.1", port: int = 0,
                 seed: int | random.Random | None = None, events_max: int = 1000,
                 timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        self.target_host, self.target_port, self._scheme, self._path = _parse_target(target_url)
        self.target_url = target_url
        self.host = _check_host(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port is an integer 0-65535 (0 = any free port), got {port!r}")
        if isinstance(events_max, bool) or not isinstance(events_max, int) or events_max < 1:
            raise ValueError(f"events_max is a positive integer, got {events_max!r}")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout is a number of seconds > 0, got {timeout!r}")
        self.timeout = float(timeout)
        self._board = _Board(seed if isinstance(seed, random.Random) else random.Random(seed))
        self._faults = self._board.faults
        self._gen = self._board.gen
        self._stats = self._board.stats
        self._events: collections.deque[FaultEvent] = collections.deque(maxlen=events_max)
        self._links: dict[int, _Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next = 1
        self._server: asyncio.base_events.Server | None = None
        self._settings = self._board.settings  # fault settings changed
        self._watch = self._board.watch        # stats or connections changed (for wait_until)
        self.port = lab.run(self._astart(port), timeout=self.timeout,
                            what="starting the fault proxy")
        lab.register(self)

    # --- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The target URL with the proxy's host and port (path kept): connect here."""
        return f"{self._scheme}://{host_for_url(self.host)}:{self.port}{self._path or '/'}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # --- facade helper ------------------------------------------------------------------------
    def _on_loop(self, fn: Callable[..., T], *args: Any, what: str) -> T:
        """Run ``fn`` on the lab loop (directly when already there); wait at most ``timeout``."""
        return lab.call(fn, *args, timeout=self.timeout, what=what)

    # --- faults ---------------------------------------------------------------------------------
    def set(self, fault: str, *, direction: str = "both", **params: Any) -> None:
        """Switch ``fault`` on in ``direction`` with ``params`` (replacing earlier params).

        ``set("latency", ms=50, jitter=5)``, ``set("bandwidth", kib_per_s=64)``,
        ``set("blackhole")``, ``set("reset")``, ``set("limit_data", bytes=1000)``,
        ``set("slicer", size=1, delay_ms=0)``.  Applies at once to bytes not yet forwarded.
        """
        _check_fault(fault)
        dirs = _check_direction(direction)
        spec = _PARAMS[fault]
        unknown = sorted(set(params) - set(spec))
        if unknown:
            allowed = ", ".join(spec) if spec else "none"
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {fault}; "
                             f"allowed: {allowed}")
        values: dict[str, Any] = {}
        for name, (default, *_rest) in spec.items():
            if name in params:
                values[name] = _check_value(fault, name, params[name])
            elif default is _REQUIRED:
                raise ValueError(f"{fault} needs {name}=... (parameters: {', '.join(spec)})")
            else:
                values[name] = default
        self._on_loop(self._set_now, fault, dirs, values, direction, what=f"setting {fault}")

    def _set_now(self, fault: str, dirs: tuple[str, ...], values: dict[str, Any],
                 direction: str) -> None:
        for d in dirs:
            self._faults[d][fault] = dict(values)
            self._gen[d][fault] += 1
        detail = " ".join(f"{k}={v}" for k, v in values.items())
        self._record("fault-set", None, direction, f"{fault} {detail}".strip())
        self._settings.notify()
        self._changed()

    def clear(self, fault: str | None = None, *, direction: str = "both") -> None:
        """Switch ``fault`` (or every fault, for None) off in ``direction``."""
        if fault is not None:
            _check_fault(fault)
        dirs = _check_direction(direction)
        self._on_loop(self._clear_now, fault, dirs, direction, what="clearing faults")

    def _clear_now(self, fault: str | None, dirs: tuple[str, ...], direction: str) -> None:
        cleared: list[str] = []
        for d in dirs:
            names = [fault] if fault is not None else list(self._faults[d])
            for name in names:
                if self._faults[d].pop(name, None) is not None and name not in cleared:
                    cleared.append(name)
        if cleared:
            self._record("fault-clear", None, direction, " ".join(cleared))
            self._settings.notify()
            self._changed()

    @property
    def faults(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The faults now set: ``{"upstream": {"latency": {"ms": 50, "jitter": 5}}, ...}``."""
        return self._on_loop(copy.deepcopy, self._faults, what="reading faults")

    # --- observing --------------------------------------------------------------------------------
    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy."""
        return self._on_loop(len, self._links, what="counting connections")

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: per direction ``bytes`` forwarded, ``dropped``, ``queued`` (read, not yet
        forwarded), ``writes``, ``delayed`` chunks and the latency applied (``delay_min_ms``,
        ``delay_max_ms``); and ``accepted``, ``closed``, ``reset``, ``failed`` connections."""
        return self._on_loop(copy.deepcopy, self._stats, what="reading stats")

    @property
    def events(self) -> list[FaultEvent]:
        """The newest ``events_max`` events, oldest first."""
        return self._on_loop(list, self._events, what="reading events")

    def wait_until(self, predicate: Callable[[FaultProxy], bool], *,
                   timeout: float = 5.0) -> None:
        """Wait until ``predicate(proxy)`` is true (re-checked on the lab loop after every change).

        Raises ``TimeoutError`` when it is still false after ``timeout`` seconds.
        """
        lab.run(self._await(predicate, timeout), timeout=timeout + self.timeout,
                what="waiting on the fault proxy")

    async def _await(self, predicate: Callable[[FaultProxy], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            left = deadline - loop.time()
            if left <= 0:
                raise LabTimeout(f"the fault proxy condition was still false after {timeout} s "
                                 f"(connections {len(self._links)})")
            await self._watch.wait(left)

    def _record(self, kind: str, conn: int | None, direction: str = "", detail: str = "") -> None:
        self._events.append(FaultEvent(time.monotonic_ns(), kind, conn, direction, detail))

    def _changed(self) -> None:
        self._board.changed()

    # --- start / accept ---------------------------------------------------------------------------
    async def _astart(self, port: int) -> int:
        try:
            self._server = await asyncio.start_server(self._accept, self.host, port)
        except OSError as exc:
            raise ServerStartError(f"the fault proxy cannot listen on {self.host}:{port}: "
                                   f"{exc.strerror or exc}") from None
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        # The connection runs in a task of its own, so reset_all()/stop() can cancel it
        # (asyncio's own callback task must not end cancelled: Python 3.11 logs an error).
        if self._server is None:  # stopping
            _rst(c_writer)
            return
        cid = self._next
        self._next += 1
        link = _Link(cid, c_writer.get_extra_info("peername"))
        link.writers.append(c_writer)
        self._links[cid] = link
        self._stats["accepted"] += 1
        self._record("accept", cid, detail=f"from {link.peer}")
        self._changed()
        task = asyncio.get_running_loop().create_task(self._run_link(link, c_reader, c_writer),
                                                      name=f"wslab-fault-proxy-{self.port}-{cid}")
        link.runner = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._runner_done(t, link))

    def _runner_done(self, task: asyncio.Task[Any], link: _Link) -> None:
        self._tasks.discard(task)
        if self._links.get(link.id) is link:  # cancelled before it ran: nothing cleaned up yet
            for w in link.writers:
                if link.abort_rst:
                    _rst(w)
                else:
                    w.transport.abort()
            self._links.pop(link.id, None)
            self._stats["reset" if link.abort_rst else "closed"] += 1
            self._record("reset" if link.abort_rst else "close", link.id,
                         detail=link.abort_reason or "proxy stopped")
            self._changed()

    async def _run_link(self, link: _Link, c_reader: asyncio.StreamReader,
                        c_writer: asyncio.StreamWriter) -> None:
        tasks: list[asyncio.Task[Any]] = []
        reason, rst = "closed", False
        try:
            try:
                s_reader, s_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.target_host, self.target_port), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                self._stats["failed"] += 1
                reason = (f"connect-failed: {self.target_host}:{self.target_port}: "
                          f"{exc.strerror if isinstance(exc, OSError) else 'timeout'}")
                return
            link.writers.append(s_writer)
            link.pipes = [_Pipe(self._board, link, UPSTREAM, c_reader, s_writer),
                          _Pipe(self._board, link, DOWNSTREAM, s_reader, c_writer)]
            self._changed()
            loop = asyncio.get_running_loop()
            for pipe in link.pipes:
                for part, coro in (("read", pipe.read_loop()), ("write", pipe.write_loop())):
                    tasks.append(loop.create_task(
                        coro,
                        name=f"wslab-fault-proxy-{self.port}-{link.id}-{pipe.direction}-{part}"))
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in tasks:
                err = None if not t.done() or t.cancelled() else t.exception()
                if isinstance(err, _Closing):
                    reason, rst = err.reason, err.rst
                    break
                if err is not None:
                    reason = f"{type(err).__name__}: {err}"
        except asyncio.CancelledError:
            reason, rst = link.abort_reason or "proxy stopped", link.abort_rst
            raise
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            for pipe in link.pipes:
                pipe.discard_queue()
            await self._close_link(link, reason, rst)

    async def _close_link(self, link: _Link, reason: str, rst: bool) -> None:
        if rst:
            for w in link.writers:
                _rst(w)
        else:
            for w in link.writers:
                w.close()
            for w in link.writers:
                try:
                    await asyncio.wait_for(w.wait_closed(), CLOSE_WAIT)
                except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
                    w.transport.abort()
        if self._links.pop(link.id, None) is not None:
            if rst:
                kind = "reset"
            elif reason.startswith("connect-failed"):
                kind, reason = "connect-failed", reason.split(": ", 1)[1]
            else:
                kind = "close"
            if kind != "connect-failed":
                self._stats["closed" if kind == "close" else "reset"] += 1
            self._record(kind, link.id, detail=reason)
        self._changed()

    # --- reset / stop -----------------------------------------------------------------------------
    def reset_all(self) -> int:
        """Abort every open connection now with a TCP RST on both sides; returns how many.

        From a cell this returns once every connection is gone (``connections == 0``);
        on the lab loop itself the sockets are reset at once and cleaned up just after.
        """
        if lab.in_lab_thread():
            return len(self._abort_now("reset_all", True))
        return lab.run(self._abort_links("reset_all", True), timeout=self.timeout,
                       what="resetting connections")

    def _abort_now(self, reason: str, rst: bool) -> list[asyncio.Task[Any]]:
        links = list(self._links.values())
        for link in links:
            link.abort_reason, link.abort_rst = reason, rst
            if rst:
                for w in link.writers:
                    _rst(w)  # at once, before any other byte can pass
            if link.runner is not None:
                link.runner.cancel()
        return [link.runner for link in links if link.runner is not None]

    async def _abort_links(self, reason: str, rst: bool) -> int:
        runners = self._abort_now(reason, rst)
        if runners:
            await asyncio.gather(*runners, return_exceptions=True)
        return len(runners)

    async def _astop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # no new connections
        await self._abort_links("proxy stopped", False)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_WAIT)
            except asyncio.TimeoutError:
                pass
        self._settings.notify()
        self._changed()

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop listening and close every connection through the proxy.  Safe to call twice."""
        if self._server is not None or self._tasks:
            if lab.in_lab_thread():
                lab.spawn(self._astop())
            else:
                lab.run(self._astop(), timeout=timeout or self.timeout,
                        what="stopping the fault proxy")
        lab.unregister(self)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        active = {d: sorted(f) for d, f in self._faults.items() if f}
        return (f"<FaultProxy {state} {self.url} -> {self.target_host}:{self.target_port} "
                f"faults={active or 'none'} connections={len(self._links)}>")


