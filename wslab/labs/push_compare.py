"""Server push four ways, measured on loopback: short and long polling, SSE, WebSocket.

Layer 3 (labs).  One producer creates numbered messages at a fixed pace; four
clients receive the same messages concurrently:

* **short polling**: ``GET /poll?since=N`` every ``poll_interval`` seconds;
  the answer may be empty;
* **long polling**: ``GET /longpoll?since=N``; the server holds the request
  until there is something new (or ``hold`` seconds pass), the client asks again
  at once;
* **Server-Sent Events** (SSE, the WHATWG HTML standard's ``EventSource``):
  one ``GET /events`` with ``Accept: text/event-stream``; the response never
  ends, each message is an ``id:``/``data:`` event in it (HTTP/1.1 chunked);
* **WebSocket**: one upgrade, then the server sends each message as a frame.

Every byte each client sends and receives is counted at its socket (TCP
payload; the 40-66 bytes of TCP/IP headers per packet come on top for all
three) and every message's delivery latency is measured against the time the
producer created it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

import tornado.iostream
import tornado.web
import tornado.websocket

from ..net import loop as lab
from ..net._tornado import listening_port
from ..net.errors import ConnectionFailed
from ..net.raw import RawConnection, open_websocket
from ..protocol import frames as fr
from ..protocol import handshake as hs

USER_AGENT = "wslab-push-compare"
METHODS = ("short polling", "long polling", "Server-Sent Events", "WebSocket")


@dataclass
class PushResult:
    """What one method delivered and what it cost."""

    method: str
    delivered: int
    expected: int
    requests: int
    bytes_up: int
    bytes_down: int
    handshake_bytes: int
    payload_bytes: int = 0
    latencies_s: list[float] = field(default_factory=list, repr=False)

    @property
    def bytes_per_message(self) -> float:
        return (self.bytes_up + self.bytes_down) / max(self.delivered, 1)

    @property
    def overhead_per_message(self) -> float:
        """Bytes on the wire per message beyond the message's own JSON text."""
        return (self.bytes_up + self.bytes_down - self.payload_bytes) / max(self.delivered, 1)

    @property
    def messages_per_response(self) -> float:
        """Messages per HTTP response (or per stream); above 1, a poll batched several."""
        return self.delivered / max(self.requests, 1)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_s) * 1e3 if self.latencies_s else float("nan")

    @property
    def p99_ms(self) -> float:
        xs = sorted(self.latencies_s)
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3 if xs else float("nan")

    def row(self) -> dict[str, object]:
        return {"method": self.method, "delivered": f"{self.delivered}/{self.expected}",
                "requests": self.requests,
                "messages/response": round(self.messages_per_response, 1),
                "bytes up": self.bytes_up,
                "bytes down": self.bytes_down, "bytes/message": round(self.bytes_per_message, 1),
                "overhead bytes/message": round(self.overhead_per_message, 1),
                "latency p50 ms": round(self.p50_ms, 2), "latency p99 ms": round(self.p99_ms, 2)}


class PushComparison(list):
    """The results, one per method; a table as text here, as HTML in a notebook (wslab.ui.views)."""

    def __str__(self) -> str:
        rows = [r.row() for r in self]
        cols = list(rows[0])
        widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in cols]
        line = "  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True))
        return "\n".join([line] + ["  ".join(str(r[c]).ljust(w) for c, w in
                                             zip(cols, widths, strict=True)) for r in rows])


