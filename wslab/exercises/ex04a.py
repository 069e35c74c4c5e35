"""Checks for 04a_reading_the_wire.ipynb (layer 4, exercises).

Every answer is judged against the learner's OWN capture (a Trace from
:mod:`wslab.labs.traces`): the truth is computed from the packets in it, so
there is no answer key to copy, and a capture that came out differently on
another machine is judged by what it holds.  A wrong answer gets a hint that
points at the packets to read, not the number to write.
"""

from __future__ import annotations

import math

from ..i18n import N_, _
from ..labs.traces import Trace, WireFrame
from ..net.pcap import FIN, RST, TcpPacket
from ..protocol import frames as fr
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes

solution = solution_function("ex04a")
SIDES = ("client", "server")
ETHERNET_MSS = (1460, 1448, 1500, 1400)  # what a learner may remember from Ethernet


def _usable(name: str, trace: object, what: str) -> Result | None:
    """A hint when ``trace`` is not a capture the check can read, else None."""
    if not isinstance(trace, Trace):
        return hint(name, _("pass the trace your experiment cell made ({what}), got {name}").format(
                              what=what, name=type(trace).__name__))
    if trace.unavailable:
        return hint(name, _("there is no capture to check against: {unavailable}").format(
                              unavailable=trace.unavailable))
    if trace.reconstructed:
        return hint(name, _("this is the tap's made-up file: answer from a real capture "
                            "({what})").format(
                              what=what))
    if not trace.connections:
        return hint(name, _("the capture holds no TCP connection: run the experiment cell "
                            "({what}) again").format(what=what))
    return None


def _whole_number(name: str, answer: object, what: str) -> int | Result:
    if answer is None:
        return hint(name, _("write your answer: replace None with {what}").format(what=what))
    if isinstance(answer, bool) or not isinstance(answer, int):
        return hint(name, _("{answer!r} is not a whole number: write {what}").format(
                              answer=answer, what=what))
    return answer


# --- Exercise 1: how many segments ------------------------------------------------------

def message_frame(trace: Trace) -> WireFrame | None:
    """The client's first data frame on connection 1 (the experiment's big message)."""
    return next((f for f in trace.frames(1, "client")
                 if f.frame.opcode in (fr.Opcode.TEXT, fr.Opcode.BINARY)), None)


def _segment_mistakes(trace: Trace, f: WireFrame, n: int) -> list[tuple[int, str]]:
    """(count, hint) for the counts a plausible mistake gives on this capture."""
    c = trace.conn(1)
    syn_mss = next((p.mss for p in c.packets if p.mss), None)
    echo = next((g for g in trace.frames(1, "server")
                 if g.frame.opcode in (fr.Opcode.TEXT, fr.Opcode.BINARY)), None)
    echo_n = len(trace.segments(1, "server", echo.start, echo.end)) if echo else 0
    sent = c.sent_by("client")
    carrying = trace.segments(1, "client", f.start, f.end)
    first, last = carrying[0].number, carrying[-1].number
    acks_between = sum(1 for p in c.sent_by("server") if first < p.number < last)
    out = [
        (1, _("one message is not one segment: TCP cuts the byte stream where it likes. Find "
              "the client's packets from the one marked 'start of' to the one marked "
              "'(frame ends)'")),
        (n + echo_n, _("you counted the server's echo too: the question is about the client's "
                       "message, so count packets from client to server only")),
        (sum(1 for p in sent if p.payload), _("you counted every client packet with data, the "
                                              "HTTP request and the Close frame too: count "
                                              "only those carrying the message's frame")),
        (len(sent), _("you counted every packet the client sent, the ACKs with len 0 too: "
                      "count packets that carry bytes of the frame")),
        (len(c.packets), _("that is every packet of the connection, both ways: count the "
                           "client's packets that carry the frame")),
        (n + acks_between, _("you counted the server's ACKs in between as well: count packets "
                             "from client to server only")),
    ]
    if syn_mss:
        out.append((math.ceil(len(f.raw) / syn_mss),
                    _("that is how many MSS-sized segments it would take (the SYNs offer an "
                      "MSS of {mss:,}); look at the len column: are the segments that "
                      "big?").format(mss=syn_mss)))
    for mss in ETHERNET_MSS:
        out.append((math.ceil(len(f.raw) / mss),
                    _("that is what an Ethernet path would need (MTU 1500, MSS about {mss}). "
                      "This capture is on the loopback interface: read the MSS in the SYN and "
                      "the len of each packet").format(mss=mss)))
    return out


