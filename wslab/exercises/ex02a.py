"""Checks for 02a_your_own_server.ipynb (layer 4, exercises).

Every piece of the learner's server is checked on its own first, with the input, the
field or the byte that is wrong named in the hint; then :func:`check_server` grades the
assembled server with the conformance run (:mod:`wslab.labs.conformance`) and
:func:`check_client` has the learner's client talk to wslab's server.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from ..i18n import N_, _, shown, translate
from ..labs import conformance
from ..labs.own_server import CLIENT_PIECES, Fail, OwnServer, talk
from ..net import serve
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import HandshakeError, NeedMoreData, ProtocolError
from . import _solutions
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes
from .ex02 import RFC_FRAMES, expected_header, random_frames

solution = solution_function("ex02a")

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
EARLIER = {"accept_key": "ex01", "upgrade_request": "ex01", "parse_header": "ex02",
           "mask": "ex02"}


def earlier_models(*names: str) -> tuple[Callable[..., Any], ...]:
    """The model answers of notebooks 01 and 02 (``accept_key``, ``parse_header``, ``mask``
    by default; ``upgrade_request`` too): for a learner who has not kept their own."""
    wanted = names or ("accept_key", "parse_header", "mask")
    unknown = [n for n in wanted if n not in EARLIER]
    if unknown:
        raise ValueError(f"no earlier piece {unknown}; choose from {sorted(EARLIER)}")
    return tuple(_solutions.get(EARLIER[n], n) for n in wanted)  # type: ignore[misc]


def check_earlier(accept_key: object, parse_header: object, mask: object) -> Result:
    """Your pieces from notebooks 01 and 02 still pass their checks."""
    from . import ex01, ex02
    name = N_("Your pieces from 01 and 02")
    for result in (ex01.check_accept_key(accept_key), ex02.check_mask(mask),
                   ex02.check_parse_header(parse_header)):
        if not result.ok:
            return hint(name, _("{exercise}: {message}").format(
                                  exercise=result.exercise, message=result.message))
    return passed(name, _("accept_key, mask and parse_header pass the checks of notebooks 01 and "
                          "02"))


def _failed(name: str, case: str, exc: StudentError) -> Result:
    """The learner's code raised (or is not written): say for which input."""
    if not case or "not written yet" in exc.hint:
        return hint(name, exc.hint)
    return hint(name, _("{case}: {hint}").format(case=case, hint=exc.hint))


def _attempt(fn: object, *args: Any, what: str) -> tuple[bool, Any]:
    """Call the learner's ``fn``: (True, the Fail it raised) or (False, what it returned)."""
    box: list[Fail] = []

    def inner(*a: Any) -> Any:
        try:
            return fn(*a)  # type: ignore[operator]
        except Fail as exc:
            box.append(exc)
            return None
    result = call(inner, *args, what=what)
    return (True, box[0]) if box else (False, result)


# --- the handshake ---------------------------------------------------------------------------

def _request(key: str | None, *, version: int = 13, lower: bool = False,
             browser: bool = False) -> bytes:
    headers = ({"Origin": "http://localhost:8888", "Cookie": "a=b; c=d",
                "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
                "User-Agent": "Mozilla/5.0"} if browser else None)
    data = hs.build_request(host="127.0.0.1:8080", path="/chat", key=key, version=version,
                            headers=headers)
    if not lower:
        return data
    lines = data.split(b"\r\n")
    return b"\r\n".join([lines[0], *(ln.split(b":", 1)[0].lower() + b":" + ln.split(b":", 1)[1]
                                     if b":" in ln else ln for ln in lines[1:])])


def _response_problem(resp: object) -> str:
    if isinstance(resp, str):
        return _("return bytes: .encode('ascii') the text of the response")
    if not isinstance(resp, (bytes, bytearray)):
        return _("return the response as bytes, not {name}").format(name=type(resp).__name__)
    if b"\n" in resp and b"\r\n" not in resp:
        return _("each line of an HTTP response ends with CRLF, '\\r\\n' (RFC 9112 2.1)")
    if not bytes(resp).endswith(b"\r\n\r\n"):
        return (_("the response must end with an empty line: the last header's '\\r\\n' and one "
                  "more '\\r\\n' (RFC 9112 2.1); without it the client waits for more headers"))
    return ""


def _upgrade_cases() -> list[tuple[str, str]]:
    cases = [("the RFC's sample key (section 1.3)", SAMPLE_KEY),
             ("a browser's request (Origin, Cookie, an extension offer)", hs.make_key()),
             ("header names in lower case (names ignore case, RFC 9110 5.1)", hs.make_key())]
    return cases + [("a random key", hs.make_key()) for _ in range(8)]


