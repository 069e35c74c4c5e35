"""A conformance run for any ``ws://`` server, in the spirit of the Autobahn testsuite
(layer 3, labs).

:func:`run_conformance` opens one raw connection per case (:mod:`wslab.net.raw`: no
WebSocket library between the run and the wire), sends frames built by
:mod:`wslab.protocol.frames` (wrong ones on purpose, with ``strict=False``), reads the
server's answer through :class:`wslab.protocol.receiver.Receiver` (so every frame the
server sends is held to the client's receiving rules too) and grades each case:

* **OK**: the server did what RFC 6455 requires;
* **NON-STRICT**: it broke a SHOULD, not a MUST (a failure closed with another code than
  the one the RFC names, the connection dropped without a Close frame where 7.1.7 says
  it SHOULD send one, invalid UTF-8 noticed only at the end of the message, a pong sent
  late, TCP left open after the closing handshake);
* **FAILED**: it broke a MUST (no echo, a wrong echo, a ping not answered, a Close not
  answered, a rule violation accepted, a frame of its own that breaks a rule).

The data cases expect an echo server: every message comes back, text as text, binary
as binary (wslab's ``/echo``, the notebook's own server, an echo server in any language).
Each wait is bounded (``timeout`` per wait, the whole run by the number of cases).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from ..i18n import N_, Later, _, later, shown
from ..net import loop as lab
from ..net.errors import ConnectionFailed, LabTimeout
from ..net.raw import RawConnection, open_websocket
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.assembler import Message
from ..protocol.errors import HandshakeError, NeedMoreData, ProtocolError
from ..protocol.receiver import (
    CloseReceived,
    PingReceived,
    PongReceived,
    ProtocolViolation,
    Receiver,
    Role,
)
from ..protocol.state import State
from ..protocol.uri import parse_ws_uri

__all__ = ["CASES", "FAILED", "NON_STRICT", "OK", "Case", "CaseResult", "ConformanceReport",
           "case_table", "run_conformance"]

OK, NON_STRICT, FAILED = "OK", "NON-STRICT", "FAILED"
OUTCOMES = (OK, NON_STRICT, FAILED)
Op = fr.Opcode


# --- what came back --------------------------------------------------------------------------

@dataclass(frozen=True)
class _TcpClosed:
    """The server ended the TCP connection (FIN or RST)."""

    how: str = later(N_("closed"))


@dataclass(frozen=True)
class _Silent:
    """Nothing arrived within the wait."""

    seconds: float


@dataclass(frozen=True)
class _BadFrame:
    """The server sent bytes that are not a valid frame (its rule broken, in ``error``)."""

    error: ProtocolError


_Event = (Message | PingReceived | PongReceived | CloseReceived | ProtocolViolation
          | _TcpClosed | _Silent | _BadFrame)
_TERMINAL = (CloseReceived, ProtocolViolation, _TcpClosed, _Silent, _BadFrame)


def _plain(text: str) -> str:
    """Characters beyond the BMP (U+10000 and up) as escapes: few fonts draw them."""
    return "".join(c if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in text)


def _short(data: str | bytes, limit: int = 24) -> str:
    if len(data) <= limit:
        shown = repr(data)
    else:
        shown = f"{data[:limit]!r}..."
    return _plain(shown) if isinstance(data, str) else shown


def _size(data: str | bytes) -> str:
    n = len(data.encode("utf-8") if isinstance(data, str) else data)
    return later(N_("{n:,} byte"), n=n) if n == 1 else later(N_("{n:,} bytes"), n=n)


def _data(opcode: int, data: str | bytes) -> str:
    """'TEXT 'abc' (3 bytes)', or 'BINARY of 40,000 bytes' for a long one."""
    name = Op(opcode).name if opcode in (1, 2) else f"opcode {opcode}"
    if len(data) <= 24:
        return later(N_("{name} {data} ({size})"), name=name, data=_short(data), size=_size(data))
    return later(N_("{name} of {size} ({data})"), name=name, size=_size(data),
                 data=_short(data, 12))


def describe(event: _Event) -> str:
    """One short phrase for what the server did."""
    if isinstance(event, Message):
        return _data(event.opcode, event.data)
    if isinstance(event, PingReceived):
        return f"Ping {_short(event.payload)}"
    if isinstance(event, PongReceived):
        return f"Pong {_short(event.payload)}"
    if isinstance(event, CloseReceived):
        if event.code is None:
            return N_("Close without a code")
        return f"Close {event.code}" + (f" {_short(event.reason, 90)}" if event.reason else "")
    if isinstance(event, ProtocolViolation):
        return later(N_("a frame that breaks a rule: {detail}"), detail=event.detail)
    if isinstance(event, _BadFrame):
        return later(N_("bytes that are not a valid frame: {error}"), error=event.error)
    if isinstance(event, _TcpClosed):
        how = event.how if isinstance(event.how, Later) else later(event.how)
        return later(N_("TCP {how} without a Close frame"), how=how)
    return later(N_("nothing within {seconds:.1f} s"), seconds=event.seconds)


def _phrase(text: str) -> Later:
    """``text`` as a value of a message: a :class:`Later` (translated when shown)."""
    return text if isinstance(text, Later) else later(text)


def _story(events: Sequence[_Event]) -> str:
    """'Pong b'', then TEXT 'abc' (3 bytes)': each event, in order (read in any language)."""
    if not events:
        return later(N_("nothing"))
    story = _phrase(describe(events[0]))
    for e in events[1:]:
        story = later(N_("{before}, then {after}"), before=story, after=_phrase(describe(e)))
    return story


# --- one connection under test -----------------------------------------------------------------

def _key() -> bytes:
    return os.urandom(4)


def frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv1: bool = False,
          rsv2: bool = False, rsv3: bool = False, masked: bool = True) -> fr.Frame:
    """A client frame (masked with a fresh key unless ``masked=False``), any opcode."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return fr.Frame(cast(Op, opcode), data, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3,
                    mask_key=_key() if masked else None)