def check_segments(trace: object, answer: object) -> Result:
    """Exercise 1: how many TCP segments carried the client's big message?"""
    name = N_("Exercise 1 (segments)")
    bad = _usable(name, trace, "trace = traces.big_message(server)")
    if bad is not None:
        return bad
    assert isinstance(trace, Trace)
    f = message_frame(trace)
    if f is None:
        return hint(name, _("the capture holds no message from the client on connection 1: run "
                            "the experiment cell again"))
    carrying = trace.segments(1, "client", f.start, f.end)
    n = len(carrying)
    got = _whole_number(name, answer, "the number of TCP segments (packets)")
    if isinstance(got, Result):
        return got
    if got == n:
        return passed(name, _segments_story(trace, f, carrying))
    if got > 1000:
        return hint(name, _("{got} looks like a number of bytes: the question asks how many "
                            "segments (packets) carried the frame").format(got=got))
    if got < 1:
        return hint(name, _("at least one segment carried it: count the client's packets that "
                            "hold bytes of the frame"))
    for count, why in _segment_mistakes(trace, f, n):
        if got == count:
            return hint(name, _("{got}: {why}").format(got=got, why=why))
    side = "few" if got < n else "many"
    return hint(name, _("{got} is too {side}: in the table, count the packets from client to "
                        "server from the one marked 'start of' to the one marked '(frame "
                        "ends)'").format(
                          got=got, side=side))


def _segments_story(trace: Trace, f: WireFrame, carrying: list[TcpPacket]) -> str:
    """The PASS text: what the capture shows about the segments, and why (as measured)."""
    c = trace.conn(1)
    sizes = [len(p.payload) for p in carrying]
    text = (_("{n} segments carried the client's {n2:,}-byte frame ({n3:,} bytes of payload + "
              "{header_size} of header; the HTTP request came before it): {value} bytes.").format(
                n=len(carrying), n2=len(f.raw), n3=len(f.frame.payload),
                header_size=f.header_size, value=', '.join(f'{s:,}' for s in sizes)))
    repeats = len(carrying) - len({c.offset(p) for p in carrying})
    if repeats:
        text += _(" ({n} of them retransmissions of bytes already sent.)").format(n=repeats)
    mss = next((p.mss for p in c.packets if p.mss), None)
    if mss and max(sizes) < mss:
        text += _(" They are not MSS-sized: the SYNs offered an MSS of {mss:,}.").format(mss=mss)
        offered = [trace.window(1, p) for p in c.sent_by("server")
                   if p.number < carrying[0].number]
        if offered and max(sizes) * 2 == max(offered):
            text += _(" Each full segment is half the {window:,}-byte window the server had "
                      "offered: Linux sends no segment larger than half the largest window the "
                      "receiver has offered (tcp_bound_to_half_wnd in include/net/tcp.h).").format(
                window=max(offered))
    text += _(" On an Ethernet path (MSS 1460) the same frame would need at least {n} "
              "segments.").format(n=math.ceil(len(f.raw) / 1460))
    return text


# --- Exercise 2: who closes first ---------------------------------------------------------

SCENARIOS = ("client starts", "server starts")
QUESTIONS = ("first FIN", "TIME_WAIT")


def first_fin(trace: Trace, n: int) -> TcpPacket | None:
    """The first packet with FIN on connection ``n``."""
    return next((p for p in trace.conn(n).packets if p.has(FIN)), None)


def time_wait_holders(trace: Trace, n: int) -> list[str]:
    """Who held TIME_WAIT on connection ``n``: as the kernel's socket table showed it, or,
    where it could not be read, by RFC 9293 3.6 from the FINs (the end that closed first;
    both ends when the two FINs crossed)."""
    if n in trace.time_wait and trace.time_wait[n]:
        return trace.time_wait[n]
    c = trace.conn(n)
    fins = [p for p in c.packets if p.has(FIN)]
    if not fins:
        return []
    one = c.side(fins[0])
    second = next((p for p in fins if c.side(p) != one), None)
    if second is not None and second.ack != (fins[0].seq + 1) & 0xFFFFFFFF:
        return list(SIDES)  # the second FIN did not acknowledge the first: they crossed
    return [one]