def check_handshake(fn: object) -> Result:
    """``fn(request)`` answers an upgrade request: 101 with the right Sec-WebSocket-Accept;
    426 naming version 13 for another version; a 4xx without a key (RFC 6455 4.2.2)."""
    name = N_("Exercise 1 (the server's handshake)")
    case = ""
    try:
        takes(fn, 1, what="handshake")
        for what, key in _upgrade_cases():
            case = f"for {what}"
            req = _request(key, lower="lower" in what, browser="browser" in what)
            resp = call(fn, req, what="handshake")
            problem = _response_problem(resp)
            if not problem:
                try:
                    hs.check_response(bytes(resp), key)
                except HandshakeError as exc:
                    problem = _("a client refuses it: {exc}").format(exc=exc)
            if problem:
                return hint(name, _("for {what}: {problem}").format(what=what, problem=problem))
        for req, want, rule in _refusals():
            case = _("for a request with {rule}").format(rule=rule)
            resp = call(fn, req, what="handshake")
            problem = _response_problem(resp) or _refusal_problem(bytes(resp), want)
            if problem:
                return hint(name, _("for a request with {rule}: {problem}").format(
                                      rule=rule, problem=problem))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("101 with the right Sec-WebSocket-Accept for {n} requests (the RFC's "
                          "key, a browser's, lower-case names), 426 naming version 13 for version "
                          "12, and 400 without a key (RFC 6455 4.2.2)").format(
                            n=len(_upgrade_cases())))


def _refusals() -> list[tuple[bytes, int, str]]:
    return [(_request(hs.make_key(), version=12), 426, "Sec-WebSocket-Version: 12"),
            (_request(None), 400, "no Sec-WebSocket-Key")]


def _refusal_problem(resp: bytes, want: int) -> str:
    status = hs.status_of(resp)
    if status is None:
        first = resp.split(b"\r\n", 1)[0]
        return _("the status line {first!r} is not 'HTTP/1.1 NNN Reason'").format(first=first)
    if status == 101:
        return _("you answered 101; refuse it with {want} (RFC 6455 4.2.2)").format(want=want)
    if not 400 <= status <= 499:
        return _("you answered {status}; refuse it with {want}, a client error").format(
                   status=status, want=want)
    if want == 426:
        fields = [ln.lower().replace(b" ", b"") for ln in resp.split(b"\r\n")]
        if b"sec-websocket-version:13" not in fields:
            return (_("the refusal MUST name the version you speak: a header "
                      "'Sec-WebSocket-Version: 13' (RFC 6455 4.2.2 /version/, 4.4)"))
    return ""


# --- reading a frame ---------------------------------------------------------------------------

class ReadTooFar(Exception):  # noqa: N818 - shown to the learner as the error's name
    """The check's stand-in socket was asked for bytes the frame does not hold."""


class _Stream:
    """A stand-in for the socket: ``recv_exactly(n)`` hands out the bytes of one frame."""

    def __init__(self, data: bytes, frame_size: int) -> None:
        self.data, self.frame_size, self.pos = data, frame_size, 0

    def recv_exactly(self, n: int) -> bytes:
        if isinstance(n, bool) or not isinstance(n, int):
            raise ReadTooFar(f"recv_exactly({n!r}): the count of bytes is an int")
        if n < 0:
            raise ReadTooFar(f"recv_exactly({n}): a negative count; is a length read as a "
                             "signed number?")
        if self.pos + n > len(self.data):
            raise ReadTooFar(f"recv_exactly({n}) after {self.pos} bytes, but only "
                             f"{len(self.data) - self.pos} more exist: a real socket would "
                             "wait for ever")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


NEXT_FRAME = bytes.fromhex("8105") + b"next!"   # a frame after the one being read


def _read_cases() -> list[tuple[str, bytes, dict]]:
    """(what, frame bytes, header fields): RFC 6455 5.7's frames, each length form's edge and
    random frames (reserved bits included: reading a frame is not yet judging it)."""
    rng = random.Random()
    sized = [(f"a masked binary frame of {n:,} bytes", fr.encode_frame(fr.Frame.binary(
        rng.randbytes(n), mask_key=os.urandom(4)))) for n in (0, 125, 126, 40_000, 65_536)]
    plain = [(what, data, expected_header(data)) for what, data in [*RFC_FRAMES, *sized]]
    return plain + random_frames(60)


