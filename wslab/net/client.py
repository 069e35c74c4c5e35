"""The lab client: :func:`connect` and :class:`Client` (layer 2, I/O).

A WebSocket client on the lab loop with a blocking facade for ordinary cells
and widget handlers.  Tornado makes the connection and sends; frames are
received by :class:`~wslab.net.server.strict.StrictProtocol` in the client
role, i.e. by the sans-I/O :class:`~wslab.protocol.receiver.Receiver`: a
masked frame from the server, a bad close code or invalid UTF-8 fails the
connection with the code RFC 6455 names, exactly as the server would.
``state`` follows the browser API's ``readyState`` (CONNECTING, OPEN,
CLOSING, CLOSED) and is the receiver's, walked through
:data:`wslab.protocol.state.TRANSITIONS`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import tornado.httpclient
import tornado.httputil
import tornado.iostream
import tornado.websocket

from ..protocol import state as st
from ..protocol.closecodes import check_close_args
from ..protocol.receiver import Role
from ..protocol.state import ConnectionStateMachine, State
from ..protocol.uri import parse_ws_uri
from . import loop as lab
from .errors import ConnectionClosed, ConnectionFailed, LabTimeout
from .events import clip, payload_size, preview
from .keepalive import Keepalive
from .server.strict import StrictProtocol
from .tls import client_context

RECV_QUEUE_MAX = 10_000
LOG_MAX = 10_000


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One message or control frame a client sent (``out``) or received (``in``)."""

    t_ns: int
    direction: str
    kind: str
    size: int
    data: Any = None

    def __str__(self) -> str:
        if self.kind == "state":
            return f"* state {self.data.name}"
        arrow = {"out": ">", "in": "<"}.get(self.direction, "*")
        if self.kind in ("ping", "pong"):
            arrow = "%"
        return f"{arrow} {self.kind} [{self.size} bytes] {preview(self.data)}"


class _TornadoClient(tornado.websocket.WebSocketClientConnection):
    """Tornado's client connection, receiving through :class:`StrictProtocol` (client role)
    that walks ``machine``; pings, pongs and violations go to the given callables."""

    def __init__(self, request: tornado.httpclient.HTTPRequest, *,
                 machine: ConnectionStateMachine, on_ping: Callable[[bytes], None],
                 on_pong: Callable[[bytes], None],
                 on_violation: Callable[[int, str], None], **kwargs: Any) -> None:
        self.lab_machine = machine
        self.lab_on_ping, self.lab_on_pong, self.lab_on_violation = on_ping, on_pong, on_violation
        self.lab_protocol: StrictProtocol | None = None  # kept: Tornado forgets it on close()
        super().__init__(request, **kwargs)

    def get_websocket_protocol(self) -> StrictProtocol:
        proto = StrictProtocol(self, True, self.params, role=Role.CLIENT,
                               machine=self.lab_machine)
        self.lab_protocol = proto
        return proto

    def on_pong(self, data: bytes) -> None:
        self.lab_on_pong(data)

    def on_ping(self, data: bytes) -> None:
        self.lab_on_ping(data)

    def on_protocol_violation(self, code: int, reason: str) -> None:
        """StrictProtocol is failing the connection: the server broke a rule (RFC 6455 7.1.7)."""
        self.lab_on_violation(code, reason)


