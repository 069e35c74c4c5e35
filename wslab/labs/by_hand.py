"""``handshake_by_hand(url)``: a WebSocket conversation over a plain socket (layer 3, labs).

No WebSocket library is involved on the client side: the request is built by
:func:`wslab.protocol.handshake.build_request`, the answer checked by
:func:`~wslab.protocol.handshake.check_response`, frames encoded and decoded by
:mod:`wslab.protocol.frames`.  Every byte sent and received is kept in a
:class:`Transcript` that renders as an annotated table in a notebook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..i18n import N_, later, shown
from ..net import loop as lab
from ..net.raw import RawConnection, open_websocket
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import HandshakeError, NeedMoreData, ProtocolError

VARIANTS = {
    None: N_("a correct handshake, one text message, a clean close"),
    "wrong_version": N_("Sec-WebSocket-Version: 8 (the server answers with an error such as 426 "
                        "and names 13 in Sec-WebSocket-Version, RFC 6455 4.2.2)"),
    "missing_key": N_("no Sec-WebSocket-Key (a malformed request: 400, RFC 6455 4.2.1)"),
    "bad_origin": N_("Origin: http://evil.example (a server checking origins answers 403, "
                     "RFC 6455 10.2)"),
}


@dataclass
class Step:
    """One row of the transcript: what happened, the exact bytes, what they mean."""

    direction: str  # "→" sent, "←" received, "✓"/"✗" a check
    title: str
    data: bytes = b""
    note: str = ""
    rfc: str = ""


@dataclass
class Transcript:
    """Everything :func:`handshake_by_hand` sent, received and checked, in order."""

    url: str
    variant: str | None
    steps: list[Step] = field(default_factory=list)
    key: str = ""
    status: int | None = None
    accepted: bool = False
    echo: str | None = None
    close_code: int | None = None

    @property
    def request(self) -> bytes:
        return next((s.data for s in self.steps if s.title == "upgrade request"), b"")

    @property
    def response(self) -> bytes:
        return next((s.data for s in self.steps if s.title.startswith("HTTP answer")), b"")

    @property
    def status_line(self) -> str:
        """The first line of the server's answer, e.g. 'HTTP/1.1 101 Switching Protocols'."""
        return self.response.split(b"\r\n", 1)[0].decode("latin-1")

    def add(self, direction: str, title: str, data: bytes = b"", note: str = "",
            rfc: str = "") -> None:
        self.steps.append(Step(direction, title, data, note, rfc))

    def __str__(self) -> str:
        lines = [f"handshake_by_hand({self.url!r}, variant={self.variant!r})"]
        for s in self.steps:
            lines.append(f"{s.direction} {shown(s.title)}"
                         + (f"  [RFC 6455 {s.rfc}]" if s.rfc else ""))
            if s.data:
                lines.append(show_bytes(s.data, indent="    "))
            if s.note:
                lines.append(f"    {shown(s.note)}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


def show_bytes(data: bytes, indent: str = "") -> str:
    """HTTP heads as text (CRLF shown as ␍␊), frames as hex."""
    if data[:4] in (b"GET ", b"HTTP"):
        text = data.decode("latin-1").replace("\r\n", "␍␊\n")
        return "\n".join(indent + line for line in text.rstrip("\n").split("\n"))
    return indent + data.hex(" ")


async def _run(url: str, variant: str | None, message: str, origin: str | None,
               timeout: float) -> Transcript:
    t = Transcript(url, variant)
    kwargs: dict = {"origin": origin}
    if variant == "bad_origin":
        kwargs["origin"] = "http://evil.example"
    conn, request, head, key = await _open(url, variant, kwargs, timeout)
    t.key = key
    t.add("→", N_("upgrade request"), request,
          later(N_("an ordinary HTTP/1.1 GET asking to switch protocols; the key is 16 random "
                   "bytes in base64; variant: {variant}"), variant=later(VARIANTS[variant]))
          if variant else
          N_("an ordinary HTTP/1.1 GET asking to switch protocols; the key is 16 random bytes "
             "in base64"), "4.1")
    try:
        status = t.status = hs.status_of(head)
        body = b""
        if status != 101:
            try:
                length = hs.content_length(head)
            except HandshakeError:
                length = 0  # a malformed Content-Length: show the head alone
            body = await conn.read_exactly(min(length, 4096), timeout=timeout)
        t.add("←", later(N_("HTTP answer {status}"), status=status), head + body,
              N_("101 Switching Protocols: from here on the TCP connection carries frames")
              if status == 101 else N_("the server refused the upgrade; no WebSocket connection "
                                       "exists and the browser would report close code 1006"),
              "4.2.2")
        expected = hs.accept_key(key) if key else ""
        try:
            hs.check_response(head, key or "")
        except HandshakeError as exc:
            t.add("✗", N_("check the answer"), note=f"{exc.rule}", rfc="4.1")
            return t
        except NeedMoreData:
            t.add("✗", N_("check the answer"), note=N_("the answer ended before its blank line"))
            return t
        t.accepted = True
        t.add("✓", N_("check Sec-WebSocket-Accept"),
              note=later(N_("base64(SHA-1(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')) = "
                            "{expected}: it matches, so this server really speaks WebSocket"),
                         expected=expected), rfc="1.3, 4.2.2")
        mask_key = os.urandom(4)
        frame = fr.Frame(fr.Opcode.TEXT, message.encode(), mask_key=mask_key)
        data = fr.encode_frame(frame)
        await conn.send(data)
        t.add("→", N_("masked text frame"), data,
              later(N_("FIN=1 opcode=1 (text), MASK=1 key {key}, length {n}: the payload bytes "
                       "are XORed with the key, so they are unreadable on the wire"),
                    key=mask_key.hex(), n=len(frame.payload)),
              "5.2, 5.3")
        got = await conn.read_frame(require_mask=False, timeout=timeout)
        if got is None:
            t.add("✗", N_("no echo"), note=N_("the server closed the TCP connection"))
            return t
        echo, raw = got
        t.echo = echo.payload.decode("utf-8", "replace")
        t.add("←", N_("the echo"), raw,
              later(N_("{frame}: server frames are never masked (5.1)"), frame=f"{echo}"), "5.2")
        close = fr.encode_frame(fr.Frame.close(1000, "bye", mask_key=os.urandom(4)))
        await conn.send(close)
        t.add("→", N_("close frame"), close,
              N_("opcode 8, code 1000 (normal closure), reason 'bye'"), "5.5.1, 7.1.2")
        got = await conn.read_frame(require_mask=False, timeout=timeout)
        if got is not None:
            reply, raw = got
            try:
                code, reason = fr.parse_close_payload(reply.payload)
            except ProtocolError as exc:
                code, reason = None, str(exc)
            t.close_code = code
            t.add("←", N_("close frame"), raw,
                  later(N_("the server answers with code {code} {reason!r}"), code=code,
                        reason=reason), "5.5.1")
        tail = await conn.read_exactly(1, timeout=timeout)
        t.add("←", N_("TCP closed") if not tail else N_("unexpected bytes"), tail,
              N_("the server closes the TCP connection first (7.1.1): the conversation is over")
              if not tail else N_("bytes after the close frame"))
    finally:
        await conn.close()
    return t


async def _open(url, variant, kwargs, timeout):  # noqa: ANN001, ANN202
    if variant in ("wrong_version", "missing_key"):
        conn = await RawConnection.open(url, timeout=timeout)
        key = "" if variant == "missing_key" else hs.make_key()
        request = hs.build_request(host=conn.target.host_header, path=conn.target.path,
                                   key=key or None, origin=kwargs.get("origin"),
                                   version=8 if variant == "wrong_version" else 13)
        await conn.send(request)
        head = await conn.read_head(timeout=timeout)
        return conn, request, head, key
    return await open_websocket(url, origin=kwargs.get("origin"), timeout=timeout)


def handshake_by_hand(url: str, *, variant: str | None = None, message: str = "Hello",
                      origin: str | None = None, timeout: float = 5.0) -> Transcript:
    """Speak WebSocket over a plain socket and keep every byte (layer 2, I/O).

    ``variant`` breaks the request on purpose: ``"wrong_version"``,
    ``"missing_key"`` or ``"bad_origin"``; the transcript shows the server's
    real HTTP answer.  Needs a ws:// echo endpoint (no TLS).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant is one of {list(VARIANTS)}, got {variant!r}")
    return lab.run(_run(url, variant, message, origin, timeout), timeout=4 * timeout + 5,
                   what=f"handshake_by_hand({url})")