def _read_problem(got: object, data: bytes, want: dict, stream: _Stream) -> str:
    if not (isinstance(got, tuple) and len(got) == 2):
        return _("return a pair: (h, payload), the header dict and the payload bytes")
    h, payload = got
    if not isinstance(h, dict):
        return _("the first item is the header dict of parse_header, not {name}").format(
                   name=type(h).__name__)
    used = want["header_size"] + want["length"]
    on_wire = data[want["header_size"]:used]
    key = want["mask_key"]
    unmasked = fr.mask(on_wire, key) if key is not None else on_wire
    for field in ("opcode", "fin", "length", "masked"):
        if h.get(field) != want[field]:
            return _("h[{field!r}] is {h!r}, the frame's is {want!r}").format(
                       field=field, h=h.get(field), want=want[field])
    if isinstance(payload, bytearray):
        payload = bytes(payload)
    if not isinstance(payload, bytes):
        return _("the payload is bytes, not {name}").format(name=type(payload).__name__)
    if stream.pos != used:
        return (_("it read {pos} bytes of a {used}-byte frame: read exactly the header, then "
                  "exactly h['length'] payload bytes").format(pos=stream.pos, used=used))
    if payload != unmasked:
        if key is not None and payload == on_wire:
            return (_("the payload is still masked: XOR byte i with mask_key[i % 4] (RFC 6455 "
                      "5.3), your mask() does it"))
        return _("the payload differs from the frame's: {value}").format(
                   value=first_difference(payload, unmasked))
    return ""


def check_read_frame(fn: object) -> Result:
    """``fn(recv_exactly)`` reads one frame: ``(h, payload)`` with the payload unmasked,
    taking exactly the frame's bytes from ``recv_exactly(n)``."""
    name = N_("Exercise 2 (reading a frame)")
    case = ""
    try:
        takes(fn, 1, what="read_frame")
        for what, data, want in _read_cases():
            case = what
            stream = _Stream(data + NEXT_FRAME, len(data))
            got = call(fn, stream.recv_exactly, what="read_frame")
            problem = _read_problem(got, data, want, stream)
            if problem:
                more = " ..." if len(data) > 14 else ""
                return hint(name, _("{what}, frame {data}{more}: {problem}").format(
                                      what=what, data=data[:14].hex(' '), more=more,
                                      problem=problem))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("{n} frames of RFC 6455 5.7, frames of 0 to 65,536 bytes (all three "
                          "length forms) and 60 random ones: each read to its last byte and no "
                          "further, the payload unmasked").format(n=len(RFC_FRAMES)))


# --- encoding a frame --------------------------------------------------------------------------

def _byte_name(i: int, n: int) -> str:
    if i == 0:
        return _("byte 0 (FIN, RSV1-3, opcode)")
    if i == 1:
        return _("byte 1 (MASK and Payload len)")
    ext = 0 if n <= 125 else 2 if n <= 0xFFFF else 8
    if i < 2 + ext:
        return _("byte {i} (the {value}-bit extended length, big-endian)").format(
                   i=i, value=ext * 8)
    return _("byte {i} (the payload)").format(i=i)


def check_encode_frame(fn: object) -> Result:
    """``fn(opcode, payload)`` builds a server frame: FIN=1, unmasked, shortest length form."""
    name = N_("Exercise 3 (encoding a frame)")
    rng = random.Random()
    cases = [(op, rng.randbytes(n)) for op in (1, 2) for n in
             (0, 1, 125, 126, 127, 1000, 40_000, 65_535, 65_536, 70_000)]
    cases += [(op, rng.randbytes(n)) for op in (8, 9, 10) for n in (0, 2, 125)]
    cases.insert(0, (1, b"Hello"))
    case = ""
    try:
        takes(fn, 2, what="encode_frame")
        for op, payload in cases:
            case = f"encode_frame({op}, {len(payload):,} bytes)"
            got = call(fn, op, payload, what="encode_frame")
            if isinstance(got, bytearray):
                got = bytes(got)
            if not isinstance(got, bytes):
                return hint(name, _("encode_frame returned {name}; return bytes").format(
                                      name=type(got).__name__))
            want = fr.encode_frame(fr.Frame(op, payload), strict=False)
            if got != want:
                at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False))
                           if a != b),
                          min(len(got), len(want)))
                return hint(name, _("encode_frame({op}, {n:,} bytes): {value}, {value2}; want "
                                    "{want}... (RFC 6455 5.2)").format(
                                      op=op, n=len(payload), value=first_difference(got, want),
                                      value2=_byte_name(at, len(payload)), want=want[:10].hex(' ')))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("81 05 48 65 6c 6c 6f for 'Hello' (RFC 6455 5.7), and every length "
                          "form from 0 to 70,000 bytes for data and control opcodes"))