class Client:
    """A WebSocket client usable from blocking cells (layer 2).  Create it with :func:`connect`."""

    _stop_order = 0

    def __init__(self, url: str, *, subprotocols: Iterable[str] = (),
                 headers: Mapping[str, str] | None = None, origin: str | None = None,
                 compression: bool = False, max_message_size: int | None = None,
                 ping_interval: float | None = None, ping_timeout: float | None = None,
                 ping_mode: str = "fixed", ca_file: str | None = None) -> None:
        self.uri = parse_ws_uri(url)  # ValueError naming what is wrong (RFC 6455 section 3)
        self.url = url
        self.subprotocols = [str(s) for s in subprotocols]
        self.headers = dict(headers or {})
        if origin is not None:
            self.headers["Origin"] = origin
        self.compression = compression
        self.max_message_size = max_message_size
        self.ca_file = ca_file
        self.keepalive: Keepalive | None = None
        if ping_interval is not None or ping_timeout is not None:
            self.keepalive = Keepalive(
                ping=self._aping, is_open=self._is_open,
                on_timeout=self._note_keepalive_timeout, abort=self._akeepalive_abort,
                interval=ping_interval if ping_interval is not None else 20.0,
                timeout=ping_timeout if ping_timeout is not None else 20.0, mode=ping_mode)
        # the transitions taken, from the RFC table; walked by the receiver once connected
        self.machine = ConnectionStateMachine(on_transition=self._on_transition)
        self.violation: tuple[int, str] | None = None  # (code, reason) if the server broke a rule
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.subprotocol: str | None = None
        self.log: collections.deque[LogEntry] = collections.deque(maxlen=LOG_MAX)
        self.dropped = 0  # received messages dropped because nobody called recv()
        self._conn: _TornadoClient | None = None
        self._queue: collections.deque[str | bytes] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Event | None = None
        self._pings: dict[bytes, tuple[int, asyncio.Future[float]]] = {}
        self._ping_counter = 0
        self._listeners: list[Callable[[LogEntry], None]] = []
        self._app_pings: dict[int, asyncio.Future[float]] = {}

    # --- opening ---------------------------------------------------------------
    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (RFC 6455 4, 7; the browser's readyState)."""
        return self.machine.state

    def _is_open(self) -> bool:
        return self.machine.state == State.OPEN

    async def aconnect(self, timeout: float = 5.0) -> None:
        """Open the connection (on the lab loop); raises :class:`ConnectionFailed`."""
        self._closed = asyncio.Event()
        request = tornado.httpclient.HTTPRequest(
            self.url, headers=tornado.httputil.HTTPHeaders(self.headers), connect_timeout=timeout,
            request_timeout=timeout,
            ssl_options=client_context(self.ca_file) if self.uri.secure else None)
        kwargs: dict[str, Any] = {
            "on_message_callback": self._on_message,
            "subprotocols": self.subprotocols or None,
            "compression_options": {} if self.compression else None,
        }
        if self.max_message_size is not None:
            kwargs["max_message_size"] = self.max_message_size
        conn = _TornadoClient(request, machine=self.machine, on_ping=self._got_ping,
                              on_pong=self._got_pong, on_violation=self._on_violation, **kwargs)
        try:
            await asyncio.wait_for(asyncio.ensure_future(conn.connect_future), timeout)
        except Exception as exc:  # noqa: BLE001 - translated into one clear error
            if self.machine.state == State.CONNECTING:
                self.machine.handle(st.HANDSHAKE_FAILED)
            else:  # the 101 came just as the wait ended: let the connection go
                conn.close(1001, "connect timed out")
            self._closed.set()
            raise _connect_error(self.url, exc, timeout) from None
        self._conn = conn
        self.subprotocol = conn.selected_subprotocol
        if self.keepalive is not None:
            self.keepalive.start()

    # --- listeners (lab loop) ----------------------------------------------------------
    def subscribe(self, fn: Callable[[LogEntry], None]) -> Callable[[LogEntry], None]:
        """Call ``fn(entry)`` on the lab loop for every log entry and state change."""
        self._listeners.append(fn)
        return fn

    def unsubscribe(self, fn: Callable[[LogEntry], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _note(self, entry: LogEntry) -> None:
        self.log.append(entry)
        for fn in list(self._listeners):
            try:
                fn(entry)
            except Exception:  # noqa: BLE001 - a broken panel must not break the client
                self.unsubscribe(fn)

    def _on_transition(self, row: st.Transition) -> None:
        """Every step of the state table (RFC 6455 sections 4 and 7) is logged."""
        if row.target != row.source:
            self._note(LogEntry(time.perf_counter_ns(), "", "state", 0, row.target))

    def _on_violation(self, code: int, reason: str) -> None:
        """The server broke a receiving rule: we fail the connection with ``code``."""
        self.violation = (code, reason)
        now = time.perf_counter_ns()
        self._note(LogEntry(now, "", "error", 0, f"the server broke a rule: {reason}"))
        self._note(LogEntry(now, "out", "close", 2 + len(reason.encode()), f"{code} {reason}"))

    @property
    def transitions(self) -> list[st.Transition]:
        """The rows of the state table this connection went through, in order."""
        return list(self.machine.history)

    # --- receiving (lab loop) -----------------------------------------------------
    def _on_message(self, message: str | bytes | None) -> None:
        if message is None:
            self._on_closed()
            return
        if self.keepalive is not None:
            self.keepalive.received()
        self._note(LogEntry(time.perf_counter_ns(), "in",
                                 "binary" if isinstance(message, bytes) else "text",
                                 payload_size(message), clip(message)))
        if (self._app_pings and isinstance(message, str)
                and message.startswith('{"type": "pong"') and self._app_pong(message)):
            return
        if len(self._queue) >= RECV_QUEUE_MAX:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _on_closed(self) -> None:
        conn = self._conn
        if conn is not None and self.close_code is None:
            if conn.close_code is not None:
                self.close_code, self.close_reason = conn.close_code, conn.close_reason or ""
            elif self.violation is not None:  # no Close frame received: 1006 (RFC 6455 7.1.5)
                code, reason = self.violation
                self.close_code = 1006
                self.close_reason = f"we failed the connection with {code}: {reason}"
            else:
                self.close_code, self.close_reason = 1006, conn.close_reason or ""
        if conn is not None:
            # The TCP connection is gone; Tornado warns "Unclosed WebSocketClientConnection"
            # at garbage collection unless its protocol is released.
            conn.protocol = None
            proto = conn.lab_protocol
            if proto is not None and self.state != State.CLOSED:
                proto.receiver.connection_lost()  # the receiver walks the table to CLOSED
        self._note(LogEntry(time.perf_counter_ns(), "in", "close", 0,
                            f"{self.close_code} {self.close_reason}".strip()))
        if self.keepalive is not None:
            self.keepalive.cancel()
        lab.unregister(self)
        for _, fut in self._pings.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed("connection closed before the pong",
                                                   code=self.close_code))
        self._pings.clear()
        if self._closed is not None:
            self._closed.set()
        self._wake()

    @property
    def latency_samples(self) -> list[float]:
        """Round trips (s) of the keepalive pings answered so far."""
        return [s.rtt for s in self.keepalive.samples] if self.keepalive else []

    def _note_keepalive_timeout(self, reason: str) -> None:
        self._note(LogEntry(time.perf_counter_ns(), "", "error", 0, reason))

    async def _akeepalive_abort(self, why: str) -> None:
        wait = self.keepalive.close_timeout if self.keepalive is not None else 1.0
        await self._aabort_after_close(1011, "keepalive timeout", wait, why)

    async def _aabort_after_close(self, code: int, reason: str, wait: float, why: str) -> None:
        """Fail the connection: Close frame, short wait, then drop TCP (RFC 6455 7.1.1)."""
        if self.state != State.OPEN or self._conn is None:
            return
        self.close_code, self.close_reason = 1006, why
        proto = self._conn.lab_protocol
        await self._aclose(code, reason, wait)
        if self.state != State.CLOSED:
            if proto is not None:
                if proto.state == State.CLOSING:
                    proto.receiver.close_timeout()  # our Close was never answered
                proto.abort()
            if self._closed is not None:
                try:
                    await asyncio.wait_for(self._closed.wait(), 2)
                except asyncio.TimeoutError:
                    self._on_closed()

    def _app_pong(self, message: str) -> bool:
        try:
            t = json.loads(message).get("t")
        except (ValueError, AttributeError):
            return False
        fut = self._app_pings.pop(t, None) if isinstance(t, int) else None
        if fut is None:
            return False
        if not fut.done():
            fut.set_result((time.perf_counter_ns() - t) / 1e9)
        return True

    async def _aapp_ping(self, timeout: float) -> float:
        conn = self._require_open()
        t = time.perf_counter_ns()
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._app_pings[t] = fut
        text = json.dumps({"type": "ping", "t": t})
        lab.fire_and_forget(conn.write_message(text))
        self._note(LogEntry(t, "out", "text", len(text), text))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise LabTimeout(f"no application pong from {self.url} within {timeout} s") from None
        finally:
            self._app_pings.pop(t, None)

    def app_ping(self, *, timeout: float = 5.0) -> float:
        """Application-level heartbeat: send ``{"type": "ping", "t": ...}`` as a text
        message and return the round trip (s) to the server's ``{"type": "pong"}``.

        This is what browsers do, since their WebSocket API cannot send ping frames.
        """
        return lab.run(self._aapp_ping(timeout), timeout=timeout + 5, what=f"app_ping {self.url}")

    def _got_pong(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._note(LogEntry(now, "in", "pong", len(data), data))
        entry = self._pings.pop(bytes(data), None)
        if entry is not None and not entry[1].done():
            entry[1].set_result((now - entry[0]) / 1e9)

    def _got_ping(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._note(LogEntry(now, "in", "ping", len(data), data))
        self._note(LogEntry(now, "out", "pong", len(data), data))

    async def _arecv(self, timeout: float | None) -> str | bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._queue:
            if self.state == State.CLOSED and (self._closed is None or self._closed.is_set()):
                raise ConnectionClosed(
                    f"{self.url} is closed (code {self.close_code}, reason "
                    f"{self.close_reason!r}); no message left to receive",
                    code=self.close_code, reason=self.close_reason or "")
            self._waiter = asyncio.get_running_loop().create_future()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise LabTimeout(f"no message from {self.url} within {timeout} s "
                                 f"(state {self.state.name})")
            try:
                await asyncio.wait_for(self._waiter, remaining)
            except asyncio.TimeoutError:
                raise LabTimeout(f"no message from {self.url} within {timeout} s "
                                   f"(state {self.state.name})") from None
        return self._queue.popleft()

    # --- sending (lab loop) ------------------------------------------------------------
    async def _asend(self, message: str | bytes) -> None:
        conn = self._require_open()
        binary = isinstance(message, bytes)
        fut = conn.write_message(message, binary=binary)
        self._note(LogEntry(time.perf_counter_ns(), "out", "binary" if binary else "text",
                                 payload_size(message), clip(message)))
        try:
            await fut
        except tornado.websocket.WebSocketClosedError:
            raise ConnectionClosed(f"{self.url} closed while sending") from None

    def _require_open(self) -> _TornadoClient:
        if self.state != State.OPEN or self._conn is None or self._conn.protocol is None:
            raise ConnectionClosed(f"cannot send: the connection to {self.url} is "
                                   f"{self.state.name}", code=self.close_code,
                                   reason=self.close_reason or "")
        return self._conn

    async def _aping(self, payload: bytes, timeout: float) -> float:
        conn = self._require_open()
        if not payload:
            self._ping_counter += 1
            payload = f"wslab-{self._ping_counter}".encode()
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pings[payload] = (time.perf_counter_ns(), fut)
        conn.ping(payload)
        self._note(LogEntry(time.perf_counter_ns(), "out", "ping", len(payload), payload))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._pings.pop(payload, None)
            raise LabTimeout(f"no pong from {self.url} within {timeout} s") from None

    async def _aclose(self, code: int, reason: str, timeout: float) -> None:
        if self.state == State.OPEN and self._conn is not None:
            # StrictProtocol.close walks CLOSE_SENT (OPEN -> CLOSING)
            self._note(LogEntry(time.perf_counter_ns(), "out", "close", 2 + len(reason.encode()),
                                     f"{code} {reason}".strip()))
            self._conn.close(code, reason)
        if self._closed is not None:
            try:
                await asyncio.wait_for(self._closed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def _ameasure(self, n: int, size: int, warmup: int, timeout: float,
                        bar: Any = None) -> list[float]:
        conn = self._require_open()
        self._queue.clear()
        samples: list[float] = []
        for i in range(-warmup, n):
            tag = f"{i:08d}:"
            payload = (tag + "x" * max(0, size - len(tag)))[:max(size, len(tag))]
            t0 = time.perf_counter_ns()
            lab.fire_and_forget(conn.write_message(payload))
            self._note(LogEntry(t0, "out", "text", len(payload), payload))
            while not self._queue:
                if self.state == State.CLOSED:
                    raise ConnectionClosed(f"{self.url} closed during measure_rtt",
                                           code=self.close_code)
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.wait_for(self._waiter, timeout)
                except asyncio.TimeoutError:
                    raise LabTimeout(f"no echo from {self.url} within {timeout} s "
                                     "(measure_rtt)") from None
            reply = self._queue.popleft()
            t1 = time.perf_counter_ns()
            if reply != payload:
                raise ValueError(f"measure_rtt needs an echo endpoint; {self.url} answered "
                                 f"{preview(reply)} to {preview(payload)}")
            if i >= 0:
                samples.append((t1 - t0) / 1e9)
                if bar is not None and (i + 1) % 200 == 0:
                    bar.update(200)  # outside the timed span: t1 is already taken
        if bar is not None:
            bar.update(n % 200)
        return samples

    # --- the blocking facade ---------------------------------------------------------------
    def send(self, message: str | bytes, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """Send a text (str) or binary (bytes) message; waits until it is written."""
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        if not isinstance(message, (str, bytes)):
            raise ValueError("a message is str (text) or bytes (binary), "
                             f"got {type(message).__name__}")
        lab.run(self._asend(message), timeout=timeout, what=f"send to {self.url}")

    def recv(self, timeout: float | None = 5.0) -> str | bytes:
        """The next message received (str for text, bytes for binary).

        Raises :class:`~wslab.net.errors.LabTimeout` (a ``TimeoutError``) naming the URL
        and state when nothing arrives in
        ``timeout`` seconds, ``ConnectionClosed`` when closed and nothing is left.
        """
        outer = None if timeout is None else timeout + 5
        return lab.run(self._arecv(timeout), timeout=outer, what=f"recv from {self.url}")

    def ping(self, payload: bytes = b"", *, timeout: float = 5.0) -> float:
        """Send a ping frame and return the round trip to its pong, in seconds."""
        if isinstance(payload, str):
            payload = payload.encode()
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes (RFC 6455 section 5.5)")
        return lab.run(self._aping(bytes(payload), timeout), timeout=timeout + 5,
                       what=f"ping {self.url}")

    def close(self, code: int = 1000, reason: str = "", *, timeout: float = 5.0) -> None:
        """Start the closing handshake and wait (up to ``timeout``) until CLOSED."""
        check_close_args(code, reason)
        lab.run(self._aclose(code, reason, timeout), timeout=timeout + 5,
                what=f"close {self.url}")
        lab.unregister(self)

    def stop(self, *, timeout: float = 5.0) -> None:
        """Close with 1001 (going away) if still open; used by ``wslab.stop_all()``."""
        if self.state in (State.OPEN, State.CONNECTING):
            self.close(1001, "client stopping", timeout=timeout)
        lab.unregister(self)

    def measure_rtt(self, n: int = 100, size: int = 32, *, warmup: int = 5,
                    timeout: float = 5.0, progress: bool | None = None) -> list[float]:
        """Echo round trips in seconds, one message at a time, timed with perf_counter_ns.

        Needs an echo endpoint.  ``warmup`` extra round trips run first and are
        not returned.  The loop runs on the lab loop, so a cell's own thread hop
        is not part of the figure.  ``progress`` shows a progress bar (tqdm.auto;
        by default for n >= 2,000), updated every 200 messages, never inside a
        timed round trip.
        """
        if not isinstance(n, int) or not 1 <= n <= 1_000_000:
            raise ValueError(f"n is an integer 1-1,000,000, got {n!r}")
        if not isinstance(size, int) or not 0 <= size <= 64 * 1024 * 1024:
            raise ValueError(f"size is a payload size in bytes 0-64 MiB, got {size!r}")
        bar = None
        if progress or (progress is None and n >= 2000):
            from tqdm.auto import tqdm
            tqdm.monitor_interval = 0  # no monitor thread left behind in the kernel
            bar = tqdm(total=n, desc="round trips", unit="msg")
        try:
            return lab.run(self._ameasure(n, size, warmup, timeout, bar),
                           timeout=timeout * (n + warmup) + 5, what=f"measure_rtt on {self.url}")
        finally:
            if bar is not None:
                bar.close()

    # --- async facade: from the lab loop itself (no hop) or from another loop ---------------
    async def asend(self, message: str | bytes) -> None:
        """Send a message and wait until it is written."""
        if lab.in_lab_thread():
            await self._asend(message)
        else:
            await lab.run_async(self._asend(message))

    async def arecv(self, timeout: float | None = 5.0) -> str | bytes:
        """The next message (``timeout`` None: wait as long as the connection is open)."""
        if lab.in_lab_thread():
            return await self._arecv(timeout)
        return await lab.run_async(self._arecv(timeout))

    async def aclose(self, code: int = 1000, reason: str = "", *, timeout: float = 5.0) -> None:
        """Start the closing handshake and wait (up to ``timeout``) until CLOSED."""
        if lab.in_lab_thread():
            await self._aclose(code, reason, timeout)
        else:
            await lab.run_async(self._aclose(code, reason, timeout))

    def send_soon(self, message: str | bytes) -> bool:
        """Queue a message without waiting; False when not OPEN.

        A write that fails because the connection closed meanwhile is dropped quietly.
        From another thread the write is handed to the lab loop.
        """
        if not lab.in_lab_thread():
            lab.call_soon(self.send_soon, message)
            return self.state == State.OPEN
        conn = self._conn
        if self.state != State.OPEN or conn is None or conn.protocol is None:
            return False
        binary = isinstance(message, bytes)
        try:
            lab.fire_and_forget(conn.write_message(message, binary=binary))
        except tornado.websocket.WebSocketClosedError:
            return False
        self._note(LogEntry(time.perf_counter_ns(), "out", "binary" if binary else "text",
                            payload_size(message), clip(message)))
        return True

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        extra = f" close_code={self.close_code}" if self.close_code is not None else ""
        return f"<Client {self.url} {self.state.name}{extra}>"


def _connect_error(url: str, exc: BaseException, timeout: float) -> ConnectionFailed:
    if isinstance(exc, tornado.httpclient.HTTPClientError) and exc.code != 599:
        return ConnectionFailed(url, f"the server answered HTTP {exc.code} {exc.message or ''}"
                                     " instead of 101 Switching Protocols".replace("  ", " "),
                                status=exc.code)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or (
            isinstance(exc, tornado.httpclient.HTTPClientError) and exc.code == 599
            and "Timeout" in str(exc)):
        return ConnectionFailed(url, f"no handshake answer within {timeout} s (timeout)")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionFailed(url, "connection refused (is a server listening on that port?)")
    if isinstance(exc, ssl.SSLCertVerificationError) or (
            isinstance(exc, tornado.iostream.StreamClosedError)
            and isinstance(exc.real_error, ssl.SSLCertVerificationError)):
        real = exc if isinstance(exc, ssl.SSLError) else exc.real_error
        why = getattr(real, "verify_message", real)
        return ConnectionFailed(url, f"the server's TLS certificate is not trusted "
                                     f"({why}); pass ca_file= with the CA "
                                     "that signed it (server.ca_file for serve(tls=True))")
    if isinstance(exc, tornado.iostream.StreamClosedError):
        real = exc.real_error
        if isinstance(real, ConnectionRefusedError):
            return ConnectionFailed(url, "connection refused (is a server listening on that port?)")
        return ConnectionFailed(url, f"the connection closed during the handshake ({real or exc})")
    return ConnectionFailed(url, f"{type(exc).__name__}: {exc}")


def connect(url: str, *, subprotocols: Iterable[str] = (), headers: Mapping[str, str] | None = None,
            origin: str | None = None, compression: bool = False,
            max_message_size: int | None = None, timeout: float = 5.0,
            ping_interval: float | None = None, ping_timeout: float | None = None,
            ping_mode: str = "fixed", ca_file: str | None = None) -> Client:
    """Open a WebSocket connection and return an OPEN :class:`Client` (layer 2).

    Raises :class:`wslab.ConnectionFailed` naming the URL and the HTTP status or
    cause when the connection is refused, the handshake answer is not 101, or
    nothing answers within ``timeout`` seconds.
    """
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout is a number of seconds > 0, got {timeout!r}")
    client = Client(url, subprotocols=subprotocols, headers=headers, origin=origin,
                    compression=compression, max_message_size=max_message_size,
                    ping_interval=ping_interval, ping_timeout=ping_timeout, ping_mode=ping_mode,
                    ca_file=ca_file)
    lab.run(client.aconnect(timeout), timeout=timeout + 5, what=f"connect to {url}")
    lab.register(client)
    return client


def median_ms(samples: list[float]) -> float:
    """Median of round-trip samples (seconds) in milliseconds."""
    return statistics.median(samples) * 1e3