def _closing_answers(answers: object) -> dict[str, dict[str, str]] | str:
    """The answers, normalised, or a hint saying what is malformed and where."""
    if not isinstance(answers, dict) or set(answers) != set(SCENARIOS):
        return (_("answers is a dict with the keys 'client starts' and 'server starts', each "
                  "holding {{'first FIN': ..., 'TIME_WAIT': ...}}"))
    out: dict[str, dict[str, str]] = {}
    for scenario in SCENARIOS:
        inner = answers[scenario]
        if not isinstance(inner, dict) or set(inner) != set(QUESTIONS):
            return _("answers[{scenario!r}] is a dict with the keys 'first FIN' and "
                     "'TIME_WAIT'").format(
                       scenario=scenario)
        out[scenario] = {}
        for q in QUESTIONS:
            value = inner[q]
            if value is None:
                return _("write your answer for answers[{scenario!r}][{q!r}] (replace "
                         "None)").format(
                           scenario=scenario, q=q)
            if not isinstance(value, str) or value.strip().lower() not in (*SIDES, "both"):
                return (_("answers[{scenario!r}][{q!r}] is 'client' or 'server' (or 'both'), got "
                          "{value!r}").format(scenario=scenario, q=q, value=value))
            out[scenario][q] = value.strip().lower()
    return out


def check_closing(trace: object, answers: object) -> Result:
    """Exercise 2: who sent the first FIN, and who was left in TIME_WAIT, in each close?"""
    name = N_("Exercise 2 (FIN and TIME_WAIT)")
    bad = _usable(name, trace, "trace = traces.closing(server)")
    if bad is not None:
        return bad
    assert isinstance(trace, Trace)
    if len(trace.connections) < 2:
        return hint(name, _("the capture should hold two connections: run the experiment again"))
    got = _closing_answers(answers)
    if isinstance(got, str):
        return hint(name, got)
    facts = []
    for n, scenario in enumerate(SCENARIOS, start=1):
        fin = first_fin(trace, n)
        if fin is None:
            return hint(name, _("connection {n} has no FIN in the capture: run the experiment "
                                "again").format(n=n))
        sender = trace.conn(n).side(fin)
        holders = time_wait_holders(trace, n)
        said_fin, said_wait = got[scenario]["first FIN"], got[scenario]["TIME_WAIT"]
        if said_fin != sender:
            return hint(name, _("{scenario!r}, first FIN: not what your capture shows (RFC 6455 "
                                "7.1.1 says what should happen; the capture shows what did). In "
                                "connection {n}, find the first packet with FIN among its flags: "
                                "which end sent it (from → to)?").format(scenario=scenario, n=n))
        truth_wait = "both" if len(holders) == 2 else holders[0] if holders else sender
        if said_wait != truth_wait:
            why = (_("the end that closes first is the one that waits (RFC 9293 3.6: FIN-WAIT-1, "
                     "FIN-WAIT-2, then TIME-WAIT)"))
            if said_wait != said_fin:
                why = _("you said the {fin} sent the first FIN but the {wait} waits: "
                        "{why}").format(fin=said_fin, wait=said_wait, why=why)
            return hint(name, _("{scenario!r}, TIME_WAIT: {why}; trace.sockets() shows the "
                                "kernel's own table").format(scenario=scenario, why=why))
        facts.append(_closing_fact(trace, n, scenario, fin, holders))
    return passed(name, "\n".join(facts))


def _closing_fact(trace: Trace, n: int, scenario: str, fin: TcpPacket,
                  holders: list[str]) -> str:
    sender = trace.conn(n).side(fin)
    whose = " and the ".join(f"{h}'s" for h in holders)
    seen = (_("the kernel's table showed the {whose} socket in TIME_WAIT").format(whose=whose)
            if trace.time_wait.get(n) else
            _("so (RFC 9293 3.6) the {whose} socket went to TIME_WAIT; the kernel's table could "
              "not be read here").format(whose=whose))
    text = (_("connection {n} ({scenario}): the {sender} sent the first FIN (packet {number}); "
              "{seen}.").format(
                n=n, scenario=scenario, sender=sender, number=fin.number, seen=seen))
    if sender == "server":
        text += _(" As RFC 6455 7.1.1 asks: the server closes TCP first and holds TIME_WAIT.")
    else:
        text += _(" Not what RFC 6455 7.1.1 asks (the server should close first so that the "
                  "client is not left in TIME_WAIT): this client closed as soon as both Close "
                  "frames had passed, which 5.5.1 allows (the client SHOULD wait for the "
                  "server, but MAY close).")
    return text