# --- what to reject ------------------------------------------------------------------------------

def header(opcode: int, *, length: int = 5, fin: bool = True, rsv1: bool = False,
           rsv2: bool = False, rsv3: bool = False, masked: bool = True) -> dict[str, Any]:
    """A header dict as parse_header returns it (for checks and experiments)."""
    ext = 0 if length <= 125 else 2 if length <= 0xFFFF else 8
    return {"fin": fin, "rsv1": rsv1, "rsv2": rsv2, "rsv3": rsv3, "opcode": opcode,
            "masked": masked, "length": length,
            "mask_key": b"\x37\xfa\x21\x3d" if masked else None,
            "header_size": 2 + ext + (4 if masked else 0)}


CHECK_CASES: tuple[tuple[str, dict[str, Any], int | None], ...] = (
    (N_("a masked text frame"), header(1), None),
    (N_("a first fragment (FIN=0)"), header(1, fin=False), None),
    (N_("a continuation frame (opcode 0)"), header(0), None),
    (N_("a binary frame of 70,000 bytes"), header(2, length=70_000), None),
    (N_("a ping of 125 bytes"), header(9, length=125), None),
    (N_("a pong"), header(10), None),
    (N_("a close"), header(8, length=2), None),
    (N_("RSV1 set"), header(1, rsv1=True), 1002),
    (N_("RSV2 set"), header(2, rsv2=True), 1002),
    (N_("RSV3 set"), header(9, rsv3=True), 1002),
    (N_("opcode 3 (reserved)"), header(3), 1002),
    (N_("opcode 7 (reserved)"), header(7), 1002),
    (N_("opcode 11 (reserved)"), header(11), 1002),
    (N_("opcode 15 (reserved)"), header(15), 1002),
    (N_("an unmasked text frame"), header(1, masked=False), 1002),
    (N_("a ping of 126 bytes"), header(9, length=126), 1002),
    (N_("a close of 200 bytes"), header(8, length=200), 1002),
    (N_("a fragmented ping (FIN=0)"), header(9, fin=False), 1002),
    (N_("a fragmented close (FIN=0)"), header(8, fin=False, length=2), 1002),
)

_CHECK_RULES = {
    "RSV": N_("no extension was negotiated: RSV1-3 must be 0 (RFC 6455 5.2)"),
    "opcode": N_("opcodes 3-7 and 11-15 are reserved (RFC 6455 5.2)"),
    "unmasked": N_("a client masks every frame; a server fails the connection otherwise (5.1)"),
    "ping of 126": N_("control frames carry at most 125 bytes (RFC 6455 5.5)"),
    "close of 200": N_("control frames carry at most 125 bytes (RFC 6455 5.5)"),
    "fragmented": N_("control frames are never fragmented: FIN must be 1 (RFC 6455 5.5)"),
}


def _rule(what: str) -> str:
    return translate(next((v for k, v in _CHECK_RULES.items() if k in what), ""))


def check_check_frame(fn: object) -> Result:
    """``fn(h)`` raises ``Fail(1002, reason)`` for a header RFC 6455 rejects, else returns."""
    name = N_("Exercise 4 (what to reject)")
    case = ""
    try:
        takes(fn, 1, what="check_frame")
        for label, h, want in CHECK_CASES:
            what = translate(label)
            case = _("for {what}").format(what=what)
            failed, got = _attempt(fn, dict(h), what="check_frame")
            if want is None and failed:
                return hint(name, _("{what} is valid, but check_frame raised Fail({code}, "
                                    "{reason!r})").format(
                                      what=what, code=got.code, reason=got.reason))
            if want is not None and not failed:
                return hint(name, _("{what}: check_frame let it through; raise Fail(1002, ...): "
                                    "{value}").format(what=what, value=_rule(label)))
            if want is not None and got.code != want:
                return hint(name, _("{what}: Fail({code}); a broken framing rule is a protocol "
                                    "error, 1002 (RFC 6455 7.4.1)").format(
                                      what=what, code=got.code))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("{value} valid headers pass and {value2} broken ones raise Fail(1002): "
                          "RSV bits, reserved opcodes, no mask, big or fragmented control "
                          "frames").format(
                            value=sum(w is None for _a, _b, w in CHECK_CASES),
                            value2=sum(w is not None for _a, _b, w in CHECK_CASES)))


