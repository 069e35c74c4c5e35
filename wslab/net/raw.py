"""Raw sockets for showing real bytes (layer 2, I/O).

A :class:`RawConnection` is a TCP connection on the lab loop whose every byte
is counted and kept: the handshake is built and checked by
:mod:`wslab.protocol.handshake`, frames by :mod:`wslab.protocol.frames`.
No library sits between the learner and the wire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import HandshakeError, NeedMoreData
from ..protocol.uri import parse_ws_uri
from .errors import ConnectionFailed, LabTimeout

MAX_HEAD = 64 * 1024

__all__ = ["MAX_HEAD", "RawConnection", "Target", "open_websocket"]


@dataclass
class Target:
    """Where a ws:// or http:// URL points."""

    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Read a ws:// or http:// URL (RFC 6455 section 3; no TLS here); ValueError if not one."""
        uri = parse_ws_uri(url, schemes=("ws", "http"))
        return cls(uri.host, uri.port, uri.resource, uri.host_header)


@dataclass
class RawConnection:
    """A counted TCP connection: ``sent``/``received`` hold every byte in order."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    target: Target
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    buffer: bytearray = field(default_factory=bytearray)  # received, not yet consumed

    @classmethod
    async def open(cls, url: str, *, timeout: float = 5.0) -> RawConnection:
        target = Target.parse(url)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionFailed(url, f"TCP connection failed ({exc or 'timeout'})") from None
        return cls(reader, writer, target)

    async def send(self, data: bytes) -> None:
        self.sent += data
        self.writer.write(data)
        await self.writer.drain()

    async def _fill(self, timeout: float) -> bool:
        try:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
        except asyncio.TimeoutError:
            raise LabTimeout(f"nothing more from {self.target.host_header} in time "
                             "(read timeout)") from None
        if not chunk:
            return False
        self.received += chunk
        self.buffer += chunk
        return True

    async def read_head(self, *, timeout: float = 5.0) -> bytes:
        """Read up to and including the blank line that ends an HTTP head.

        Returns what arrived when the peer closes before the blank line.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                cut = hs.split_head(self.buffer, limit=MAX_HEAD)
            except HandshakeError:
                raise ConnectionFailed(self.target.host_header, "HTTP head longer than 64 KiB"
                                       ) from None
            if cut is not None:
                head, rest = cut
                self.buffer[:] = rest
                return head
            if not await self._fill(max(0.0, deadline - time.monotonic())):
                head = bytes(self.buffer)
                self.buffer.clear()
                return head

    async def read_exactly(self, n: int, *, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            if not await self._fill(max(0.0, deadline - time.monotonic())):
                break
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    async def read_until(self, separator: bytes, *, timeout: float = 5.0) -> bytes:
        """Read up to and including ``separator`` (all that is left if the peer closed)."""
        deadline = time.monotonic() + timeout
        while separator not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise ConnectionFailed(self.target.host_header,
                                       f"no {separator!r} within 64 KiB")
            if not await self._fill(max(0.0, deadline - time.monotonic())):
                break
        end = self.buffer.find(separator)
        end = len(self.buffer) if end < 0 else end + len(separator)
        out = bytes(self.buffer[:end])
        del self.buffer[:end]
        return out

    async def read_frame(self, *, require_mask: bool | None = False, timeout: float = 5.0,
                         extensions_rsv1: bool = False) -> tuple[fr.Frame, bytes] | None:
        """The next whole frame and its exact bytes, or None if the peer closed TCP."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame, used = fr.decode_frame(bytes(self.buffer), require_mask=require_mask,
                                              extensions_rsv1=extensions_rsv1)
            except NeedMoreData:
                if not await self._fill(max(0.0, deadline - time.monotonic())):
                    return None
                continue
            raw = bytes(self.buffer[:used])
            del self.buffer[:used]
            return frame, raw

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (OSError, asyncio.TimeoutError):
            pass


async def open_websocket(url: str, *, origin: str | None = None,
                         subprotocols: Iterable[str] = (),
                         headers: Mapping[str, str] | None = None,
                         timeout: float = 5.0) -> tuple[RawConnection, bytes, bytes, str]:
    """TCP connect, send a hand-built upgrade request, read the answer's head.

    Returns (connection, request bytes, response head bytes, key); the caller
    checks the response with :func:`wslab.protocol.handshake.check_response`.
    """
    conn = await RawConnection.open(url, timeout=timeout)
    key = hs.make_key()
    request = hs.build_request(host=conn.target.host_header, path=conn.target.path, key=key,
                               origin=origin, subprotocols=subprotocols, headers=headers)
    await conn.send(request)
    head = await conn.read_head(timeout=timeout)
    return conn, request, head, key
