"""Message assembly from fragments (layer 1 (protocol)): RFC 6455 sections 5.4 and 5.6.

A message is one TEXT or BINARY frame with FIN=0 or 1, followed by CONTINUATION
frames until one has FIN=1 (section 5.4).  Control frames may be interleaved
between fragments and are passed through at once.  Text is validated as UTF-8
fragment by fragment, so a broken message fails on the fragment where it
breaks (section 8.1), and a size limit stops a message that grows too big
(close code 1009, section 7.4.1).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Protocol

from .errors import ProtocolError
from .frames import Frame, Opcode

__all__ = ["Inflater", "Message", "MessageAssembler"]


class Inflater(Protocol):
    """What the assembler needs of an extension: inflate one message's joined payload
    (:class:`wslab.protocol.deflate.PerMessageDeflate` is one)."""

    def decompress(self, data: bytes, *, max_size: int | None = None) -> bytes: ...


@dataclass(frozen=True)
class Message:
    """A complete data message: ``data`` is str for TEXT, bytes for BINARY."""

    opcode: Opcode
    data: str | bytes
    frames: int = 1
    compressed: bool = field(default=False, compare=False)  # sent with permessage-deflate

    def __str__(self) -> str:
        data = self.data
        shown = data if len(data) <= 60 else data[:57]
        more = "..." if len(data) > 60 else ""
        unit = "chars" if isinstance(data, str) else "bytes"
        plural = "frame" if self.frames == 1 else "frames"
        return f"{self.opcode.name} {shown!r}{more} [{len(data)} {unit}, {self.frames} {plural}]"


class MessageAssembler:
    """Turn frames into messages (RFC 6455 sections 5.4, 5.6).

    ``add(frame)`` returns a :class:`Message` when ``frame`` completes one, the
    frame itself for a control frame (pass-through, even between fragments),
    or None while a fragmented message is still open.  Raises
    :class:`ProtocolError`: 1002 for a CONTINUATION with no message open or a new
    TEXT/BINARY frame while one is open, 1007 for invalid UTF-8 in text (on the
    fragment where it breaks), 1009 when a message exceeds ``max_size`` bytes.

    ``deflate`` (a :class:`wslab.protocol.deflate.PerMessageDeflate`) decompresses
    messages whose first frame has RSV1 set (RFC 7692 section 6.2); without it,
    RSV1 on a data frame is a protocol error.
    """

    def __init__(self, *, max_size: int | None = None, deflate: Inflater | None = None) -> None:
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < 0):
            raise ValueError(f"max_size must be None or an int >= 0, not {max_size!r}")
        if deflate is not None and not hasattr(deflate, "decompress"):
            raise ValueError("deflate must be None or a PerMessageDeflate")
        self.max_size = max_size
        self.deflate: Inflater | None = deflate
        self._reset()

    def _reset(self) -> None:
        self._opcode: Opcode | None = None
        self._parts: list[bytes] = []
        self._text: list[str] = []
        self._size = 0
        self._frames = 0
        self._compressed = False
        self._fin = False
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def in_progress(self) -> bool:
        """True while a fragmented message is open (waiting for FIN=1)."""
        return self._opcode is not None

    def add(self, frame: Frame) -> Message | Frame | None:
        """Feed one frame; see the class docstring for what comes back."""
        if not isinstance(frame, Frame):
            raise ValueError(f"add() needs a Frame, not {type(frame).__name__}")
        if frame.opcode >= 0x8:
            return frame
        self.start_frame(frame.opcode, fin=frame.fin, rsv1=frame.rsv1)
        self.add_piece(frame.payload)
        return self.end_frame()

    # --- the same, piece by piece: a stream reader feeds a frame's payload as it arrives
    def start_frame(self, opcode: int, *, fin: bool, rsv1: bool) -> None:
        """A data frame's header arrived: check where it may stand (RFC 6455 5.4).

        Raises :class:`ProtocolError` without changing any state when the frame
        is out of place, so the rule it broke can be named before its payload.
        """
        if opcode == Opcode.CONTINUATION:
            if self._opcode is None:
                raise ProtocolError("a CONTINUATION frame arrived but no fragmented message is "
                                    "open (RFC 6455 5.4)",
                                    rule="continuation frame without a message",
                                    rfc="5.4", close_code=1002, bit=4)
            if rsv1:
                raise ProtocolError("RSV1 may only be set on the first frame of a message "
                                    "(RFC 7692 6)", rule="RSV1 on a continuation frame",
                                    rfc="RFC 7692 6", close_code=1002, bit=1)
        elif opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._opcode is not None:
                raise ProtocolError(f"a {Opcode(opcode).name} frame arrived while a fragmented "
                                    f"{self._opcode.name} message is still open; expected "
                                    "CONTINUATION (RFC 6455 5.4)",
                                    rule="new data frame inside a fragmented message", rfc="5.4",
                                    close_code=1002, bit=4)
            if rsv1 and self.deflate is None:
                raise ProtocolError("RSV1 is set but permessage-deflate was not negotiated "
                                    "(RFC 6455 5.2, RFC 7692 6)",
                                    rule="RSV1 set without a negotiated extension",
                                    rfc="5.2, RFC 7692 6", close_code=1002, bit=1)
            self._opcode = Opcode(opcode)
            self._compressed = rsv1
            if opcode == Opcode.TEXT and not rsv1:
                self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        else:
            raise ProtocolError(f"opcode {int(opcode):#x} is not a data opcode "
                                "(RFC 6455 5.2)", rule="reserved opcode", rfc="5.2",
                                close_code=1002, bit=4)
        self._frames += 1
        self._fin = fin

    def add_piece(self, piece: bytes) -> None:
        """Some (unmasked) payload bytes of the current frame: size counted and text
        checked at once, so invalid UTF-8 fails on the piece that shows it (RFC 6455 8.1)."""
        self._add_payload(piece, False)

    def end_frame(self) -> Message | None:
        """The current frame's payload is complete: the message when its FIN was set."""
        if not self._fin:
            return None
        if self._decoder is not None:
            self._add_payload(b"", True)
        return self._finish()

    def _check_size(self, size: int) -> None:
        if self.max_size is not None and size > self.max_size:
            name, frames = getattr(self._opcode, "name", "data"), self._frames
            self._reset()
            raise ProtocolError(f"the {name} message reached {size} bytes after "
                                f"{frames} frame(s), over max_size={self.max_size} "
                                "(close code 1009, RFC 6455 7.4.1)", rule="message too big",
                                rfc="7.4.1", close_code=1009)

    def _add_payload(self, payload: bytes, fin: bool) -> None:
        if not self._compressed:
            self._check_size(self._size + len(payload))
        self._size += len(payload)
        if self._decoder is not None:
            try:
                self._text.append(self._decoder.decode(payload, final=fin))
            except UnicodeDecodeError as exc:
                frames = self._frames
                self._reset()
                raise ProtocolError(f"text message is not valid UTF-8 in fragment {frames} "
                                    f"({exc.reason} at byte {exc.start} of that fragment; "
                                    "RFC 6455 5.6, 8.1)", rule="invalid UTF-8 in text",
                                    rfc="5.6, 8.1", close_code=1007, offset=exc.start) from None
        else:
            self._parts.append(payload)

    def _finish(self) -> Message:
        opcode = self._opcode if self._opcode is not None else Opcode.BINARY
        frames, parts, text, deflate = self._frames, self._parts, self._text, self.deflate
        compressed = self._compressed
        self._reset()
        if compressed and deflate is not None:
            data = deflate.decompress(b"".join(parts), max_size=self.max_size)
            if opcode == Opcode.TEXT:
                try:
                    return Message(opcode, data.decode("utf-8"), frames, True)
                except UnicodeDecodeError as exc:
                    raise ProtocolError(f"decompressed text is not valid UTF-8 ({exc.reason} "
                                        f"at byte {exc.start}; RFC 6455 8.1)",
                                        rule="invalid UTF-8 in text", rfc="8.1",
                                        close_code=1007) from None
            return Message(opcode, data, frames, True)
        if opcode == Opcode.TEXT:
            return Message(opcode, "".join(text), frames)
        return Message(opcode, b"".join(parts), frames)