# --- messages from fragments -------------------------------------------------------------------

_F = ("fail",)  # marks an expected Fail in the scenarios below


def _step(opcode: int, payload: bytes | str, fin: bool = True) -> tuple[dict[str, Any], bytes]:
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return header(opcode, length=len(data), fin=fin), data


CLEF = "𝄞".encode()
ASSEMBLE_CASES: tuple[tuple[str, tuple[tuple[tuple[dict[str, Any], bytes], Any], ...]], ...] = (
    ("one text frame 'Hello'", ((_step(1, "Hello"), "Hello"),)),
    ("one binary frame", ((_step(2, b"\x00\xff\x80"), b"\x00\xff\x80"),)),
    ("text in 3 fragments", ((_step(1, "Hel", False), None), (_step(0, "lo, ", False), None),
                             (_step(0, "world"), "Hello, world"))),
    ("binary in 2 fragments", ((_step(2, b"\x01\x02", False), None),
                               (_step(0, b"\x03"), b"\x01\x02\x03"))),
    ("two messages in a row", ((_step(1, "one", False), None), (_step(0, " two"), "one two"),
                               (_step(2, b"three"), b"three"))),
    ("empty fragments", ((_step(1, "", False), None), (_step(0, "abc", False), None),
                         (_step(0, ""), "abc"))),
    ("binary bytes that are not UTF-8", ((_step(2, b"\xc3\x28\xff"), b"\xc3\x28\xff"),)),
    ("a 4-byte character split across fragments",
     ((_step(1, CLEF[:2], False), None), (_step(0, CLEF[2:]), "𝄞"))),
    ("a continuation frame with no message open", ((_step(0, "orphan"), (*_F, 1002)),)),
    ("a new text frame inside a fragmented message",
     ((_step(1, "first", False), None), (_step(1, "second"), (*_F, 1002)))),
    ("a text frame with the byte 0xff", ((_step(1, b"not \xff UTF-8"), (*_F, 1007)),)),
    ("invalid UTF-8 in a first fragment (FIN=0)",
     ((_step(1, b"caf\xc3(", False), (*_F, 1007)),)),
    ("a character cut off at the end of a message", ((_step(1, CLEF[:3]), (*_F, 1007)),)),
)


def _show(value: object) -> str:
    if isinstance(value, tuple) and value[:1] == _F:
        return f"Fail({value[1]}, ...)"
    return repr(value)


def _assemble_problem(fn: object, steps: tuple[Any, ...]) -> str:
    state: dict[str, Any] = {}
    for i, ((h, payload), want) in enumerate(steps, 1):
        failed, got = _attempt(fn, state, dict(h), payload, what="assemble")
        frame = _("frame {i} (opcode {h}, FIN={value}, {payload!r})").format(
                    i=i, h=h['opcode'], value=int(h['fin']), payload=payload)
        if isinstance(want, tuple):
            if not failed:
                return _("{frame}: returned {got!r}; raise Fail({want}, ...)").format(
                           frame=frame, got=got, want=want[1])
            if got.code != want[1]:
                return _("{frame}: Fail({code}); the code for this is {want} (7.4.1)").format(
                           frame=frame, code=got.code, want=want[1])
            return ""
        if failed:
            return _("{frame}: raised Fail({code}, {reason!r}); it is valid").format(
                       frame=frame, code=got.code, reason=got.reason)
        if type(got) is not type(want) or got != want:
            return _("{frame}: returned {got!r}; expected {value}").format(
                       frame=frame, got=got, value=_show(want))
    return ""


_ASSEMBLE_WHY = {
    "one text frame": "a text message is a str: decode its UTF-8 (5.6)",
    "one binary frame": "binary messages are bytes: only text is decoded (5.6)",
    "3 fragments": "return None until the frame with FIN=1, then the whole message (5.4)",
    "2 fragments": "return None until the frame with FIN=1, then the whole message (5.4)",
    "in a row": "after a message, start afresh: the state holds one message at a time",
    "not UTF-8": "binary messages are bytes: only text is decoded (5.6)",
    "split": "decode across fragments: an incremental decoder, final=FIN (8.1)",
    "first fragment": "fail as soon as the bytes can never be UTF-8, not at the end (8.1)",
    "cut off": "at FIN the message must be complete UTF-8 (final=True) (8.1)",
    "no message open": "opcode 0 continues a message; with none open it is an error (5.4)",
    "inside": "until FIN, the next data frame must be a CONTINUATION (5.4)",
    "0xff": "text must be UTF-8: Fail(1007) (8.1, 7.4.1)",
}