class _Probe:
    """One raw connection: send client frames, read the server's events, with time bounds."""

    def __init__(self, conn: RawConnection, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.receiver = Receiver(Role.CLIENT)
        self.receiver.handshake_done()
        self.sent: list[fr.Frame] = []
        self.received: list[fr.Frame] = []
        self.events: list[_Event] = []
        self._pending: list[_Event] = []
        self._ended = False          # the stream can give nothing more
        self.close_sent = False
        self.server_closed_tcp: bool | None = None

    async def send(self, *frames: fr.Frame | bytes) -> None:
        data = b""
        for f in frames:
            if isinstance(f, fr.Frame):
                self.sent.append(f)
                data += fr.encode_frame(f, strict=False)
                if f.opcode == Op.CLOSE:
                    self._note_close_sent()
            else:
                data += f
        try:
            await self.conn.send(data)
        except OSError:
            self._ended = True

    def _note_close_sent(self) -> None:
        if not self.close_sent and self.receiver.state in (State.OPEN, State.CLOSING):
            self.receiver.close_sent()
        self.close_sent = True

    async def next(self, timeout: float | None = None) -> _Event:
        """The server's next event (a terminal one repeats once the stream is over)."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self._pending:
            if self._ended:
                return self.events[-1] if self.events else _TcpClosed()
            await self._read(max(0.0, deadline - time.monotonic()), wait)
        event = self._pending.pop(0)
        self.events.append(event)
        if isinstance(event, _TERMINAL):
            self._ended = True
            self._pending.clear()
        return event

    async def _read(self, remaining: float, wait: float) -> None:
        try:
            got = await self.conn.read_frame(require_mask=None, timeout=remaining)
        except LabTimeout:
            self._pending.append(_Silent(wait))
            return
        except ProtocolError as exc:
            self._pending.append(_BadFrame(exc))
            return
        except OSError as exc:
            self._pending.append(_TcpClosed(f"reset ({type(exc).__name__})"))
            return
        if got is None:
            self.receiver.connection_lost()
            self.server_closed_tcp = True
            self._pending.append(_TcpClosed())
            return
        f, raw = got
        self.received.append(f)
        self.receiver.receive_data(raw)
        self._pending += self.receiver.events_received()

    async def collect(self, *, messages: int = 0, pongs: int = 0,
                      timeout: float | None = None) -> list[_Event]:
        """Events until ``messages`` data messages and ``pongs`` pongs came, or the end."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        got: list[_Event] = []
        while (sum(isinstance(e, Message) for e in got) < messages
               or sum(isinstance(e, PongReceived) for e in got) < pongs):
            event = await self.next(max(0.0, deadline - time.monotonic()))
            got.append(event)
            if isinstance(event, _TERMINAL):
                break
        return got

    async def until_end(self, timeout: float | None = None) -> list[_Event]:
        """Every event until a Close, a broken rule, the end of TCP or silence."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        got: list[_Event] = []
        while not got or not isinstance(got[-1], _TERMINAL):
            got.append(await self.next(max(0.0, deadline - time.monotonic())))
        return got

    def resume(self) -> None:
        """Forget a silence at the end, to send more and read on."""
        if self.events and isinstance(self.events[-1], _Silent):
            self.events.pop()
            self._ended = False

    async def wait_tcp_close(self, timeout: float) -> bool:
        """After the closing handshake: True when the server closes TCP within ``timeout``."""
        if self.server_closed_tcp is not None:
            return self.server_closed_tcp
        try:
            rest = await self.conn.read_exactly(1 << 16, timeout=timeout)
        except LabTimeout:
            self.server_closed_tcp = False
            return False
        except OSError:
            rest = b""
        self.server_closed_tcp = len(rest) < 1 << 16
        return self.server_closed_tcp

    async def finish(self) -> None:
        """Answer the server's Close, or say goodbye; then drop the connection (bounded)."""
        wait = min(self.timeout, 1.0)
        last = self.events[-1] if self.events else None
        try:
            closing = any(isinstance(e, CloseReceived) for e in self.events)
            if not self.close_sent and not isinstance(last, (_TcpClosed, _BadFrame)):
                await self.send(fr.Frame.close(1000, mask_key=_key()))
            if not closing and not self._ended:
                await self.until_end(wait)
            await self.wait_tcp_close(wait)
        except (OSError, LabTimeout):
            pass
        finally:
            await self.conn.close()

    def masked_echo(self) -> bool:
        """True if a frame came back carrying a sent payload still masked (RFC 6455 5.3)."""
        masked = {fr.mask(f.payload, f.mask_key) for f in self.sent
                  if f.mask_key is not None and len(f.payload) >= 4}
        return any(f.payload in masked for f in self.received)


# --- verdicts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    outcome: str
    got: str
    note: str = ""


@dataclass(frozen=True)
class Case:
    """One conformance case: what is sent, what the RFC requires back, and where it says so.

    ``hint`` is what to look at when a server fails it.
    """

    id: str
    group: str
    title: str
    expected: str
    rfc: str
    hint: str
    run: Callable[[str, float], Awaitable[Verdict]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case against one server."""

    id: str
    group: str
    title: str
    outcome: str
    expected: str
    got: str
    rfc: str
    note: str = ""
    hint: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    def line(self) -> str:
        """One line: the case, the outcome, the expectation, what came back, the section."""
        text = _("{id} {title}: {outcome}: expected {expected}; got {got} (RFC 6455 {rfc})").format(
            id=self.id, title=shown(self.title), outcome=self.outcome,
            expected=shown(self.expected), got=shown(self.got), rfc=self.rfc)
        if self.note:
            text += f"; {shown(self.note)}"
        if self.outcome != OK and self.hint:
            text += _(". Look at: {hint}").format(hint=shown(self.hint))
        return text


@dataclass
class ConformanceReport:
    """Every case's result for one server (``url``), in the order they ran."""

    url: str
    results: list[CaseResult]
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(r.outcome == o for r in self.results) for o in OUTCOMES}

    @property
    def ok(self) -> bool:
        """True when every case is OK."""
        return bool(self.results) and all(r.ok for r in self.results)

    def not_ok(self) -> list[CaseResult]:
        """The cases that are NON-STRICT or FAILED."""
        return [r for r in self.results if not r.ok]

    def __getitem__(self, case_id: str) -> CaseResult:
        for r in self.results:
            if r.id == case_id:
                return r
        raise KeyError(f"no case {case_id!r} in this report")

    def summary(self) -> str:
        c = self.counts
        return _("{url}: {ok} OK, {non_strict} NON-STRICT, {failed} FAILED of {n} cases in "
                 "{seconds:.1f} s").format(url=self.url, ok=c[OK], non_strict=c[NON_STRICT],
                                           failed=c[FAILED], n=len(self.results),
                                           seconds=self.seconds)

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(r.line() for r in self.results)])

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