# --- Exercise 3: the reset fault ----------------------------------------------------------

RESET_KEYS = ("flag", "sent by port", "close frame")


def client_leg(trace: Trace) -> int:
    """The connection between the client and the proxy (its server end is named proxy)."""
    for n in range(1, len(trace.connections) + 1):
        if trace.ends(n) == ("client", "proxy"):
            return n
    return 1


def _reset_answers(answers: object) -> tuple[set[str], int, bool] | str:
    if not isinstance(answers, dict) or set(answers) != set(RESET_KEYS):
        return _("answers is a dict with the keys 'flag', 'sent by port' and 'close frame'")
    for key in RESET_KEYS:
        if answers[key] is None:
            return _("write your answer for answers[{key!r}] (replace None)").format(key=key)
    flag, port, close = (answers[k] for k in RESET_KEYS)
    if not isinstance(flag, str) or not flag.strip():
        return _("answers['flag'] is a TCP flag's name such as 'SYN', got {flag!r}").format(
                   flag=flag)
    names = {w for w in flag.upper().replace(",", " ").replace("/", " ").split() if w}
    if not names <= {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}:
        return _("answers['flag'] names TCP flags (FIN, SYN, RST, PSH, ACK, URG), got "
                 "{flag!r}").format(
                   flag=flag)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        return _("answers['sent by port'] is a port number, got {port!r}").format(port=port)
    if not isinstance(close, bool):
        return _("answers['close frame'] is True or False, got {close!r}").format(close=close)
    return names, port, close


def check_reset(trace: object, answers: object) -> Result:
    """Exercise 3: what the reset fault looks like on the client's connection."""
    name = N_("Exercise 3 (reset)")
    bad = _usable(name, trace, "trace = traces.reset(server)")
    if bad is not None:
        return bad
    assert isinstance(trace, Trace)
    got = _reset_answers(answers)
    if isinstance(got, str):
        return hint(name, got)
    flags, port, close = got
    n = client_leg(trace)
    c = trace.conn(n)
    rst = next((p for p in c.packets if p.has(RST)), None)
    if rst is None:
        return hint(name, _("the client's connection has no RST in this capture: run the "
                            "experiment cell again"))
    closes = [f for side in SIDES for f in trace.frames(n, side)
              if f.frame.opcode == fr.Opcode.CLOSE]
    if "RST" not in flags:
        return hint(name, _flag_hint(flags, n))
    if not flags <= set(rst.flag_names.split(", ")):
        return hint(name, _("the packet that ends connection {n} has RST, but not all of "
                            "{value}: name the flag that ends it").format(
                              n=n, value=', '.join(sorted(flags))))
    if port != rst.src[1]:
        return hint(name, _port_hint(trace, n, port))
    if close != bool(closes):
        return hint(name, _("look again at the what column of connection {n} before the "
                            "reset: {question}").format(
            n=n, question=_("is there a CLOSE frame?") if close else
            _("a CLOSE frame did cross")))
    return passed(name, _reset_story(trace, n, rst))


def _flag_hint(flags: set[str], n: int) -> str:
    if "FIN" in flags:
        return (_("there is no FIN on connection {n}: a FIN is an orderly end. Read the flags of "
                  "its last packet").format(n=n))
    if flags == {"ACK"} or flags == {"PSH", "ACK"} or flags == {"PSH"}:
        return (_("{value} is set on most packets: which flag is new in the last packet of "
                  "connection {n}?").format(value='/'.join(sorted(flags)), n=n))
    return _("read the flags of the last packet of connection {n}: which one ends it?").format(n=n)