def check_assemble(fn: object) -> Result:
    """``fn(state, h, payload)`` turns data frames into messages: None until FIN, then str
    (text) or bytes (binary); ``Fail`` 1002 for broken fragment order, 1007 for bad UTF-8."""
    name = N_("Exercise 5 (messages from fragments)")
    case = ""
    try:
        takes(fn, 3, what="assemble")
        for what, steps in ASSEMBLE_CASES:
            case = what
            problem = _assemble_problem(fn, steps)
            if problem:
                why = next((v for k, v in _ASSEMBLE_WHY.items() if k in what), "")
                return hint(name, f"{what}: {problem}" + (f". {why}" if why else ""))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("{n} sequences: messages whole from their fragments, text as str and "
                          "binary as bytes, 1002 for fragments out of order, 1007 for UTF-8 that "
                          "breaks, even mid-message (RFC 6455 5.4, 8.1)").format(
                            n=len(ASSEMBLE_CASES)))


# --- control frames ------------------------------------------------------------------------------

def _close_body(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


CONTROL_CASES: tuple[tuple[str, int, bytes, tuple[str, Any]], ...] = (
    ("an empty ping", 9, b"", ("pong", b"")),
    ("a ping of 125 bytes", 9, bytes(range(125)), ("pong", bytes(range(125)))),
    ("a ping 'are you there?'", 9, b"are you there?", ("pong", b"are you there?")),
    ("a pong", 10, b"unasked", ("none", None)),
    ("close 1000 'bye'", 8, _close_body(1000, b"bye"), ("close", 1000)),
    ("close without a code", 8, b"", ("close", None)),
    ("close 1001", 8, _close_body(1001), ("close", 1001)),
    ("close 1014", 8, _close_body(1014), ("close", 1014)),
    ("close 3000", 8, _close_body(3000), ("close", 3000)),
    ("close 4999", 8, _close_body(4999), ("close", 4999)),
    ("close with a 1-byte body", 8, b"\x03", ("fail", 1002)),
    ("close 999", 8, _close_body(999), ("fail", 1002)),
    ("close 1004", 8, _close_body(1004), ("fail", 1002)),
    ("close 1005", 8, _close_body(1005), ("fail", 1002)),
    ("close 1006", 8, _close_body(1006), ("fail", 1002)),
    ("close 1015", 8, _close_body(1015), ("fail", 1002)),
    ("close 2999", 8, _close_body(2999), ("fail", 1002)),
    ("close 5000", 8, _close_body(5000), ("fail", 1002)),
    ("close 1000 with a reason that is not UTF-8", 8, _close_body(1000, b"\xff"),
     ("fail", 1007)),
)


def _control_problem(failed: bool, got: Any, want: tuple[str, Any]) -> str:
    kind, value = want
    if kind == "fail":
        if not failed:
            return _("it was answered; raise Fail({value}, ...) (RFC 6455 5.5.1, 7.4)").format(
                       value=value)
        return "" if got.code == value else _("Fail({code}); the code for this is {value}").format(
                                                code=got.code, value=value)
    if failed:
        return _("raised Fail({code}, {reason!r}); it is valid").format(
                   code=got.code, reason=got.reason)
    if kind == "none":
        return "" if got is None else _("returned {got!r}; a pong needs no answer (5.5.3)").format(
                                          got=got)
    if not isinstance(got, (bytes, bytearray)):
        return _("returned {got!r}; return the frame to send, as bytes (encode_frame)").format(
                   got=got)
    try:
        frame, used = fr.decode_frame(bytes(got), require_mask=False)
    except (ProtocolError, NeedMoreData) as exc:
        return _("the answer {value} is not a valid server frame: {exc}").format(
                   value=bytes(got)[:12].hex(' '), exc=exc)
    if used != len(got):
        return _("the answer holds {value} bytes more than one frame").format(
                   value=len(got) - used)
    if kind == "pong":
        if frame.opcode != fr.Opcode.PONG:
            return _("answered with {frame}; a ping gets a PONG, opcode 10 (5.5.2)").format(
                       frame=frame)
        return "" if frame.payload == value else (
            _("the Pong carries {payload!r}; it must carry the Ping's payload (5.5.3)").format(
                payload=frame.payload[:20]))
    if frame.opcode != fr.Opcode.CLOSE:
        return _("answered with {frame}; a Close is answered with a CLOSE (5.5.1)").format(
                   frame=frame)
    code = frame.close_info()[0]
    if code != value and not (value is None and code == 1000):
        return _("answered Close {code}; echo the code received, {value} (5.5.1)").format(
                   code=code, value=value)
    return ""


def check_control(fn: object) -> Result:
    """``fn(h, payload)`` answers a control frame: a Pong for a Ping, None for a Pong, the
    Close answer for a Close, or ``Fail`` for a Close that breaks a rule."""
    name = N_("Exercise 6 (ping, pong and close)")
    case = ""
    try:
        takes(fn, 2, what="control")
        for what, op, payload, want in CONTROL_CASES:
            case = what
            failed, got = _attempt(fn, header(op, length=len(payload)), payload,
                                   what="control")
            problem = _control_problem(failed, got, want)
            if problem:
                return hint(name, _("{what}: {problem}").format(what=what, problem=problem))
    except StudentError as exc:
        return _failed(name, case, exc)
    closes = sum(w[0] == "close" for *_rest, w in CONTROL_CASES)
    wrong = sum(w[0] == "fail" for *_rest, w in CONTROL_CASES)
    return passed(name, _("pings answered with their payload, a pong left alone, {closes} closes "
                          "answered with their code and {wrong} broken ones refused with 1002 or "
                          "1007 (RFC 6455 5.5, 7.4)").format(closes=closes, wrong=wrong))


# --- the client part ---------------------------------------------------------------------------

def _responses(key: str) -> list[tuple[str, bytes, bool]]:
    ok = hs.build_response(key=key)
    other = hs.build_response(key=hs.make_key())
    lines = ok.split(b"\r\n")
    return [
        ("a valid 101", ok, True),
        ("a valid 101 with lower-case header names",
         b"\r\n".join([lines[0], *(ln.lower() if b"Accept" not in ln else
                                   b"sec-websocket-accept:" + ln.split(b":", 1)[1]
                                   for ln in lines[1:])]), True),
        ("a valid 101 with 'Connection: keep-alive, Upgrade'",
         ok.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"), True),
        ("200 OK (an ordinary web server)", ok.replace(b"101 Switching Protocols", b"200 OK"),
         False),
        ("a 101 without Upgrade: websocket", ok.replace(b"Upgrade: websocket\r\n", b""), False),
        ("a 101 without Connection: Upgrade", ok.replace(b"Connection: Upgrade\r\n", b""), False),
        ("a 101 whose Accept was computed for another key", other, False),
        ("a 101 whose Accept is the key itself",
         ok.replace(hs.accept_key(key).encode(), key.encode()), False),
        ("a 101 without Sec-WebSocket-Accept",
         b"\r\n".join(ln for ln in lines if not ln.startswith(b"Sec-WebSocket-Accept")), False),
    ]


def check_check_upgrade(fn: object) -> Result:
    """``fn(response, key)`` is True only for a 101 that proves the server read ``key``."""
    name = N_("Exercise 7 (the client's check of the answer)")
    case = ""
    try:
        takes(fn, 2, what="check_upgrade")
        for _attempt in range(3):
            key = hs.make_key()
            for what, response, want in _responses(key):
                case = f"for {what}"
                got = call(fn, response, key, what="check_upgrade")
                if not isinstance(got, bool):
                    return hint(name, _("{what}: returned {got!r}; return True or False").format(
                                          what=what, got=got))
                if got != want:
                    verdict = "accepted it" if got else "refused it"
                    return hint(name, _("{what}: you {verdict}; a client must {value} it (RFC "
                                        "6455 4.1, the client's checks 1-4)").format(
                                          what=what, verdict=verdict,
                                          value='accept' if want else 'refuse'))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("valid answers accepted (header names in any case, Connection as a "
                          "list), and 200, a missing Upgrade, Connection or Accept, and a wrong "
                          "Accept refused (RFC 6455 4.1)"))


def check_client_frame(fn: object) -> Result:
    """``fn(opcode, payload, key)`` builds a client frame: MASK=1, the key, the payload
    masked with it (RFC 6455 5.2, 5.3)."""
    name = N_("Exercise 8 (a client's masked frame)")
    rng = random.Random()
    cases = [(1, b"Hello", bytes.fromhex("37fa213d"))]
    cases += [(op, rng.randbytes(n), os.urandom(4)) for op in (1, 2)
              for n in (0, 1, 125, 126, 40_000, 65_535, 65_536)]
    cases += [(op, rng.randbytes(n), os.urandom(4)) for op in (8, 9, 10) for n in (0, 2, 125)]
    case = ""
    try:
        takes(fn, 3, what="client_frame")
        for op, payload, key in cases:
            case = _("client_frame({op}, {n:,} bytes, key {key})").format(
                       op=op, n=len(payload), key=key.hex(' '))
            got = call(fn, op, payload, key, what="client_frame")
            if isinstance(got, bytearray):
                got = bytes(got)
            if not isinstance(got, bytes):
                return hint(name, _("client_frame returned {name}; return bytes").format(
                                      name=type(got).__name__))
            want = fr.encode_frame(fr.Frame(op, payload, mask_key=key), strict=False)
            if got != want:
                head = len(want) - len(payload)
                at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False))
                           if a != b), min(len(got), len(want)))
                part = ("the header" if at < head - 4 else "the masking key"
                        if at < head else "the masked payload")
                return hint(name, _("client_frame({op}, {n:,} bytes, key {key}): {value}, in "
                                    "{part}; want {want}... (RFC 6455 5.2, 5.3)").format(
                                      op=op, n=len(payload), key=key.hex(' '),
                                      value=first_difference(got, want), part=part,
                                      want=want[:12].hex(' ')))
    except StudentError as exc:
        return _failed(name, case, exc)
    return passed(name, _("81 85 37 fa 21 3d 7f 9f 4d 51 58 for 'Hello' (RFC 6455 5.7), and "
                          "every length form, masked with the key given"))


