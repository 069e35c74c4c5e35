"""The hop's relay: one request forwarded, the answer passed back, then bytes both ways (layer 2).

:func:`carry` is the whole hop for one browser connection, independent of the
Jupyter server that runs it (:mod:`wslab.net.jupyter_ext` calls it from its route
handler; tests call it from a plain Tornado handler):

1. it writes :func:`wslab.protocol.hop.forward_request`'s head to the kernel's
   server and reads that server's answer head, *before* the browser is answered, so
   the subprotocol and the extensions are the kernel's server's choice;
2. it takes the browser's connection from the HTTP server (``detach``), writes the
   answer head to it unchanged, and
3. copies bytes both ways, chunk by chunk, unchanged, as the Tap does (every frame
   keeps the browser's mask key, every Close frame its code and reason).

Bounded: each direction reads at most :data:`CHUNK` bytes and writes them before
it reads again, so a browser that stops reading stops the hop reading from the
kernel's server (whose own send buffer then fills: its ``send_buffer_max`` rule
decides), and a hop holds at most ``2 * CHUNK`` bytes, whatever the peers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tornado.iostream import IOStream, StreamClosedError, UnsatisfiableReadError
from tornado.tcpclient import TCPClient

from ..protocol import handshake as hs
from ..protocol.errors import WSLabError
from ..protocol.hop import forward_request, is_upgrade
from . import _tornado

__all__ = ["CHUNK", "HEAD_MAX", "HopRecord", "HopUnreachable", "carry"]

CHUNK = 64 * 1024           # bytes one direction reads before it writes them on
HEAD_MAX = 64 * 1024        # the longest answer head the hop reads
ERROR_BODY_MAX = 64 * 1024  # the longest body of a refused upgrade passed back
CONNECT_TIMEOUT = 5.0       # seconds to reach the kernel's server
ANSWER_TIMEOUT = 10.0       # seconds for its answer head


class HopUnreachable(WSLabError):
    """The kernel's server did not take the hop's connection or did not answer in time.
    ``status`` is what the browser gets instead: 502 (refused, bad answer) or 504 (no answer)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class HopRecord:
    """What one hop carried (a row of the Jupyter server's ``wslab/api/hops``)."""

    port: int
    target: str
    websocket: bool
    started: float
    status: int | None = None      # the kernel's server's answer (101 for a WebSocket)
    up: int = 0                    # bytes browser -> kernel's server, after the head
    down: int = 0                  # bytes kernel's server -> browser, after the head
    buffered_peak: int = 0         # most bytes the hop held unsent in one direction
    ended: float | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _dial(host: str, port: int, head: bytes) -> tuple[IOStream, bytes]:
    try:
        stream = await TCPClient().connect(host, port, timeout=CONNECT_TIMEOUT)
    except (OSError, StreamClosedError, asyncio.TimeoutError) as exc:
        raise HopUnreachable(f"nothing answers on {host} port {port}: {exc}",
                             status=502) from None
    stream.set_nodelay(True)
    try:
        await stream.write(head)
        answer = await asyncio.wait_for(stream.read_until(b"\r\n\r\n", max_bytes=HEAD_MAX),
                                        ANSWER_TIMEOUT)
    except asyncio.TimeoutError:
        stream.close()
        raise HopUnreachable(f"port {port} sent no answer within {ANSWER_TIMEOUT:g} s",
                             status=504) from None
    except (StreamClosedError, UnsatisfiableReadError, OSError) as exc:
        stream.close()
        raise HopUnreachable(f"port {port} sent no HTTP answer ({type(exc).__name__})",
                             status=502) from None
    if hs.status_of(answer) is None:
        stream.close()
        raise HopUnreachable(f"port {port} answered with something other than HTTP",
                             status=502)
    return stream, answer


async def _pump(src: IOStream, dst: IOStream, record: HopRecord, up: bool,
                on_traffic: Callable[[], None]) -> None:
    """Copy ``src`` to ``dst`` unchanged until either closes; one chunk in flight at most."""
    try:
        while True:
            data = await src.read_bytes(CHUNK, partial=True)
            on_traffic()
            if up:
                record.up += len(data)
            else:
                record.down += len(data)
            sent = dst.write(data)
            record.buffered_peak = max(record.buffered_peak, _tornado.write_buffer_size(dst))
            await sent
    except StreamClosedError:
        pass


async def _splice(browser: IOStream, server: IOStream, record: HopRecord,
                  on_traffic: Callable[[], None]) -> None:
    pumps = [asyncio.ensure_future(_pump(browser, server, record, True, on_traffic)),
             asyncio.ensure_future(_pump(server, browser, record, False, on_traffic))]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # one side closed (its last bytes are written): the connection is over for both
        browser.close()
        server.close()
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def _refused_body(server: IOStream, answer: bytes) -> bytes:
    """The body of a refused upgrade (its Content-Length, at most ERROR_BODY_MAX)."""
    try:
        length = min(hs.content_length(answer), ERROR_BODY_MAX)
        if length:
            return await asyncio.wait_for(server.read_bytes(length), ANSWER_TIMEOUT)
    except (WSLabError, StreamClosedError, asyncio.TimeoutError):
        pass
    return b""


def _nothing() -> None:
    return None


async def carry(*, method: str, target: str, headers: list[tuple[str, str]], host: str,
                port: int, detach: Callable[[], IOStream], record: HopRecord,
                on_traffic: Callable[[], None] = _nothing) -> None:
    """Carry one browser request to ``host:port`` and relay until either side closes.

    ``headers`` are the browser's, in order; ``detach()`` hands over the browser's
    connection once the kernel's server has answered (the HTTP server must not answer
    it); ``on_traffic()`` is called for every chunk relayed (a Jupyter server counts it
    as activity, so a hub's idle culler spares a learner who only uses the browser).
    Raises :class:`HopUnreachable` before anything was sent to the browser, so the
    caller can still answer with an error page.
    """
    head = forward_request(method, target, headers)
    server, answer = await _dial(host, port, head)
    record.status = hs.status_of(answer)
    browser = detach()
    browser.set_nodelay(True)
    try:
        if is_upgrade(headers) and record.status != 101:
            # the kernel's server refused the WebSocket: pass its answer on, then close
            body = await _refused_body(server, answer)
            with contextlib.suppress(StreamClosedError):
                await browser.write(answer + body)
            browser.close()
            server.close()
            return
        try:
            await browser.write(answer)
        except StreamClosedError:
            server.close()
            return
        await _splice(browser, server, record, on_traffic)
    finally:
        record.ended = time.time()