class _Feed:
    """The producer's messages and a condition for long-poll and WebSocket waiters."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.changed = asyncio.Condition()
        self.sockets: set[tornado.websocket.WebSocketHandler] = set()
        self.streams: set[_Events] = set()

    def since(self, seq: int) -> list[dict[str, object]]:
        return self.messages[seq:]

    async def add(self, message: dict[str, object]) -> None:
        self.messages.append(message)
        text = json.dumps(message)
        for ws in list(self.sockets):
            try:
                lab.fire_and_forget(ws.write_message(text))
            except tornado.websocket.WebSocketClosedError:
                self.sockets.discard(ws)
        event = _sse_event(message)
        for stream in list(self.streams):
            stream.push(event)
        async with self.changed:
            self.changed.notify_all()


def _sse_event(message: dict[str, object]) -> bytes:
    """One event of a ``text/event-stream``: ``id:`` and ``data:`` lines, a blank line."""
    return f"id: {message['seq']}\ndata: {json.dumps(message)}\n\n".encode()


class _Poll(tornado.web.RequestHandler):
    def initialize(self, feed: _Feed, hold: float) -> None:  # type: ignore[override]
        self.feed, self.hold = feed, hold

    async def get(self, mode: str) -> None:
        since = int(self.get_argument("since", "0"))
        if mode == "longpoll" and not self.feed.since(since):
            async with self.feed.changed:
                try:
                    await asyncio.wait_for(
                        self.feed.changed.wait_for(lambda: bool(self.feed.since(since))),
                        self.hold)
                except asyncio.TimeoutError:
                    pass
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.feed.since(since)))


class _Events(tornado.web.RequestHandler):
    """Server-Sent Events: a response that stays open, one event per message."""

    def initialize(self, feed: _Feed) -> None:  # type: ignore[override]
        self.feed = feed
        self.gone = asyncio.get_running_loop().create_future()

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        last = self.request.headers.get("Last-Event-ID", "")  # a reconnecting EventSource
        for m in self.feed.since(int(last) + 1 if last.isdigit() else 0):
            self.write(_sse_event(m))
        self.feed.streams.add(self)
        try:
            await self.flush()
            await self.gone  # until the client goes away
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            self.feed.streams.discard(self)

    def push(self, event: bytes) -> None:
        if self.gone.done():
            return
        self.write(event)
        lab.fire_and_forget(self.flush())

    def on_connection_close(self) -> None:
        if not self.gone.done():
            self.gone.set_result(None)
        self.feed.streams.discard(self)


class _Push(tornado.websocket.WebSocketHandler):
    def initialize(self, feed: _Feed) -> None:  # type: ignore[override]
        self.feed = feed

    def open(self) -> None:
        self.feed.sockets.add(self)

    def on_close(self) -> None:
        self.feed.sockets.discard(self)


async def _http_get(conn: RawConnection, path: str, timeout: float) -> bytes:
    request = (f"GET {path} HTTP/1.1\r\nHost: {conn.target.host_header}\r\n"
               f"User-Agent: {USER_AGENT}\r\nAccept: application/json\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    await conn.send(request)
    head = await conn.read_head(timeout=timeout)
    return await conn.read_exactly(hs.content_length(head), timeout=timeout)


def _receive(result: PushResult, seen: set[int], messages: list[dict]) -> None:
    now = time.perf_counter_ns()
    for m in messages:
        if m["seq"] not in seen:
            seen.add(m["seq"])
            result.delivered += 1
            result.payload_bytes += len(json.dumps(m))
            result.latencies_s.append((now - m["t_ns"]) / 1e9)


async def _poller(url: str, mode: str, result: PushResult, stop: asyncio.Event,
                  poll_interval: float, total: int, timeout: float) -> None:
    conn = await RawConnection.open(url)
    seen: set[int] = set()
    try:
        while len(seen) < total and not stop.is_set():
            body = await _http_get(conn, f"/{mode}?since={len(seen)}", timeout)
            result.requests += 1
            _receive(result, seen, json.loads(body or b"[]"))
            if mode == "poll" and len(seen) < total:
                try:
                    await asyncio.wait_for(stop.wait(), poll_interval)
                except asyncio.TimeoutError:
                    pass
    finally:
        result.bytes_up, result.bytes_down = len(conn.sent), len(conn.received)
        await conn.close()


async def _sse(url: str, result: PushResult, ready: asyncio.Event, total: int,
               timeout: float) -> None:
    """An EventSource by hand: one GET, then events parsed from the chunked body."""
    conn = await RawConnection.open(url)
    request = (f"GET /events HTTP/1.1\r\nHost: {conn.target.host_header}\r\n"
               f"User-Agent: {USER_AGENT}\r\nAccept: text/event-stream\r\n"
               "Cache-Control: no-cache\r\n\r\n").encode()
    seen: set[int] = set()
    try:
        await conn.send(request)
        head = await conn.read_head(timeout=timeout)
        if hs.status_of(head) != 200 or b"text/event-stream" not in head.lower():
            raise ConnectionFailed(url, f"not an event stream: {head[:80]!r}")
        result.requests = 1
        result.handshake_bytes = len(request) + len(head)
        ready.set()
        chunked = b"transfer-encoding: chunked" in head.lower()
        pending = b""
        while len(seen) < total:
            if chunked:  # RFC 9112 7.1: hex size CRLF, data CRLF; size 0 ends the body
                size = (await conn.read_until(b"\r\n", timeout=timeout)).split(b";")[0]
                if not size.strip() or int(size, 16) == 0:
                    break
                data = (await conn.read_exactly(int(size, 16) + 2, timeout=timeout))[:-2]
            else:
                data = await conn.read_until(b"\n\n", timeout=timeout)
                if not data:
                    break
            pending += data
            while b"\n\n" in pending:
                block, pending = pending.split(b"\n\n", 1)
                lines = [ln[5:].lstrip() for ln in block.split(b"\n") if ln.startswith(b"data:")]
                if lines:
                    _receive(result, seen, [json.loads(b"\n".join(lines))])
    finally:
        result.bytes_up, result.bytes_down = len(conn.sent), len(conn.received)
        await conn.close()


async def _websocket(url: str, result: PushResult, ready: asyncio.Event, total: int,
                     timeout: float) -> None:
    conn, request, head, key = await open_websocket(url)
    hs.check_response(head, key)
    result.requests = 1
    result.handshake_bytes = len(request) + len(head)
    ready.set()
    seen: set[int] = set()
    try:
        while len(seen) < total:
            got = await conn.read_frame(require_mask=False, timeout=timeout)
            if got is None:
                break
            frame, _raw = got
            if frame.opcode == fr.Opcode.TEXT:
                _receive(result, seen, [json.loads(frame.payload)])
        close = fr.encode_frame(fr.Frame.close(1000, "", mask_key=b"wslb"))
        await conn.send(close)
        await conn.read_frame(require_mask=False, timeout=timeout)
    finally:
        result.bytes_up, result.bytes_down = len(conn.sent), len(conn.received)
        await conn.close()


async def _compare(count: int, interval: float, poll_interval: float, size: int,
                   hold: float) -> PushComparison:
    feed = _Feed()
    app = tornado.web.Application([
        (r"/(poll|longpoll)", _Poll, {"feed": feed, "hold": hold}),
        (r"/events", _Events, {"feed": feed}),
        (r"/ws", _Push, {"feed": feed}),
    ], log_function=lambda handler: None)
    server = app.listen(0, address="127.0.0.1")
    port = listening_port(server)
    base = f"127.0.0.1:{port}"
    results = PushComparison(
        PushResult(m, 0, count, 0, 0, 0, 0)
        for m in METHODS)
    stop = asyncio.Event()
    ready, sse_ready = asyncio.Event(), asyncio.Event()
    timeout = hold + 5
    try:
        tasks = [
            asyncio.ensure_future(_poller(f"http://{base}/", "poll", results[0], stop,
                                          poll_interval, count, timeout)),
            asyncio.ensure_future(_poller(f"http://{base}/", "longpoll", results[1], stop,
                                          poll_interval, count, timeout)),
            asyncio.ensure_future(_sse(f"http://{base}/", results[2], sse_ready, count, timeout)),
            asyncio.ensure_future(_websocket(f"ws://{base}/ws", results[3], ready, count, timeout)),
        ]
        await asyncio.wait_for(asyncio.gather(ready.wait(), sse_ready.wait()), 5)
        await asyncio.sleep(0.05)  # let the pollers make their first request too
        payload = "x" * size
        for seq in range(count):
            await feed.add({"seq": seq, "t_ns": time.perf_counter_ns(), "data": payload})
            await asyncio.sleep(interval)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), poll_interval + timeout)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
        await server.close_all_connections()
    return results


def compare_push(*, count: int = 40, interval: float = 0.05, poll_interval: float = 0.25,
                 size: int = 20, hold: float = 10.0) -> PushComparison:
    """Measure server push by short/long polling, SSE and WebSocket (see module doc).

    ``count`` messages of ``size`` bytes of data are produced every ``interval``
    seconds; the short poller asks every ``poll_interval`` seconds.  Bounded:
    at most ``count * interval + poll_interval + hold + 5`` seconds.
    """
    for name, value, lo, hi in (("count", count, 1, 10_000), ("size", size, 0, 1 << 20)):
        if not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name} is an integer {lo}-{hi}, got {value!r}")
    for name, value in (("interval", interval), ("poll_interval", poll_interval), ("hold", hold)):
        if not isinstance(value, (int, float)) or not 0 < value <= 60:
            raise ValueError(f"{name} is a number of seconds in (0, 60], got {value!r}")
    limit = count * interval + poll_interval + 2 * hold + 15
    return lab.run(_compare(count, interval, poll_interval, size, hold), timeout=limit,
                   what="compare_push")
