"""Exact bytes to a live server over a plain socket, and what came back (layer 3, labs).

Notebooks 01, 02 and 04 send bytes that a WebSocket library would never write
(a learner's own upgrade request, an unsolicited pong, a text frame that is not
UTF-8) and show the server's real answer.  :func:`send_upgrade` sends a
request exactly as given; :func:`send_frames` completes a correct handshake,
then sends the given frames as they are.  Both keep every byte in a
:class:`WireExchange` and end the connection cleanly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..i18n import N_, _, later, shown
from ..net import loop as lab
from ..net.raw import RawConnection, open_websocket
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import HandshakeError, NeedMoreData, ProtocolError


@dataclass
class WireExchange:
    """What was sent and received: the HTTP head, then frames both ways, in order."""

    request: bytes = b""
    head: bytes = b""
    body: bytes = b""
    steps: list[tuple[str, bytes, str]] = field(default_factory=list)  # (">"/"<", bytes, note)
    tcp_closed_by_server: bool = False

    @property
    def status_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1") if self.head else "(no answer)"

    @property
    def status(self) -> int | None:
        return hs.status_of(self.head)

    @property
    def received(self) -> list[fr.Frame]:
        return [fr.decode_frame(raw)[0] for d, raw, _ in self.steps if d == "<"]

    @property
    def close_code(self) -> int | None:
        """The code in the server's Close frame (None: no Close frame, or an empty one)."""
        for frame in self.received:
            if frame.opcode == fr.Opcode.CLOSE:
                return frame.close_info()[0]
        return None

    def __str__(self) -> str:
        lines = [_("server answered: {status}").format(status=self.status_line)]
        for direction, raw, note in self.steps:
            arrow = _("client -> server") if direction == ">" else _("server -> client")
            lines.append(f"{arrow}  {raw[:16].hex(' ')}{' ...' if len(raw) > 16 else ''}")
            lines.append(f"    {shown(note)}")
        if self.tcp_closed_by_server:
            lines.append(_("server closed the TCP connection"))
        return "\n".join(lines)


async def _goodbye(conn: RawConnection, ex: WireExchange, timeout: float, note: str) -> None:
    """Send a masked Close 1000 'bye', record it, then read the server's answer."""
    close = fr.encode_frame(fr.Frame.close(1000, "bye", mask_key=os.urandom(4)))
    await conn.send(close)
    ex.steps.append((">", close, note))
    got = await conn.read_frame(require_mask=False, timeout=timeout)
    if got is not None:
        ex.steps.append(("<", got[1], str(got[0])))
    ex.tcp_closed_by_server = not await conn.read_exactly(1, timeout=timeout)


async def _upgrade(url: str, request: bytes, timeout: float) -> WireExchange:
    conn = await RawConnection.open(url, timeout=timeout)
    ex = WireExchange(request=bytes(request))
    try:
        await conn.send(bytes(request))
        ex.head = await conn.read_head(timeout=timeout)
        if ex.status != 101:
            ex.body = await conn.read_exactly(min(hs.content_length(ex.head), 4096),
                                              timeout=timeout)
            return ex
        await _goodbye(conn, ex, timeout, N_("Close 1000 'bye': a clean goodbye"))
    finally:
        await conn.close()
    return ex


def send_upgrade(url: str, request: bytes, *, timeout: float = 5.0) -> WireExchange:
    """Send ``request`` byte for byte to ``url``'s server; read its HTTP answer.

    After a 101 the connection is closed cleanly (a masked Close 1000).  The
    request is not checked here: a broken one gets the server's real answer.
    """
    if not isinstance(request, (bytes, bytearray)):
        raise ValueError(f"request must be bytes, not {type(request).__name__}")
    return lab.run(_upgrade(url, bytes(request), timeout), timeout=3 * timeout + 5,
                   what=f"send_upgrade({url})")


async def _frames(url: str, frames: Sequence[bytes], replies: int, timeout: float
                  ) -> WireExchange:
    conn, request, head, key = await open_websocket(url, timeout=timeout)
    ex = WireExchange(request=request, head=head)
    try:
        try:
            hs.check_response(head, key)
        except (HandshakeError, NeedMoreData):
            return ex
        for data in frames:
            await conn.send(data)
            try:
                note = str(fr.decode_frame(data)[0])
            except (ProtocolError, NeedMoreData) as exc:
                note = later(N_("(breaks a rule: {error})"), error=exc)
            ex.steps.append((">", data, note))
        got_data = 0
        while got_data < replies:
            got = await conn.read_frame(require_mask=False, timeout=timeout)
            if got is None:
                ex.tcp_closed_by_server = True
                return ex
            frame, raw = got
            ex.steps.append(("<", raw, str(frame)))
            if frame.opcode == fr.Opcode.CLOSE:  # the server failed the connection: answer it
                code, _ = frame.close_info()
                answer = fr.encode_frame(fr.Frame.close(code if code and code < 4000 and code
                                                        not in (1005, 1006, 1015) else 1000,
                                                        mask_key=os.urandom(4)))
                await conn.send(answer)
                ex.steps.append((">", answer, N_("the client answers the Close (RFC 6455 5.5.1)")))
                ex.tcp_closed_by_server = not await conn.read_exactly(1, timeout=timeout)
                return ex
            if frame.opcode.is_data:
                got_data += 1
        await _goodbye(conn, ex, timeout, N_("Close 1000 'bye'"))
    finally:
        await conn.close()
    return ex


def send_frames(url: str, frames: Sequence[bytes], *, replies: int = 0,
                timeout: float = 5.0) -> WireExchange:
    """Handshake with ``url``, send ``frames`` (exact bytes), read the server's answer.

    Reads until ``replies`` data frames came back or the server sends a Close
    (which is answered); then closes cleanly.  A client must mask its frames
    (RFC 6455 5.3): build them with ``Frame(..., mask_key=os.urandom(4))``.
    """
    if isinstance(frames, (bytes, bytearray)) or not all(
            isinstance(f, (bytes, bytearray)) for f in frames):
        raise ValueError("frames is a list of frames as bytes, e.g. [encode_frame(...)]")
    if isinstance(replies, bool) or not isinstance(replies, int) or replies < 0:
        raise ValueError(f"replies is an int >= 0, got {replies!r}")
    return lab.run(_frames(url, [bytes(f) for f in frames], replies, timeout),
                   timeout=(len(frames) + replies + 4) * timeout + 5, what=f"send_frames({url})")
