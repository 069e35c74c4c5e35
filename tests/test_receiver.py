"""The sans-I/O Receiver (wslab.protocol.receiver): bytes in, events out, by role.

No socket and no clock: every test feeds bytes and checks the events, the
close code and RFC section of a violation, and the states walked.
"""

from __future__ import annotations

import random
import struct

import pytest

from wslab.protocol import state as st
from wslab.protocol.assembler import Message
from wslab.protocol.deflate import PerMessageDeflate
from wslab.protocol.errors import IllegalTransition, WSLabError
from wslab.protocol.frames import Frame, Opcode, encode_frame
from wslab.protocol.receiver import (
    CloseReceived,
    PingReceived,
    PongReceived,
    ProtocolViolation,
    Receiver,
    Role,
)
from wslab.protocol.state import State

KEY = b"\x37\xfa\x21\x3d"


def opened(role: Role = Role.SERVER, **kwargs) -> Receiver:
    rx = Receiver(role, **kwargs)
    rx.handshake_done()
    return rx


def wire(role: Role, opcode: int, payload: bytes = b"", **flags) -> bytes:
    """A frame as the *peer* of ``role`` sends it (a client masks, RFC 6455 5.1)."""
    key = KEY if role is Role.SERVER else None
    return encode_frame(Frame(opcode, payload, mask_key=key, **flags), strict=False)


def feed(rx: Receiver, data: bytes, step: int | None = None) -> list:
    step = step or len(data) or 1
    events = []
    for i in range(0, len(data), step):
        rx.receive_data(data[i:i + step])
        events += rx.events_received()
    return events


# --- what passes -----------------------------------------------------------------------
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("step", [1, 2, 3, 7, None])
def test_valid_stream_gives_the_same_events_whatever_the_cuts(role, step):
    data = (wire(role, Opcode.TEXT, "héllo".encode())
            + wire(role, Opcode.BINARY, b"\x00" * 300)
            + wire(role, Opcode.TEXT, b"fra", fin=False)
            + wire(role, Opcode.PING, b"p")
            + wire(role, Opcode.CONTINUATION, "gmént".encode())
            + wire(role, Opcode.PONG, b"q")
            + wire(role, Opcode.BINARY, b"")
            + wire(role, Opcode.CLOSE, struct.pack("!H", 1000) + b"bye"))
    events = feed(opened(role), data, step)
    assert events == [Message(Opcode.TEXT, "héllo"), Message(Opcode.BINARY, b"\x00" * 300),
                      PingReceived(b"p"), Message(Opcode.TEXT, "fragmént", 2),
                      PongReceived(b"q"), Message(Opcode.BINARY, b""),
                      CloseReceived(1000, "bye", b"\x03\xe8bye")]


def test_bytes_after_a_close_frame_are_ignored():
    """RFC 6455 5.5.1: after a Close frame the peer sends no more data."""
    rx = opened()
    rx.receive_data(wire(Role.SERVER, Opcode.CLOSE) + wire(Role.SERVER, Opcode.TEXT, b"late"))
    assert rx.events_received() == [CloseReceived(None, "", b"")]
    rx.receive_data(wire(Role.SERVER, Opcode.TEXT, b"later"))
    assert rx.events_received() == []


def test_compressed_messages_are_inflated():
    """RFC 7692: RSV1 marks a compressed message once permessage-deflate is agreed."""
    sender = PerMessageDeflate.from_params({}, is_server=False)
    body = sender.compress(b"hello hello hello")
    rx = opened(deflate=PerMessageDeflate.from_params({}, is_server=True))
    events = feed(rx, wire(Role.SERVER, Opcode.TEXT, body, rsv1=True), 1)
    assert events == [Message(Opcode.TEXT, "hello hello hello")]
    assert events[0].compressed


def test_buffer_holds_at_most_one_header():
    """Memory is bounded: a payload is never held whole, a header at most 14 bytes."""
    rx = opened()
    data = wire(Role.SERVER, Opcode.BINARY, bytes(70_000))
    rx.receive_data(data[:9])
    assert rx.buffered == 9
    rx.receive_data(data[9:20])
    assert rx.buffered == 0 and not rx.idle
    rx.receive_data(data[20:])
    assert rx.events_received() == [Message(Opcode.BINARY, bytes(70_000))] and rx.idle