# --- judging ---------------------------------------------------------------------------------

def _same(event: _Event, opcode: int, data: str | bytes) -> bool:
    return isinstance(event, Message) and event.opcode == opcode and event.data == data


def _mismatch(event: _Event, opcode: int, data: str | bytes) -> str:
    """Why a message is not the echo of ``data``."""
    if not isinstance(event, Message):
        return ""
    if event.opcode != opcode:
        return later(N_("the echo is {got}, the message was {sent} (5.6)"),
                     got=Op(event.opcode).name, sent=Op(opcode).name)
    got, want = event.data, data
    if len(got) != len(want):
        return later(N_("the echo has {got}, the message {sent}"), got=_size(got),
                     sent=_size(want))
    at = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    return later(N_("the echo differs from the message at position {at}"), at=at)


def judge_echo(probe: _Probe, events: list[_Event], want: list[tuple[int, str | bytes]],
               pongs: Sequence[bytes] = (), *, pongs_first: bool = False) -> Verdict:
    """The messages ``want`` must come back in order, and one Pong per ping in ``pongs``."""
    messages = [e for e in events if isinstance(e, Message)]
    got_pongs = [e.payload for e in events if isinstance(e, PongReceived)]
    story = _story(events)
    for i, (opcode, data) in enumerate(want):
        if i >= len(messages) or not _same(messages[i], opcode, data):
            why = _mismatch(messages[i], opcode, data) if i < len(messages) else ""
            if probe.masked_echo():
                why = N_("the payload came back still masked: unmask it with the key (5.3)")
            return Verdict(FAILED, story, why)
    if list(got_pongs[:len(pongs)]) != list(pongs):
        if len(got_pongs) < len(pongs):
            return Verdict(FAILED, story, N_("every Ping must be answered with a Pong (5.5.2)"))
        return Verdict(FAILED, story, N_("a Pong carries the Ping's payload (5.5.3)"))
    extra = len(messages) - len(want)
    if extra > 0:
        return Verdict(FAILED, story, later(N_("{extra} message(s) more than were sent"),
                                            extra=extra))
    if pongs_first and pongs:
        last_pong = max(i for i, e in enumerate(events) if isinstance(e, PongReceived))
        first_message = min(i for i, e in enumerate(events) if isinstance(e, Message))
        if last_pong > first_message:
            return Verdict(NON_STRICT, story, N_("a Pong SHOULD be sent as soon as practical, "
                                              "before the rest of the message arrives (5.5.2)"))
    if len(got_pongs) > len(pongs):
        return Verdict(NON_STRICT, story, N_("a Pong nobody asked for: an unsolicited Pong "
                                          "expects no answer (5.5.3)"))
    return Verdict(OK, story)


_FAILURE_CODES = {1002, 1003, 1007, 1008, 1009, 1010, 1011}