def _port_hint(trace: Trace, n: int, port: int) -> str:
    c = trace.conn(n)
    if port == c.client[1]:
        return (_("{port} is the client's own port: the RST went TO the client. Which port sent "
                  "it (from → to)?").format(port=port))
    for m, other in enumerate(trace.connections, start=1):
        if m != n and port in (other.client[1], other.server[1]):
            client, server = trace.ends(m)
            return (_("{port} is a port of connection {m} ({client} ↔ {server}), which the "
                      "client never talks to: the question is about connection {n}, the client's "
                      "own").format(port=port, m=m, client=client, server=server, n=n))
    return (_("no packet of connection {n} comes from port {port}: read the RST's from → to and "
              "the ports in the table's header line").format(n=n, port=port))


def _reset_story(trace: Trace, n: int, rst: TcpPacket) -> str:
    text = (_("packet {number}: the {trace} (port {src}) sent [{flag_names}] to the client; no "
              "Close frame came first, so there was no closing handshake at all.").format(
                number=rst.number, trace=trace.who(n, rst)[0], src=rst.src[1],
                flag_names=rst.flag_names))
    others = [(m, p) for m in range(1, len(trace.connections) + 1) if m != n
              for p in trace.conn(m).packets if p.has(RST)]
    for m, p in others:
        a, b = trace.who(m, p)
        text += _(" Packet {number} reset connection {m} too ({a} → {b}).").format(
            number=p.number, m=m, a=a, b=b)
    sent = [f for f in trace.frames(n, "client") if f.frame.opcode != fr.Opcode.CLOSE]
    if sent and others:
        m = others[0][0]
        passed_on = len([f for f in trace.frames(m, "client")
                         if f.frame.opcode != fr.Opcode.CLOSE])
        if passed_on < len(sent):
            text += _(" The client sent {n} messages; only {m} reached the server: the last "
                      "one died in the proxy.").format(n=len(sent), m=passed_on)
    code = trace.notes.get("close_code")
    if code is not None:
        text += (_(" The client reported close code {code}").format(code=code)
                 + (_(": abnormal closure, no Close frame (RFC 6455 7.1.5, 7.4.1).")
                    if code == 1006 else "."))
    return text


# --- Exercise 4: unmask a client frame by hand --------------------------------------------

def _mistakes(f: WireFrame) -> list[tuple[bytes, str]]:
    """(wrong result, hint) for mistakes that leave a recognisable result on this frame."""
    raw, payload = f.raw, f.frame.payload
    key = f.frame.mask_key or b"\0\0\0\0"
    masked = raw[f.header_size:]
    out = [
        (masked, _("the payload is still masked: XOR byte i with mask_key[i % 4] (RFC 6455 "
                   "5.3)")),
        (raw, _("your result is the whole frame, header included: the payload starts after "
                "the 4-byte masking key")),
        (raw[f.header_size - 4:], _("your result starts with the masking key: the payload "
                                    "starts after it")),
        (fr.mask(masked, key[::-1]), _("the key bytes are used in the wrong order: byte i is "
                                       "XORed with mask_key[i % 4] (RFC 6455 5.3)")),
        (fr.mask(masked, key[:1] * 4), _("every byte was XORed with the key's first byte "
                                         "only: byte i takes mask_key[i % 4] (RFC 6455 5.3)")),
    ]
    if f.length_form != "7-bit":
        out.append((fr.mask(masked, raw[2:6]),
                    f"the masking key comes after the extended length: at byte "
                    f"{f.header_size - 4} of this frame, not byte 2 (RFC 6455 5.2)"))
    return [(bad, why) for bad, why in out if bad != payload]


def _length_mistake(f: WireFrame, result: bytes) -> str | None:
    """A hint when the result's length betrays how the length field was read."""
    if f.length_form == "7-bit":
        return None
    field7 = 126 if f.length_form == "16-bit" else 127
    if len(result) == field7:
        return (_("you read the 7-bit length field ({field7}) as the length: {field7} means a "
                  "{length_form} length follows ({value} bytes), and the masking key comes after "
                  "it (RFC 6455 5.2)").format(
                    field7=field7, length_form=f.length_form, value=2 if field7 == 126 else 8))
    if field7 == 127 and len(result) < 65_536 and len(result) != len(f.frame.payload) \
            and len(result) in (0, len(f.frame.payload) & 0xFFFF):
        return (_("127 means a 64-bit length (8 bytes after byte 1), not 16-bit: read all 8 "
                  "bytes, then the masking key (RFC 6455 5.2)"))
    return None