# --- the whole server and the whole client -------------------------------------------------------

def check_server(server: object, *, timeout: float = 2.0) -> Result:
    """The conformance run against your running server: PASS when every case is OK."""
    name = N_("Your server, graded")
    if not isinstance(server, OwnServer):
        return hint(name, _("pass the server that own_server.start(...) returned"))
    report = conformance.run_conformance(server.url, timeout=timeout)
    c = report.counts
    if report.ok:
        return passed(name, _("all {n} cases OK in {seconds:.1f} s (RFC 6455 4.2, 5, 7, 8)").format(
                                n=len(report.results), seconds=report.seconds))
    crashes = "; ".join(dict.fromkeys(
        f"{e.piece} raised {type(e.error).__name__}" for e in server.errors))
    own = _("\nYour server's own errors: {crashes}").format(crashes=crashes) if crashes else ""
    first = report.results[0]
    if first.id == "1.1" and not first.ok:
        return hint(name, _("the opening handshake fails, so no other case can start: {got}. Fix "
                            "the handshake first (Exercise 1).{own}").format(
                              got=shown(first.got), own=own))
    worst = report.not_ok()
    lines = "\n".join(r.line() for r in worst[:3])
    more = _("\n... and {value} more").format(value=len(worst) - 3) if len(worst) > 3 else ""
    return hint(name, _("{c} OK, {c2} NON-STRICT, {c3} FAILED of {n} "
                        "cases:\n{lines}{more}{own}").format(
                          c=c['OK'], c2=c['NON-STRICT'], c3=c['FAILED'], n=len(report.results),
                          lines=lines, more=more, own=own))