def judge_fail(events: list[_Event], code: int) -> Verdict:
    """The server must fail the connection, with a Close ``code`` (7.1.7, 7.4.1)."""
    story = _story(events)
    end = events[-1] if events else _Silent(0)
    data = [e for e in events if isinstance(e, (Message, PongReceived))]
    if data:
        return Verdict(FAILED, story, N_("the server went on as if the frame were valid; it must "
                                      "fail the connection (7.1.7)"))
    if isinstance(end, CloseReceived):
        if end.code == code:
            return Verdict(OK, story)
        if end.code in _FAILURE_CODES:
            return Verdict(NON_STRICT, story, later(
                N_("the connection was failed, but with {got} where the RFC names {code} "
                   "(7.4.1)"), got=end.code, code=code))
        if end.code is None:
            return Verdict(FAILED, story, later(N_("a Close without a code does not say the "
                                                   "client broke a rule; {code} does (7.4.1)"),
                                                code=code))
        return Verdict(FAILED, story, later(N_("a Close {got} does not say the client broke a "
                                               "rule; {code} does (7.4.1)"),
                                            got=end.code, code=code))
    if isinstance(end, _TcpClosed):
        return Verdict(NON_STRICT, story, later(N_("the connection was dropped; it SHOULD first "
                                                    "send a Close with {code} (7.1.7)"),
                                                 code=code))
    if isinstance(end, (ProtocolViolation, _BadFrame)):
        return Verdict(FAILED, story, N_("the server's own frame breaks a rule"))
    return Verdict(FAILED, story, N_("the server did not fail the connection (7.1.7)"))


async def judge_close_answer(probe: _Probe, events: list[_Event], sent_code: int | None
                             ) -> Verdict:
    """A Close must be answered with a Close (5.5.1), then the server closes TCP (7.1.1)."""
    story = _story(events)
    end = events[-1] if events else _Silent(0)
    if any(isinstance(e, (Message, PongReceived)) for e in events):
        return Verdict(FAILED, story, N_("nothing but a Close may answer a Close; a message "
                                      "sent after the Close frame is not processed (5.5.1)"))
    if not isinstance(end, CloseReceived):
        why = ("the server's own frame breaks a rule"
               if isinstance(end, (ProtocolViolation, _BadFrame))
               else "a Close MUST be answered with a Close (5.5.1)")
        return Verdict(FAILED, story, why)
    note = ""
    if sent_code is not None and end.code not in (sent_code, None, 1000):
        note = later(N_("it typically echoes the code it received, {code} (5.5.1)"),
                     code=sent_code)
    if not await probe.wait_tcp_close(probe.timeout):
        return Verdict(NON_STRICT, later(N_("{story}, TCP left open"), story=story),
                       N_("after the closing handshake the server SHOULD close TCP first (7.1.1)"))
    return Verdict(OK, later(N_("{story}, then TCP closed"), story=story), note)


# --- the cases ---------------------------------------------------------------------------------

async def _open(url: str, timeout: float) -> _Probe:
    conn, _request, head, key = await open_websocket(url, timeout=timeout)
    try:
        hs.check_response(head, key)
    except (HandshakeError, NeedMoreData) as exc:
        await conn.close()
        status = hs.status_of(head)
        raise ConnectionFailed(url, f"the opening handshake failed: {exc}",
                               status=status) from None
    return _Probe(conn, timeout)


def _echo(frames: Callable[[], Sequence[fr.Frame | bytes]], want: list[tuple[int, str | bytes]],
          pongs: Sequence[bytes] = (), *, pongs_first: bool = False
          ) -> Callable[[str, float], Awaitable[Verdict]]:
    async def run(url: str, timeout: float) -> Verdict:
        probe = await _open(url, timeout)
        try:
            await probe.send(*frames())
            events = await probe.collect(messages=len(want), pongs=len(pongs))
            return judge_echo(probe, events, want, pongs, pongs_first=pongs_first)
        finally:
            await probe.finish()
    return run


def _fail(frames: Callable[[], Sequence[fr.Frame | bytes]], code: int
          ) -> Callable[[str, float], Awaitable[Verdict]]:
    async def run(url: str, timeout: float) -> Verdict:
        probe = await _open(url, timeout)
        try:
            await probe.send(*frames())
            return judge_fail(await probe.until_end(), code)
        finally:
            await probe.finish()
    return run


def _close(payload: bytes, then: Sequence[fr.Frame] = ()
           ) -> Callable[[str, float], Awaitable[Verdict]]:
    sent_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None

    async def run(url: str, timeout: float) -> Verdict:
        probe = await _open(url, timeout)
        try:
            await probe.send(frame(Op.CLOSE, payload), *then)
            return await judge_close_answer(probe, await probe.until_end(), sent_code)
        finally:
            await probe.finish()
    return run