def _probe(fn: object, payloads: list[bytes], payload: bytes) -> bool:
    """Does the learner's function give the right payload for these payloads?"""
    try:
        return bool(call(fn, payloads) == payload)  # type: ignore[arg-type]
    except StudentError:
        return False


def _diagnose(trace: Trace, n: int, f: WireFrame, fn: object, result: bytes) -> str:
    payloads = trace.payloads(n)
    where = (_("connection {n} (first frame {f}, {length_form} length, {n2} TCP payloads)").format(
                 n=n, f=f.describe(), length_form=f.length_form, n2=len(payloads)))
    for bad, why in _mistakes(f):
        if result == bad:
            return f"{where}: {why}"
    length = _length_mistake(f, result)
    if length is not None:
        return f"{where}: {length}"
    payload = f.frame.payload
    stream = b"".join(payloads)
    head = trace.head(n)
    if len(payloads) > 1 and (_probe(fn, [stream], payload)
                              or _probe(fn, [head, stream[len(head):]], payload)):
        return (_("{where}: your function finds the frame when all bytes come in one payload, "
                  "but here they come in several: join them first (a frame may span TCP segments, "
                  "and the first payload is the HTTP request)").format(where=where))
    if _probe(fn, [stream[f.start:]], payload):
        return (_("{where}: your function works when the bytes begin with the frame, but a "
                  "connection begins with the HTTP request: the frames start after the blank line "
                  "(b'\\r\\n\\r\\n') that ends it").format(where=where))
    if result and payload.startswith(result):
        return (_("{where}: you returned the first {n:,} bytes of the payload, which has {n2:,} "
                  "(the length field says how many, RFC 6455 5.2): the rest is in the next TCP "
                  "payloads, join them").format(where=where, n=len(result), n2=len(payload)))
    return f"{where}: {first_difference(result, payload)}"


def check_unmask(trace: object, fn: object) -> Result:
    """Exercise 4: ``fn(payloads)`` finds the client's first frame in a connection's TCP
    payloads and returns its payload unmasked; checked on every connection of the trace."""
    name = N_("Exercise 4 (unmask by hand)")
    bad = _usable(name, trace, "trace = traces.masked_frames(server)")
    if bad is not None:
        return bad
    assert isinstance(trace, Trace)
    if not callable(fn):
        return hint(name, _("unmask_first should be a function (def ...), got {name}").format(
                              name=type(fn).__name__))
    try:
        takes(fn, 1, what="unmask_first")
    except StudentError as exc:
        return hint(name, exc.hint)
    done = []
    for n in range(1, len(trace.connections) + 1):
        frames = trace.frames(n, "client")
        if not frames:
            continue
        f = frames[0]
        try:
            result = call(fn, list(trace.payloads(n)), what="unmask_first")
        except StudentError as exc:
            return hint(name, _("connection {n} (first frame {f}, {length_form} length): "
                                "{hint}").format(
                                  n=n, f=f.describe(), length_form=f.length_form, hint=exc.hint))
        if isinstance(result, str):
            return hint(name, _("connection {n}: return bytes (the payload as it was sent, "
                                "unmasked), not str").format(n=n))
        if not isinstance(result, (bytes, bytearray)):
            return hint(name, _("connection {n}: unmask_first returned {name}; return "
                                "bytes").format(
                                  n=n, name=type(result).__name__))
        if bytes(result) != f.frame.payload:
            return hint(name, _diagnose(trace, n, f, fn, bytes(result)))
        done.append(f)
    if not done:
        return hint(name, _("the capture holds no client frame: run the experiment cell again"))
    forms = ", ".join(f"{len(f.frame.payload):,} B ({f.length_form}, key "
                      f"{(f.frame.mask_key or b'').hex()})" for f in done)
    return passed(name, _("your function found and unmasked the first frame of each of the {n} "
                          "connections in your capture: {forms}. Each key was fresh and random "
                          "(RFC 6455 5.3), and each payload matches what wslab.protocol reads "
                          "from the same bytes.").format(n=len(done), forms=forms))