def check_client(**pieces: Callable[..., Any]) -> Result:
    """Your client (``upgrade_request``, ``check_upgrade``, ``client_frame``, ``read_frame``,
    ``assemble``) talks to wslab's server: two messages echoed, then a clean close."""
    name = N_("Your client, talking to wslab's server")
    missing = [p for p in CLIENT_PIECES if p not in pieces]
    if missing:
        return hint(name, _("pass every piece: missing {value}").format(value=', '.join(missing)))
    server = serve(name="ex02a-client")
    try:
        messages = ["hello from a raw socket", bytes(range(200)), "é€𝄞" * 50]
        result = talk(server.url, pieces, messages)
    finally:
        server.stop()
    if result.error:
        return hint(name, _("{error} (after: {value})").format(
                              error=result.error, value='; '.join(result.lines[-3:]) or 'nothing'))
    if result.received != messages:
        closed = [ln for ln in result.lines if ln.startswith("< CLOSE")]
        why = _("; the server answered {closed}").format(closed=closed[0][2:]) if closed else ""
        return hint(name, _("sent {n} messages, got back {received!r}{why}").format(
                              n=len(messages), received=result.received, why=why))
    if result.close_code != 1000:
        return hint(name, _("the close ended with {close_code}, not 1000").format(
                              close_code=result.close_code))
    return passed(name, _("the upgrade, three masked messages (text, 200 bytes of binary, 300 "
                          "bytes of UTF-8) echoed, and a clean close 1000"))