async def _fail_fast_utf8(url: str, timeout: float) -> Verdict:
    """Invalid UTF-8 in the first fragment: fail now, not at the end of the message (8.1)."""
    probe = await _open(url, timeout)
    try:
        await probe.send(frame(Op.TEXT, b"caf\xc3(", fin=False))
        events = await probe.until_end()
        if isinstance(events[-1], _Silent):  # not yet: send the rest, see if it fails then
            probe.resume()
            await probe.send(frame(Op.CONTINUATION, b" au lait"))
            after = judge_fail(await probe.until_end(), 1007)
            if after.outcome == FAILED:
                return after
            return Verdict(NON_STRICT, later(N_("nothing within {seconds:.1f} s, then {got} "
                                                "after the last fragment"),
                                             seconds=timeout, got=_phrase(after.got)),
                           N_("invalid UTF-8 MUST fail the connection once it is seen (8.1); "
                           "waiting for the whole message lets a peer stream garbage"))
        return judge_fail(events, 1007)
    finally:
        await probe.finish()


async def _handshake_ok(url: str, timeout: float) -> Verdict:
    conn, _req, head, key = await open_websocket(url, timeout=timeout)
    try:
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1") or N_("no answer")
        try:
            hs.check_response(head, key)
        except (HandshakeError, NeedMoreData) as exc:
            return Verdict(FAILED, status_line, str(exc))
        return Verdict(OK, later(N_("{status}, Sec-WebSocket-Accept matches the key"),
                                 status=status_line))
    finally:
        await conn.close()


def _refused(*, version: int | None = 13, with_key: bool = True, status: int,
             header: tuple[str, str] | None = None
             ) -> Callable[[str, float], Awaitable[Verdict]]:
    async def run(url: str, timeout: float) -> Verdict:
        conn = await RawConnection.open(url, timeout=timeout)
        try:
            request = hs.build_request(host=conn.target.host_header, path=conn.target.path,
                                       key=hs.make_key() if with_key else None, version=version)
            await conn.send(request)
            try:
                head = await conn.read_head(timeout=timeout)
            except LabTimeout:
                return Verdict(FAILED, later(N_("no answer within {seconds:g} s"),
                                             seconds=timeout),
                               N_("a server answers every request"))
            except OSError:
                head = b""
            return _judge_refusal(head, status, header)
        finally:
            await conn.close()
    return run


def _judge_refusal(head: bytes, status: int, header: tuple[str, str] | None) -> Verdict:
    got = hs.status_of(head)
    line = (head.split(b"\r\n", 1)[0].decode("latin-1") if head
            else N_("TCP closed, no answer"))
    if got is None or got == 101 or got < 400:
        return Verdict(FAILED, line, N_("the handshake MUST be refused with an HTTP error"))
    if got >= 500:
        return Verdict(FAILED, line, N_("a 5xx says the server failed; the request is at fault: "
                                     "answer with a 4xx"))
    if header is not None:
        name, value = header
        have = [ln.partition(b":")[2].strip().decode("latin-1") for ln in head.split(b"\r\n")
                if ln.partition(b":")[0].strip().lower() == name.lower().encode()]
        if value not in have:
            return Verdict(FAILED, later(N_("{line}, no {name}"), line=_phrase(line), name=name),
                           later(N_("the refusal MUST carry {name}: {value}, the version the "
                                    "server speaks (4.2.2 /version/)"), name=name, value=value))
    note = "" if got == status else later(N_("{status} is the status the RFC suggests"),
                                          status=status)
    return Verdict(OK, line, note)