# --- what fails, with which code ---------------------------------------------------------
BROKEN = [
    # (name, bytes from a client, close code, reason contains, RFC section)
    ("reserved opcode", lambda r: wire(r, 0x3, b"?"), 1002, "reserved opcode 0x3", "5.2"),
    ("rsv2", lambda r: wire(r, Opcode.TEXT, b"x", rsv2=True), 1002, "RSV2", "5.2"),
    ("rsv1 without deflate", lambda r: wire(r, Opcode.TEXT, b"x", rsv1=True), 1002, "RSV1",
     "5.2"),
    ("long ping", lambda r: wire(r, Opcode.PING, b"x" * 126), 1002,
     "control frame over 125 bytes", "5.5"),
    ("fragmented ping", lambda r: wire(r, Opcode.PING, b"x", fin=False), 1002,
     "fragmented control frame", "5.5"),
    ("orphan continuation", lambda r: wire(r, Opcode.CONTINUATION, b"x"), 1002,
     "continuation frame without a message", "5.4"),
    ("interleaved message", lambda r: wire(r, Opcode.TEXT, b"a", fin=False)
     + wire(r, Opcode.BINARY, b"b"), 1002, "new data frame inside a fragmented message", "5.4"),
    ("bad utf-8", lambda r: wire(r, Opcode.TEXT, b"\xed\xa0\x80"), 1007,
     "invalid UTF-8 in text", "8.1"),
    ("truncated utf-8", lambda r: wire(r, Opcode.TEXT, b"caf\xc3"), 1007,
     "invalid UTF-8 in text", "8.1"),
    ("close code 1005", lambda r: wire(r, Opcode.CLOSE, struct.pack("!H", 1005)), 1002,
     "close code 1005 not allowed on the wire", "7.4"),
    ("1-byte close", lambda r: wire(r, Opcode.CLOSE, b"\x03"), 1002, "1-byte close payload",
     "5.5.1"),
    ("bad close reason", lambda r: wire(r, Opcode.CLOSE, b"\x03\xe8\xff"), 1007,
     "invalid UTF-8 in close reason", "5.5.1"),
    ("too big", lambda r: wire(r, Opcode.BINARY, bytes(1025)), 1009, "message too big",
     "7.4.1"),
    ("too big in fragments", lambda r: wire(r, Opcode.TEXT, b"a" * 600, fin=False)
     + wire(r, Opcode.CONTINUATION, b"b" * 600), 1009, "message too big", "7.4.1"),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name, make, code, reason, rfc", BROKEN, ids=[b[0] for b in BROKEN])
def test_every_rule_fails_with_its_code(role, name, make, code, reason, rfc):
    for step in (1, None):
        rx = opened(role, max_size=1024)
        events = feed(rx, make(role), step)
        bad = events[-1]
        assert isinstance(bad, ProtocolViolation), (name, events)
        assert (bad.close_code, reason in bad.reason, rfc in bad.rfc) == (code, True, True)
        assert rx.violation == bad and rx.state == State.CLOSING
        assert [t.event for t in rx.machine.history] == [st.HANDSHAKE_SUCCEEDED,
                                                        st.PROTOCOL_ERROR]


def test_masking_direction_depends_on_the_role():
    """RFC 6455 5.1: a server refuses unmasked frames, a client masked ones."""
    server, client = opened(Role.SERVER), opened(Role.CLIENT)
    server.receive_data(wire(Role.CLIENT, Opcode.TEXT, b"x"))  # unmasked
    client.receive_data(wire(Role.SERVER, Opcode.TEXT, b"x"))  # masked
    (a,), (b,) = server.events_received(), client.events_received()
    assert (a.close_code, a.reason) == (1002, "unmasked client frame")
    assert (b.close_code, b.reason) == (1002, "masked server frame")


@pytest.mark.parametrize("bad_at", [1, 2])
def test_invalid_utf8_fails_before_the_frame_ends(bad_at):
    """RFC 6455 8.1 (Autobahn 6.4.3/6.4.4): fail on the piece where the text breaks."""
    text = b"a" * 40 + b"\xff" + b"b" * 40
    data = wire(Role.SERVER, Opcode.TEXT, text)
    cut = 6 + 20 if bad_at == 2 else 6 + 45  # the bad byte (payload 40) in piece 1 or 2
    pieces = [data[:cut], data[cut:-10], data[-10:]] if bad_at == 1 else \
        [data[:cut], data[cut:cut + 30], data[cut + 30:]]
    rx = opened()
    seen = []
    for i, piece in enumerate(pieces):
        rx.receive_data(piece)
        seen += [(i, e) for e in rx.events_received()]
        if seen:
            break
    assert len(seen) == 1 and seen[0][0] == bad_at - 1
    assert seen[0][1].close_code == 1007


# --- states -------------------------------------------------------------------------------------
def test_state_walks_the_table_through_a_closing_handshake():
    rx = Receiver(Role.CLIENT)
    assert rx.state == State.CONNECTING
    rx.handshake_done()
    rx.close_sent()
    assert rx.state == State.CLOSING
    rx.receive_data(wire(Role.CLIENT, Opcode.CLOSE, b"\x03\xe8"))
    assert rx.state == State.CLOSED
    rx.connection_lost()  # TCP ends after CLOSED: nothing more to walk
    assert [t.event for t in rx.machine.history] == [
        st.HANDSHAKE_SUCCEEDED, st.CLOSE_SENT, st.CLOSE_RECEIVED]


def test_an_illegal_transition_is_a_bug_that_raises():
    rx = Receiver(Role.SERVER)
    with pytest.raises(IllegalTransition, match="allowed events") as info:
        rx.close_sent()  # no Close frame before the handshake
    assert isinstance(info.value, WSLabError) and isinstance(info.value, ValueError)
    rx.handshake_done()
    rx.connection_lost()
    with pytest.raises(IllegalTransition, match="final"):
        rx.close_sent()


def test_tcp_lost_and_tcp_closed():
    """7.1.5: TCP gone without Close frames is TCP_LOST; after failing, TCP_CLOSED."""
    rx = opened()
    rx.connection_lost()
    assert rx.machine.history[-1].event == st.TCP_LOST and rx.state == State.CLOSED
    rx = opened()
    rx.receive_data(b"\x83\x80" + KEY)
    rx.connection_lost()
    assert [t.event for t in rx.machine.history][1:] == [st.PROTOCOL_ERROR, st.TCP_CLOSED]


def test_bad_arguments():
    with pytest.raises(ValueError, match="role"):
        Receiver("server")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size"):
        Receiver(Role.SERVER, max_size=-1)


def test_random_streams_never_raise_and_always_end_in_an_event():
    """Fuzz: random bytes give events or a violation, never an exception."""
    rng = random.Random(6455)
    for _ in range(300):
        rx = opened(rng.choice(list(Role)), max_size=4096)
        data = rng.randbytes(rng.randrange(1, 200))
        feed(rx, data, rng.randrange(1, 20))
        assert rx.state in (State.OPEN, State.CLOSING)
