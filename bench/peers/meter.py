"""The measuring client of the benchmark, in a process of its own.

A browser measures a server from another process; so does this benchmark, for
every server alike (the in-kernel wslab server included): the parent starts
ONE meter child (:func:`_meter_child`) and sends it commands, one JSON line
each, answered with one JSON line:

* ``echo``: sequential round trips, one message at a time, with the wslab
  :class:`~wslab.net.client.Client` (``measure_rtt``) or with Tornado's own
  ``websocket_connect`` (``client: "tornado"``, to compare the clients);
  the answer is the samples in microseconds;
* ``saturating``: a :class:`~.wire._Wire` client keeps ``window`` messages
  outstanding and counts the echoes (messages/s);
* ``paced``: messages due on a fixed schedule (``rate`` a second, at most
  ``window`` outstanding), each latency counted from its *intended* send
  time.  A client that only sends after the previous reply ("closed loop")
  stops sending while the server stalls, so the stall hides in one slow
  sample and the messages that *should* have been sent meanwhile are never
  measured: coordinated omission.  Timing from the schedule charges the stall
  to every message it delayed;
* ``handshakes``: ``n`` opening handshakes, ``workers`` at a time, each on a new TCP
  connection (upgrade request, the whole 101 answer read, then the connection reset so
  no TIME_WAIT piles up); the answer is handshakes per second and how many failed.

The child runs its clients on its own lab loop; EOF on stdin ends it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from wslab.net import loop as lab

from .wire import _client_frame, _Wire, _wire_connect

__all__ = ["PipeRun"]


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
class PipeRun:
    """One pipelined or paced run: counts, first and last times (ns), latencies (ns)."""

    sent: int = 0
    received: int = 0
    bad: int = 0
    t_first: int = 0
    t_last: int = 0
    latencies_ns: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """Messages/s from the first write to the last echo."""
        if not self.received or self.t_last <= self.t_first:
            return None
        return self.received / ((self.t_last - self.t_first) / 1e9)

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


async def _saturating(url: str, n: int, window: int, size: int, timeout: float) -> PipeRun:
    """As fast as the server answers: ``window`` messages outstanding at all times."""
    out = [b"%08d" % i for i in range(n)]
    wire_frames = _pipe_frames(n, size)
    run = PipeRun()
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


async def _handshakes(url: str, n: int, workers: int, timeout: float) -> dict[str, Any]:
    """``n`` opening handshakes against ``url``, ``workers`` in flight: (per second, failed).

    Each on a new TCP connection: the upgrade request, the 101 answer read and checked
    (RFC 6455 section 4.1), then the connection reset (SO_LINGER 0: no TIME_WAIT)."""
    import socket
    import struct

    from wslab.protocol.uri import parse_ws_uri

    from .wire import _upgrade_answer, _upgrade_request

    uri = parse_ws_uri(url)
    left = n
    failed = 0
    linger = struct.pack("ii", 1, 0)

    async def one() -> None:
        request, key = _upgrade_request(uri)
        reader, writer = await asyncio.open_connection(uri.host, uri.port)
        try:
            writer.write(request)
            head = b""
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                head += chunk
                if _upgrade_answer(head, key) is not None:
                    return
        finally:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.close()

    async def worker() -> None:
        nonlocal left, failed
        while left > 0:
            left -= 1
            try:
                await asyncio.wait_for(one(), timeout)
            except (OSError, asyncio.TimeoutError):
                failed += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    took = time.perf_counter() - t0
    return {"per_s": (n - failed) / took if took > 0 else 0.0, "failed": failed}


async def _paced(url: str, n: int, window: int, size: int, rate: int,
                 timeout: float) -> PipeRun:
    """On a fixed schedule (message i is due at t0 + i/rate), at most ``window`` outstanding.

    Latency counts from the *intended* send time (no coordinated omission).  The
    sender yields to the loop between checks instead of sleeping, because a
    sleep's own wake-up delay would shift the schedule.
    """
    out = [b"%08d" % i for i in range(n)]
    wire_frames = _pipe_frames(n, size)
    run = PipeRun()
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


def _us(seconds: list[float]) -> list[float]:
    return [round(s * 1e6, 2) for s in seconds]


def _meter_child() -> None:
    """Child-process entry: answer one JSON command per stdin line with one JSON line."""
    from wslab.net.client import connect

    clients: dict[str, Any] = {}  # one wslab client per URL, kept open between rounds
    print("READY", flush=True)
    try:
        for line in sys.stdin:
            req = json.loads(line)
            op, url, timeout = req["op"], req["url"], float(req["timeout"])
            try:
                if op == "echo" and req.get("client", "wslab") == "wslab":
                    c = clients.get(url)
                    if c is None:
                        c = clients[url] = connect(url, timeout=timeout)
                    got: Any = _us(c.measure_rtt(n=req["n"], size=req["size"],
                                                 warmup=req["warmup"], timeout=timeout,
                                                 progress=False))
                elif op == "echo":
                    got = _us(lab.run(_tornado_client_rtt(url, req["n"], req["size"],
                                                          req["warmup"], timeout),
                                      timeout=timeout * 3, what="tornado client round trips"))
                elif op == "saturating":
                    got = asdict(lab.run(_saturating(url, req["n"], req["window"], req["size"],
                                                     timeout), timeout=timeout + 10,
                                         what="pipelined run"))
                elif op == "handshakes":
                    got = lab.run(_handshakes(url, req["n"], req["workers"], timeout),
                                  timeout=timeout * 3 + 10, what="handshakes")
                elif op == "paced":
                    got = asdict(lab.run(_paced(url, req["n"], req["window"], req["size"],
                                                req["rate"], timeout), timeout=timeout + 10,
                                         what="paced run"))
                else:
                    raise ValueError(f"unknown meter command {op!r}")
                print(json.dumps({"ok": got}), flush=True)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
                print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    finally:
        for c in clients.values():
            try:
                c.close(timeout=2)
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
        lab.stop_all(timeout=2)