def _text(n: int) -> str:
    return ("wslab conformance, text of each length form! " * (n // 45 + 1))[:n]


def _binary(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]


_C1002, _C1007 = N_("Close 1002"), N_("Close 1007")  # what a case expects

_LENGTH_HINT = {
    "7": N_("a payload of 0-125 bytes is announced in the 7-bit Payload len field; unmask the "
            "payload (5.3)"),
    "16": N_("Payload len 126: the next 2 bytes are the length, unsigned and big-endian "
             "(40,000 = 0x9c40 has its top bit set: read as signed it is negative); a server "
             "also answers with the shortest length form; unmask the payload (5.3)"),
    "64": N_("Payload len 127: the next 8 bytes are the length, big-endian; and an answer of "
             "65,536 bytes or more needs the 64-bit form; unmask the payload (5.3)"),
}


def _frames_of(opcode: int, payload: str | bytes) -> list[fr.Frame | bytes]:
    return [frame(opcode, payload)]


def _length_cases() -> list[Case]:
    group = N_("length forms")
    cases = []
    sizes = [(Op.TEXT, 0, "7"), (Op.TEXT, 125, "7"), (Op.TEXT, 126, "16"),
             (Op.TEXT, 40_000, "16"), (Op.TEXT, 65_536, "64"), (Op.BINARY, 125, "7"),
             (Op.BINARY, 126, "16"), (Op.BINARY, 40_000, "16"), (Op.BINARY, 65_535, "16"),
             (Op.BINARY, 100_000, "64")]
    for i, (op, n, form) in enumerate(sizes, 1):
        data: str | bytes = _text(n) if op == Op.TEXT else _binary(n)
        name = later(N_("text")) if op == Op.TEXT else later(N_("binary"))
        cases.append(Case(
            f"2.{i}", group,
            later(N_("{name}, {n:,} bytes ({form}-bit length)"), name=name, n=n, form=form),
            later(N_("the same {name} message back"), name=name), "5.2, 5.6",
            _LENGTH_HINT[form],
            _echo(functools.partial(_frames_of, op, data), [(op, data)])))
    return cases


def _fragment_cases() -> list[Case]:
    group = N_("fragmentation")
    ping1, ping2 = b"between fragments 1", b"between fragments 2"
    bin_msg = _binary(300)
    frag = N_("reassemble: a message is its first frame's opcode with FIN=0, CONTINUATION "
              "frames, the last one has FIN=1 (5.4)")
    return [
        Case("3.1", group, N_("text in 3 fragments"), N_("one text message 'Hello, world'"),
             "5.4", frag,
             _echo(lambda: [frame(Op.TEXT, "Hel", fin=False),
                            frame(Op.CONTINUATION, "lo, ", fin=False),
                            frame(Op.CONTINUATION, "world")], [(Op.TEXT, "Hello, world")])),
        Case("3.2", group, N_("binary in 2 fragments, a ping between them"),
             N_("a Pong with the ping's payload, then the binary message"), "5.4, 5.5.2",
             N_("control frames may come between fragments: answer the ping at once and keep "
             "the fragments (5.4)"),
             _echo(lambda: [frame(Op.BINARY, bin_msg[:100], fin=False), frame(Op.PING, ping1),
                            frame(Op.CONTINUATION, bin_msg[100:])],
                   [(Op.BINARY, bin_msg)], [ping1], pongs_first=True)),
        Case("3.3", group, N_("text in 3 fragments, a ping after each of the first two"),
             N_("two Pongs, then 'fragments and pings'"), "5.4, 5.5.2",
             N_("answer each ping with a Pong carrying its payload, between fragments too"),
             _echo(lambda: [frame(Op.TEXT, "fragments ", fin=False), frame(Op.PING, ping1),
                            frame(Op.CONTINUATION, "and ", fin=False), frame(Op.PING, ping2),
                            frame(Op.CONTINUATION, "pings")],
                   [(Op.TEXT, "fragments and pings")], [ping1, ping2], pongs_first=True)),
        Case("3.4", group, N_("empty fragments (first and last)"), N_("one text message "
             "'abc'"), "5.4", N_("a fragment may be empty; FIN on the last one ends the message"),
             _echo(lambda: [frame(Op.TEXT, "", fin=False),
                            frame(Op.CONTINUATION, "abc", fin=False),
                            frame(Op.CONTINUATION, "")], [(Op.TEXT, "abc")])),
        Case("3.5", group, N_("a continuation frame with no message to continue"),
             _C1002, "5.4, 7.4.1", N_("opcode 0 is valid only inside a fragmented message"),
             _fail(lambda: [frame(Op.CONTINUATION, "orphan")], 1002)),
        Case("3.6", group, N_("a new text frame inside a fragmented message"),
             _C1002, "5.4, 7.4.1",
             N_("until FIN, the next data frame of a message must be a CONTINUATION"),
             _fail(lambda: [frame(Op.TEXT, "first ", fin=False), frame(Op.TEXT, "second")],
                   1002)),
        Case("3.7", group, N_("a fragmented ping (FIN=0)"), _C1002, "5.5, 7.4.1",
             N_("control frames MUST NOT be fragmented: FIN must be 1"),
             _fail(lambda: [frame(Op.PING, b"half", fin=False)], 1002)),
    ]


def _control_cases() -> list[Case]:
    group = N_("control frames")
    big = _binary(125)
    return [
        Case("4.1", group, N_("ping, empty"), N_("a Pong, empty"), "5.5.2, 5.5.3",
             N_("answer a Ping (opcode 9) with a Pong (opcode 10) carrying the same payload"),
             _echo(lambda: [frame(Op.PING)], [], [b""])),
        Case("4.2", group, N_("ping of 125 bytes (the most a control frame holds)"),
             N_("a Pong with the same 125 bytes"), "5.5, 5.5.2, 5.5.3",
             N_("the Pong's payload is exactly the Ping's (application data)"),
             _echo(lambda: [frame(Op.PING, big)], [], [big])),
        Case("4.3", group, N_("ping of 126 bytes"), _C1002, "5.5, 7.4.1",
             N_("control frames carry at most 125 bytes: Payload len 126 or 127 is a protocol "
             "error"),
             _fail(lambda: [frame(Op.PING, _binary(126))], 1002)),
        Case("4.4", group, N_("close with a 126-byte body"), _C1002, "5.5, 7.4.1",
             N_("a Close frame is a control frame: at most 125 bytes"),
             _fail(lambda: [frame(Op.CLOSE, b"\x03\xe8" + b"x" * 124)], 1002)),
        Case("4.5", group, N_("an unsolicited pong, then text"),
             N_("only the text back, no answer to the pong"), "5.5.3",
             N_("a Pong nobody asked for needs no answer; the connection goes on"),
             _echo(lambda: [frame(Op.PONG, b"unasked"), frame(Op.TEXT, "still here")],
                   [(Op.TEXT, "still here")])),
    ]


def _reserved_cases() -> list[Case]:
    group = N_("reserved bits and opcodes")
    rsv = N_("no extension was negotiated, so RSV1-3 must be 0 (5.2)")
    return [
        Case("5.1", group, N_("RSV1 set on a text frame"), _C1002,
             "5.2", rsv, _fail(lambda: [frame(Op.TEXT, "rsv1", rsv1=True)], 1002)),
        Case("5.2", group, N_("RSV2 set on a binary frame"), _C1002,
             "5.2", rsv, _fail(lambda: [frame(Op.BINARY, b"rsv2", rsv2=True)], 1002)),
        Case("5.3", group, N_("RSV3 set on a ping"), _C1002, "5.2",
             rsv, _fail(lambda: [frame(Op.PING, b"rsv3", rsv3=True)], 1002)),
        Case("5.4", group, N_("opcode 0x3 (reserved data opcode)"),
             _C1002, "5.2", N_("opcodes 3-7 and 11-15 are reserved: fail the connection"),
             _fail(lambda: [frame(3, b"reserved")], 1002)),
        Case("5.5", group, N_("opcode 0xB (reserved control opcode)"),
             _C1002, "5.2", N_("opcodes 3-7 and 11-15 are reserved: fail the connection"),
             _fail(lambda: [frame(0xB)], 1002)),
        Case("5.6", group, N_("an unmasked frame from the client"),
             _C1002, "5.1", N_("a server MUST fail the connection on an unmasked frame"),
             _fail(lambda: [frame(Op.TEXT, "no mask", masked=False)], 1002)),
    ]


def _utf8_cases() -> list[Case]:
    group = N_("UTF-8")
    mixed = "A é € 𝄞 (1, 2, 3 and 4 bytes)"
    clef = "𝄞".encode()
    return [
        Case("6.1", group, N_("text with 1- to 4-byte characters"), N_("the same text back"),
             "5.6, 8.1", N_("decode the whole message as UTF-8, encode the echo as UTF-8"),
             _echo(lambda: [frame(Op.TEXT, mixed)], [(Op.TEXT, mixed)])),
        Case("6.2", group, N_("a 4-byte character split across two fragments"),
             N_("the text back: U+1D11E, then ' split'"), "5.4, 8.1",
             N_("UTF-8 is checked across fragment boundaries: a character may start in one "
             "fragment and end in the next"),
             _echo(lambda: [frame(Op.TEXT, clef[:2], fin=False),
                            frame(Op.CONTINUATION, clef[2:] + b" split")],
                   [(Op.TEXT, "𝄞 split")])),
        Case("6.3", group, N_("a text frame with the byte 0xff"), _C1007, "8.1, 7.4.1",
             N_("text MUST be valid UTF-8; 1007 is the code for it"),
             _fail(lambda: [frame(Op.TEXT, b"not \xff UTF-8")], 1007)),
        Case("6.4", group, N_("a text frame with an encoded surrogate (ed a0 80)"), _C1007,
             "8.1, 7.4.1", N_("UTF-8 never encodes U+D800-U+DFFF (RFC 3629 3)"),
             _fail(lambda: [frame(Op.TEXT, b"\xed\xa0\x80")], 1007)),
        Case("6.5", group, N_("invalid UTF-8 in the first fragment, the rest held back"),
             N_("Close 1007 before the last fragment"), "8.1, 7.4.1",
             N_("check each fragment as it arrives (an incremental decoder): 'caf' + c3 + '(' "
             "can never become valid"), _fail_fast_utf8),
        Case("6.6", group, N_("invalid UTF-8 in the last fragment"), _C1007, "8.1, 7.4.1",
             N_("the whole message must be valid UTF-8, every fragment of it"),
             _fail(lambda: [frame(Op.TEXT, "valid start, ", fin=False),
                            frame(Op.CONTINUATION, b"then \xc0\xaf")], 1007)),
    ]


def _code(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def _close_cases() -> list[Case]:
    group = N_("closing")
    answer = N_("answer a Close with a Close (echo its code), then close TCP; never send 1005 "
              "or another code reserved for local use")
    cases = [
        Case("7.1", group, N_("close 1000 'bye'"), N_("a Close back, then the server closes TCP"),
             "5.5.1, 7.1.1", answer, _close(_code(1000, b"bye"))),
        Case("7.2", group, N_("close without a code (empty body)"),
             N_("a Close back (empty or 1000, never 1005 on the wire)"), "5.5.1, 7.1.5, 7.4.1",
             answer, _close(b"")),
        Case("7.3", group, N_("close with a 1-byte body"), _C1002, "5.5.1, 7.4.1",
             N_("a Close body is empty or starts with a 2-byte code"),
             _fail(lambda: [frame(Op.CLOSE, b"\x03")], 1002)),
        Case("7.4", group, N_("close reason that is not UTF-8"), _C1007, "5.5.1, 8.1",
             N_("the reason after the code is UTF-8 text"),
             _fail(lambda: [frame(Op.CLOSE, _code(1000, b"\xff\xfe"))], 1007)),
        Case("7.5", group, N_("close, then a text frame"), N_("a Close back and no echo"),
             "5.5.1, 1.4", N_("after a Close, read nothing more: the connection is closing"),
             _close(_code(1000), then=[frame(Op.TEXT, "after close")])),
    ]
    for i, code in enumerate((1001, 1003, 1007, 1011, 3000, 4999), 1):
        cases.append(Case(f"7.6.{i}", group, later(N_("close code {code} (valid)"), code=code),
                          N_("a Close back"), "7.4.1, 7.4.2", answer, _close(_code(code))))
    invalid = N_("codes below 1000, 1004-1006, 1015, 1016-2999 and 5000 and up are never "
                 "sent")
    for i, code in enumerate((999, 1004, 1005, 1006, 1015, 2999, 5000), 1):
        cases.append(Case(f"7.7.{i}", group, later(N_("close code {code} (invalid on the wire)"),
                                                      code=code),
                          _C1002, "7.4.1, 7.4.2", invalid,
                          _fail(functools.partial(_frames_of, Op.CLOSE, _code(code)), 1002)))
    return cases


def _handshake_cases() -> list[Case]:
    group = N_("handshake")
    return [
        Case("1.1", group, N_("a valid upgrade request"),
             N_("101 Switching Protocols with the right Sec-WebSocket-Accept"), "4.2.2",
             N_("Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), with Upgrade and Connection"),
             _handshake_ok),
        Case("1.2", group, N_("Sec-WebSocket-Version: 12"),
             N_("an HTTP error (426) naming Sec-WebSocket-Version: 13"), "4.2.2, 4.4",
             N_("only version 13 is RFC 6455: refuse others and say which version you speak"),
             _refused(version=12, status=426, header=("Sec-WebSocket-Version", "13"))),
        Case("1.3", group, N_("no Sec-WebSocket-Key"), N_("an HTTP error (400), no 101"),
             "4.2.1, 4.2.2", N_("without a key there is nothing to prove: refuse the request"),
             _refused(with_key=False, status=400)),
    ]


CASES: tuple[Case, ...] = (*_handshake_cases(), *_length_cases(), *_fragment_cases(),
                           *_control_cases(), *_reserved_cases(), *_utf8_cases(),
                           *_close_cases())


def case_table() -> list[tuple[str, str, str, str]]:
    """(id, case, expected, RFC section) for every case."""
    return [(c.id, c.title, c.expected, c.rfc) for c in CASES]


def _select(cases: Iterable[str] | None) -> list[Case]:
    if cases is None:
        return list(CASES)
    if isinstance(cases, str):
        raise ValueError("cases is a list of case ids or prefixes such as ['2', '7.1']")
    wanted = list(cases)
    chosen = [c for c in CASES
              if any(c.id == w or c.id.startswith(w + ".") for w in wanted)]
    if not chosen:
        raise ValueError(f"no case matches {wanted}; ids are {[c.id for c in CASES][:5]}...")
    return chosen


async def _run_one(case: Case, url: str, timeout: float) -> CaseResult:
    t0 = time.monotonic()
    try:
        verdict = await asyncio.wait_for(case.run(url, timeout), 6 * timeout + 5)
    except ConnectionFailed as exc:
        verdict = Verdict(FAILED, exc.cause)
    except (asyncio.TimeoutError, LabTimeout):
        verdict = Verdict(FAILED, N_("the case did not finish in time"))
    except OSError as exc:
        verdict = Verdict(FAILED, later(N_("the connection failed: {error}"), error=exc))
    return CaseResult(case.id, case.group, case.title, verdict.outcome, case.expected,
                      verdict.got, case.rfc, verdict.note, case.hint, time.monotonic() - t0)


def _refused_tcp(result: CaseResult) -> bool:
    return result.outcome == FAILED and result.got.startswith("TCP connection failed")


async def _run_all(url: str, cases: list[Case], timeout: float) -> list[CaseResult]:
    """Every case in order; once a server that answered stops accepting connections, the
    remaining cases are reported as not run (it died: the last case run is the suspect)."""
    results: list[CaseResult] = []
    for i, case in enumerate(cases):
        result = await _run_one(case, url, timeout)
        results.append(result)
        if _refused_tcp(result) and i > 0 and not _refused_tcp(results[0]):
            why = later(N_("not run: the server stopped accepting connections during or after "
                           "case {case}"), case=cases[i - 1].id)
            results[-1] = CaseResult(case.id, case.group, case.title, FAILED, case.expected,
                                     why, case.rfc, "", case.hint)
            results += [CaseResult(c.id, c.group, c.title, FAILED, c.expected, why, c.rfc,
                                   "", c.hint) for c in cases[i + 1:]]
            break
    return results


def run_conformance(url: str, *, cases: Iterable[str] | None = None, timeout: float = 2.0
                    ) -> ConformanceReport:
    """Run the conformance cases against the echo server at ``url`` (any ``ws://`` URL).

    ``cases`` picks some by id or prefix (``["2", "7.1"]``); ``timeout`` is the wait, in
    seconds, for each answer (a server that never answers costs that much per case).
    Returns a :class:`ConformanceReport`; ``wslab.ui.conformance_table`` shows it as a
    table.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            0.05 <= timeout <= 60):
        raise ValueError(f"timeout is seconds per answer, 0.05 to 60, got {timeout!r}")
    parse_ws_uri(url, schemes=("ws",))  # a ValueError names a URL that is not ws://
    chosen = _select(cases)
    t0 = time.monotonic()
    bound = len(chosen) * (6 * timeout + 6) + 10
    results = lab.run(_run_all(url, chosen, float(timeout)), timeout=bound,
                      what=f"run_conformance({url})")
    return ConformanceReport(url, results, time.monotonic() - t0)
