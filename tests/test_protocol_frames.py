"""Layer 1 frames, assembler, explain and permessage-deflate: byte-exact RFC tests."""

from __future__ import annotations

import os
import struct

import pytest

from wslab.protocol import deflate, explain
from wslab.protocol.assembler import Message, MessageAssembler
from wslab.protocol.errors import NeedMoreData, ProtocolError
from wslab.protocol.frames import (
    CloseCode,
    Frame,
    FrameParser,
    Opcode,
    decode_frame,
    describe_close_code,
    encode_frame,
    is_valid_close_code_on_wire,
    mask,
    parse_close_payload,
)

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def roundtrip(wire: bytes, frame: Frame, **options) -> None:
    """encode(frame) == wire and decode(wire) == (frame, len(wire))."""
    assert encode_frame(frame) == wire
    assert decode_frame(wire, **options) == (frame, len(wire))


# ---------------------------------------------------------------------------
# RFC 6455 section 5.7: every example, both directions


def test_rfc_5_7_single_frame_unmasked_text():
    """RFC 6455 5.7: a single-frame unmasked text message "Hello"."""
    wire = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    roundtrip(wire, Frame(Opcode.TEXT, b"Hello"), require_mask=False)


def test_rfc_5_7_single_frame_masked_text():
    """RFC 6455 5.7: a single-frame masked text message "Hello"."""
    wire = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    roundtrip(wire, Frame(Opcode.TEXT, b"Hello", mask_key=KEY), require_mask=True)


def test_rfc_5_7_fragmented_unmasked_text():
    """RFC 6455 5.7: a fragmented unmasked text message "Hel" + "lo"."""
    first = bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
    second = bytes([0x80, 0x02, 0x6C, 0x6F])
    roundtrip(first, Frame(Opcode.TEXT, b"Hel", fin=False))
    roundtrip(second, Frame(Opcode.CONTINUATION, b"lo"))
    assembler = MessageAssembler()
    assert assembler.add(decode_frame(first)[0]) is None
    assert assembler.add(decode_frame(second)[0]) == Message(Opcode.TEXT, "Hello", 2)


def test_rfc_5_7_unmasked_ping():
    """RFC 6455 5.7: an unmasked Ping request with body "Hello"."""
    wire = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    roundtrip(wire, Frame(Opcode.PING, b"Hello"))


def test_rfc_5_7_masked_pong():
    """RFC 6455 5.7: a masked Pong response with body "Hello"."""
    wire = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    roundtrip(wire, Frame(Opcode.PONG, b"Hello", mask_key=KEY))


def test_rfc_5_7_256_bytes_binary_16_bit_length():
    """RFC 6455 5.7: 256 bytes of binary data in a single unmasked frame: 0x82 0x7E 0x0100."""
    payload = os.urandom(256)
    wire = bytes([0x82, 0x7E, 0x01, 0x00]) + payload
    roundtrip(wire, Frame(Opcode.BINARY, payload))


def test_rfc_5_7_64_kib_binary_64_bit_length():
    """RFC 6455 5.7: 64 KiB binary in a single unmasked frame: 0x82 0x7F 0x0000000000010000."""
    payload = os.urandom(65536)
    wire = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]) + payload
    roundtrip(wire, Frame(Opcode.BINARY, payload))


# ---------------------------------------------------------------------------
# Length forms (RFC 6455 5.2)


@pytest.mark.parametrize(("size", "header"), [
    (0, b"\x82\x00"),
    (125, b"\x82\x7d"),
    (126, b"\x82\x7e\x00\x7e"),
    (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
])
def test_length_form_boundaries(size, header):
    """RFC 6455 5.2: 7-bit up to 125, 16-bit up to 65535, 64-bit beyond; minimal form."""
    payload = b"x" * size
    wire = encode_frame(Frame(Opcode.BINARY, payload))
    assert wire == header + payload
    masked = encode_frame(Frame(Opcode.BINARY, payload, mask_key=KEY))
    assert masked[1] == header[1] | 0x80 and masked[2:len(header)] == header[2:]
    assert decode_frame(masked)[0].payload == payload


def test_flags_and_rsv_bits_encode():
    """RFC 6455 5.2: FIN and RSV1-3 are the top four bits of byte 0."""
    frame = Frame(Opcode.BINARY, b"", fin=False, rsv1=True, rsv2=True, rsv3=True)
    assert encode_frame(frame) == b"\x72\x00"


# ---------------------------------------------------------------------------
# Every ProtocolError rule and its close code (RFC 6455 5.1-5.5, 7.4)


@pytest.mark.parametrize(("wire", "options", "code", "bit", "words"), [
    (b"\xc1\x00", {}, 1002, 1, "RSV1"),
    (b"\xa1\x00", {}, 1002, 2, "RSV2"),
    (b"\x91\x00", {}, 1002, 3, "RSV3"),
    (b"\xa1\x00", {"extensions_rsv1": True}, 1002, 2, "RSV2"),
    (b"\xc9\x00", {"extensions_rsv1": True}, 1002, 1, "first frame"),
    (b"\x40\x00", {"extensions_rsv1": True}, 1002, 1, "first frame"),
    (b"\x83\x00", {}, 1002, 4, "reserved"),
    (b"\x87\x00", {}, 1002, 4, "non-control"),
    (b"\x8b\x00", {}, 1002, 4, "control"),
    (b"\x8f\x00", {}, 1002, 4, "reserved"),
    (b"\x09\x00", {}, 1002, 0, "fragmented"),
    (b"\x08\x00", {}, 1002, 0, "fragmented"),
    (b"\x89\x7e", {}, 1002, 9, "125"),
    (b"\x8a\x7f", {}, 1002, 9, "125"),
    (b"\x88\x7e\x00\x80", {}, 1002, 9, "125"),
    (b"\x81\x05Hello", {"require_mask": True}, 1002, 8, "must mask"),
    (b"\x81\x857\xfa!=\x7f\x9fMQX", {"require_mask": False}, 1002, 8, "must not mask"),
    (b"\x82\x7e\x00\x7d", {}, 1002, 16, "minimal"),
    (b"\x82\x7e\x00\x00", {}, 1002, 16, "minimal"),
    (b"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", {}, 1002, 16, "minimal"),
    (b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", {}, 1002, 16, "most significant bit"),
    (b"\x82\x06abcdef", {"max_size": 5}, 1009, 9, "max_size"),
    (b"\x82\x7e\x01\x00", {"max_size": 255}, 1009, 16, "max_size"),
    (b"\x88\x01\x03", {}, 1002, 16, "1 byte"),
    (b"\x88\x02\x03\xed", {}, 1002, 16, "1005"),
    (b"\x88\x02\x03\xec", {}, 1002, 16, "1004"),
    (b"\x88\x02\x03\xee", {}, 1002, 16, "1006"),
    (b"\x88\x02\x03\xf7", {}, 1002, 16, "1015"),
    (b"\x88\x02\x03\xf8", {}, 1002, 16, "1016"),
    (b"\x88\x02\x03\xe7", {}, 1002, 16, "999"),
    (b"\x88\x02\x13\x88", {}, 1002, 16, "5000"),
    (b"\x88\x04\x03\xe8\xc3\x28", {}, 1007, 32, "UTF-8"),
])
def test_protocol_error_rules(wire, options, code, bit, words):
    """RFC 6455 5.1-5.5 and 7.4: each rule raises ProtocolError with its close code and bit."""
    with pytest.raises(ProtocolError) as info:
        decode_frame(wire, **options)
    assert info.value.close_code == code
    assert info.value.bit == bit
    assert words in str(info.value)
    assert "RFC" in str(info.value)


def test_errors_fail_fast_before_the_payload_arrives():
    """RFC 6455 5.2: a rule broken in the header is reported before the payload arrives."""
    with pytest.raises(ProtocolError):
        decode_frame(b"\x83\x05")  # reserved opcode, payload missing
    with pytest.raises(ProtocolError) as info:
        decode_frame(b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", max_size=1 << 20)
    assert info.value.close_code == 1009


def test_rsv1_allowed_with_extension():
    """RFC 7692 6: RSV1 marks a compressed message on its first frame when negotiated."""
    frame, used = decode_frame(b"\xc1\x00", extensions_rsv1=True)
    assert frame.rsv1 and frame.opcode == Opcode.TEXT and used == 2


def test_every_valid_prefix_needs_more_data():
    """RFC 6455 5.2: any strict prefix of a valid frame is incomplete, never an error."""
    for wire in (encode_frame(Frame(Opcode.TEXT, b"Hello", mask_key=KEY)),
                 encode_frame(Frame(Opcode.BINARY, b"z" * 300)),
                 encode_frame(Frame(Opcode.BINARY, b"z" * 70000, mask_key=KEY)),
                 encode_frame(Frame.close(1001, "bye"))):
        for cut in range(len(wire)):
            with pytest.raises(NeedMoreData) as info:
                decode_frame(wire[:cut])
            assert info.value.needed >= 1
            assert cut + info.value.needed <= len(wire)


def test_decode_returns_bytes_used_and_leaves_the_rest():
    """RFC 6455 5.2: frames follow each other; decode_frame reports the bytes it used."""
    wire = encode_frame(Frame(Opcode.TEXT, b"a")) + encode_frame(Frame(Opcode.PING, b""))
    frame, used = decode_frame(wire)
    assert frame == Frame(Opcode.TEXT, b"a") and used == 3
    assert decode_frame(wire[used:]) == (Frame(Opcode.PING, b""), 2)


# ---------------------------------------------------------------------------
# Close frames (RFC 6455 5.5.1, 7.4)


def test_close_frame_helpers():
    """RFC 6455 5.5.1: close body = 2-byte big-endian code + UTF-8 reason."""
    frame = Frame.close(CloseCode.GOING_AWAY, "bye")
    assert frame.payload == b"\x03\xe9bye"
    assert encode_frame(frame) == b"\x88\x05\x03\xe9bye"
    assert parse_close_payload(frame.payload) == (1001, "bye")
    assert parse_close_payload(b"") == (None, "")
    assert Frame.close(None).payload == b""
    assert frame.close_info() == (CloseCode.GOING_AWAY, "bye")
    assert isinstance(parse_close_payload(b"\x03\xe8")[0], CloseCode)
    assert parse_close_payload(b"\x0f\xa0x") == (4000, "x")


@pytest.mark.parametrize(("payload", "code"), [
    (b"\x03", 1002), (b"\x03\xed", 1002), (b"\x0b\xb7", 1002), (b"\x03\xe8\xff", 1007),
    (b"\x03\xe8\xed\xa0\x80", 1007),  # a UTF-16 surrogate is not UTF-8
])
def test_parse_close_payload_errors(payload, code):
    """RFC 6455 5.5.1, 7.4: 1-byte body or invalid code -> 1002; bad UTF-8 reason -> 1007."""
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(payload)
    assert info.value.close_code == code


def test_close_frame_refuses_bad_arguments():
    """RFC 6455 5.5, 7.4: codes not allowed on the wire and reasons over 123 bytes are refused."""
    for code in (1004, 1005, 1006, 1015, 1016, 2999, 999, 5000):
        with pytest.raises(ValueError, match="allowed"):
            Frame.close(code)
    with pytest.raises(ValueError, match="123"):
        Frame.close(1000, "x" * 124)
    Frame.close(1000, "x" * 123)
    with pytest.raises(ValueError, match="needs a close code"):
        Frame.close(None, "why")


def test_close_codes_registry_and_ranges():
    """RFC 6455 7.4.1/7.4.2: every registered code 1000-1015 and the ranges."""
    assert [c.value for c in CloseCode] == list(range(1000, 1016))
    assert CloseCode(1001).name == "GOING_AWAY" and CloseCode(1015).name == "TLS_HANDSHAKE"
    for code in CloseCode:
        assert code.meaning and describe_close_code(code).startswith(f"{code.value} {code.name}")
    assert "not used" in describe_close_code(500)
    assert "reserved" in describe_close_code(2000)
    assert "IANA" in describe_close_code(3000) and "libraries" in describe_close_code(3999)
    assert "private" in describe_close_code(4000) and "private" in describe_close_code(4999)
    assert "not a valid" in describe_close_code(5000)
    valid = [c for c in range(0, 6000) if is_valid_close_code_on_wire(c)]
    assert valid == [1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)]
    with pytest.raises(ValueError, match="0..65535"):
        describe_close_code(-1)
    with pytest.raises(ValueError):
        is_valid_close_code_on_wire("1000")


# ---------------------------------------------------------------------------
# Frame, Opcode, __str__


def test_opcodes():
    """RFC 6455 5.2: opcode values and control frames (0x8 and up, section 5.5)."""
    assert [int(o) for o in Opcode] == [0, 1, 2, 8, 9, 10]
    assert [o.name for o in Opcode if o.is_control] == ["CLOSE", "PING", "PONG"]
    assert all(o.meaning for o in Opcode)


def test_frame_str():
    """RFC 6455 5.2: a frame prints like websockets: opcode, payload, size."""
    assert str(Frame(Opcode.TEXT, b"Hello")) == "TEXT 'Hello' [5 bytes]"
    assert str(Frame(Opcode.BINARY, b"\x01\x02")) == "BINARY 01 02 [2 bytes]"
    assert str(Frame.close(1000, "bye")) == "CLOSE 1000 (NORMAL_CLOSURE) 'bye' [5 bytes]"
    assert str(Frame(Opcode.PING, b"")) == "PING '' [0 bytes]"
    masked = str(Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=KEY))
    assert masked == "TEXT 'Hel' [3 bytes, continued, masked 37fa213d]"
    assert str(Frame(Opcode.TEXT, b"\xff")) == "TEXT ff [1 byte]"


def test_frame_validates_arguments():
    """RFC 6455 5.2/5.3: opcodes are 4 bits, mask keys 4 bytes, payloads bytes."""
    with pytest.raises(ValueError, match="0..15"):
        Frame(16, b"")
    with pytest.raises(ValueError, match="4 bytes"):
        Frame(Opcode.TEXT, b"", mask_key=b"abc")
    with pytest.raises(ValueError, match="encode"):
        Frame(Opcode.TEXT, "text")
    assert Frame(1, bytearray(b"x")) == Frame(Opcode.TEXT, b"x")
    assert Frame(3, b"").opcode == 3  # a reserved opcode, for experiments


def test_encode_strict_refuses_frames_a_receiver_must_reject():
    """RFC 6455 5.5: strict encoding refuses big or fragmented control frames and bad opcodes."""
    with pytest.raises(ValueError, match="125"):
        encode_frame(Frame(Opcode.PING, b"x" * 126))
    with pytest.raises(ValueError, match="fragmented"):
        encode_frame(Frame(Opcode.PING, b"", fin=False))
    with pytest.raises(ValueError, match="reserved"):
        encode_frame(Frame(3, b""))
    with pytest.raises(ValueError, match="close body"):
        encode_frame(Frame(Opcode.CLOSE, b"\x03"))
    wire = encode_frame(Frame(Opcode.PING, b"x" * 126), strict=False)
    with pytest.raises(ProtocolError):
        decode_frame(wire)


def test_bad_options_raise_value_error():
    """Bad arguments say what is allowed."""
    with pytest.raises(ValueError, match="require_mask"):
        decode_frame(b"", require_mask="yes")
    with pytest.raises(ValueError, match="max_size"):
        FrameParser(max_size=-1)
    with pytest.raises(ValueError, match="4 bytes"):
        mask(b"abc", b"12345")


# ---------------------------------------------------------------------------
# Masking (RFC 6455 5.3): correctness only, no timing in unit tests


def naive_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 15, 16, 17, 125, 4095, 4096, 4097, 65537,
                                  1 << 20])
def test_mask_matches_naive_implementation(size):
    """RFC 6455 5.3: transformed[i] = original[i] XOR key[i % 4], and masking twice unmasks."""
    data = os.urandom(size)
    key = os.urandom(4)
    masked = mask(data, key)
    assert isinstance(masked, bytes)
    assert masked == naive_mask(data, key)
    assert mask(masked, key) == data
    assert mask(bytearray(data), key) == masked == mask(memoryview(data), bytearray(key))


# ---------------------------------------------------------------------------
# FrameParser: streams split at any byte


def _stream() -> tuple[bytes, list[Frame]]:
    frames_ = [
        Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=KEY),
        Frame(Opcode.PING, b"ping", mask_key=b"\x00\x01\x02\x03"),
        Frame(Opcode.CONTINUATION, b"lo", mask_key=KEY),
        Frame(Opcode.BINARY, bytes(range(256)) * 2, mask_key=b"abcd"),
        Frame(Opcode.BINARY, b"", mask_key=b"abcd"),
        Frame.close(1000, "done", mask_key=b"wxyz"),
    ]
    return b"".join(encode_frame(f) for f in frames_), frames_


def test_parser_split_at_every_byte():
    """RFC 6455 5.2: a stream split at any single byte boundary decodes the same frames."""
    wire, expected = _stream()
    for cut in range(len(wire) + 1):
        parser = FrameParser(require_mask=True)
        assert parser.feed(wire[:cut]) + parser.feed(wire[cut:]) == expected
        assert parser.buffered == 0


def test_parser_one_byte_at_a_time():
    """RFC 6455 5.2: feeding one byte at a time still yields every frame once."""
    wire, expected = _stream()
    parser = FrameParser()
    got = []
    for i in range(len(wire)):
        got += parser.feed(wire[i:i + 1])
    assert got == expected


def test_parser_large_payload_in_small_chunks():
    """RFC 6455 5.2: a 4 MiB frame fed in 1 KiB chunks decodes once, with linear buffering."""
    payload = os.urandom(4 << 20)
    wire = encode_frame(Frame(Opcode.BINARY, payload, mask_key=KEY))
    parser = FrameParser()
    got = []
    for i in range(0, len(wire), 1024):
        got += parser.feed(wire[i:i + 1024])
    assert len(got) == 1 and got[0].payload == payload


def test_parser_stops_after_a_protocol_error():
    """RFC 6455 7.1.7: after a broken rule the stream is failed; earlier frames are kept."""
    parser = FrameParser(require_mask=False)
    good = encode_frame(Frame(Opcode.TEXT, b"ok"))
    with pytest.raises(ProtocolError) as info:
        parser.feed(good + b"\x83\x00")
    assert info.value.frames == [Frame(Opcode.TEXT, b"ok")]
    with pytest.raises(ProtocolError):
        parser.feed(good)


# ---------------------------------------------------------------------------
# MessageAssembler (RFC 6455 5.4, 5.6, 8.1)


def test_assembler_control_frames_interleaved():
    """RFC 6455 5.4: control frames may be injected between fragments, and pass through."""
    a = MessageAssembler()
    ping = Frame(Opcode.PING, b"p")
    assert a.add(Frame(Opcode.BINARY, b"ab", fin=False)) is None
    assert a.add(ping) is ping
    assert a.in_progress
    assert a.add(Frame(Opcode.CONTINUATION, b"cd", fin=False)) is None
    assert a.add(Frame(Opcode.CONTINUATION, b"ef")) == Message(Opcode.BINARY, b"abcdef", 3)
    assert not a.in_progress
    assert a.add(Frame(Opcode.TEXT, b"single")) == Message(Opcode.TEXT, "single", 1)


def test_assembler_continuation_rules():
    """RFC 6455 5.4: CONTINUATION needs an open message; a new message must wait for FIN."""
    with pytest.raises(ProtocolError) as info:
        MessageAssembler().add(Frame(Opcode.CONTINUATION, b"x"))
    assert info.value.close_code == 1002
    a = MessageAssembler()
    a.add(Frame(Opcode.TEXT, b"x", fin=False))
    with pytest.raises(ProtocolError) as info:
        a.add(Frame(Opcode.BINARY, b"y"))
    assert info.value.close_code == 1002 and "CONTINUATION" in str(info.value)


def test_assembler_utf8_split_across_fragments_is_fine():
    """RFC 6455 5.6: a character may be split across fragments; the message is valid."""
    data = "h\u00e9llo \u20ac".encode()
    a = MessageAssembler()
    assert a.add(Frame(Opcode.TEXT, data[:2], fin=False)) is None
    assert a.add(Frame(Opcode.CONTINUATION, data[2:9], fin=False)) is None
    assert a.add(Frame(Opcode.CONTINUATION, data[9:])).data == "h\u00e9llo \u20ac"


def test_assembler_fails_fast_on_bad_utf8():
    """RFC 6455 8.1: invalid UTF-8 fails with 1007 on the fragment where it breaks."""
    a = MessageAssembler()
    assert a.add(Frame(Opcode.TEXT, b"fine", fin=False)) is None
    with pytest.raises(ProtocolError) as info:
        a.add(Frame(Opcode.CONTINUATION, b"\xff", fin=False))  # not final, still fails now
    assert info.value.close_code == 1007 and "fragment 2" in str(info.value)
    with pytest.raises(ProtocolError) as info:  # truncated character at the end
        MessageAssembler().add(Frame(Opcode.TEXT, b"\xe2\x82"))
    assert info.value.close_code == 1007


def test_assembler_size_limit():
    """RFC 6455 7.4.1: a message over max_size is refused with 1009, as soon as it grows."""
    a = MessageAssembler(max_size=5)
    assert a.add(Frame(Opcode.BINARY, b"12345")).data == b"12345"
    a.add(Frame(Opcode.BINARY, b"123", fin=False))
    with pytest.raises(ProtocolError) as info:
        a.add(Frame(Opcode.CONTINUATION, b"456", fin=False))
    assert info.value.close_code == 1009


def test_assembler_rsv1_needs_deflate():
    """RFC 7692 6: a compressed message needs permessage-deflate negotiated."""
    with pytest.raises(ProtocolError) as info:
        MessageAssembler().add(Frame(Opcode.TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True))
    assert info.value.close_code == 1002
    a = MessageAssembler(deflate=deflate.PerMessageDeflate(is_server=False))
    frame = Frame(Opcode.TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True)
    assert a.add(frame) == Message(Opcode.TEXT, "Hello", 1)


# ---------------------------------------------------------------------------
# explain (RFC 6455 5.2 picture)


def test_explain_masked_hello_fields():
    """RFC 6455 5.2 and 5.7: the fields of the masked "Hello" frame, bit by bit."""
    wire = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    ex = explain(wire)
    names = [(f.name, f.bit_start, f.bit_end) for f in ex.fields]
    assert names == [("FIN", 0, 1), ("RSV1", 1, 2), ("RSV2", 2, 3), ("RSV3", 3, 4),
                     ("opcode", 4, 8), ("MASK", 8, 9), ("Payload len", 9, 16),
                     ("Masking-key", 16, 48), ("Payload data", 48, 88)]
    assert ex.fields[4].raw_bits == "0001" and ex.fields[6].value == 5
    assert ex.fields[-1].value == b"Hello" and all(f.ok for f in ex.fields)
    assert ex.complete and ex.valid and ex.used == 11
    text = str(ex)
    assert "Masking-key" in text and "'Hello'" in text and "VALID" in text
    html = ex._repr_html_()
    assert "<table" in html and "Masking-key" in html and "48 65 6c 6c 6f" in html


def test_explain_partial_frame():
    """RFC 6455 5.2: a prefix shows the fields so far and how many bytes are missing."""
    wire = encode_frame(Frame(Opcode.BINARY, b"x" * 300))
    ex = explain(wire[:3])
    assert not ex.complete and ex.valid and ex.needed == 1
    ext = ex.fields[-1]
    assert ext.name == "Extended payload length" and not ext.complete
    assert "INCOMPLETE" in str(ex) and "1 more" in str(ex)
    assert "more byte(s) needed" in ex._repr_html_()
    assert explain(b"").needed == 2


def test_explain_marks_the_first_wrong_field():
    """RFC 6455 5.2/5.5: an invalid frame marks the field of the first wrong bit, with the rule."""
    ex = explain(b"\x89\x7e")
    wrong = [f for f in ex.fields if not f.ok]
    assert [f.name for f in wrong] == ["Payload len"]
    assert "125" in wrong[0].meaning and "RFC 6455 5.5" in str(ex)
    assert ex.error.close_code == 1002
    assert "#ff8787" in ex._repr_html_()
    ex = explain(b"\x81\x05Hello", require_mask=True)
    assert [f.name for f in ex.fields if not f.ok] == ["MASK"]
    ex = explain(b"\x88\x02\x03\xed")
    assert [f.name for f in ex.fields if not f.ok] == ["Close code"]


def test_explain_accepts_a_frame():
    """RFC 6455 5.2: explain(Frame) encodes it first."""
    ex = explain(Frame.close(1000, "bye"))
    assert [f.name for f in ex.fields][-2:] == ["Close code", "Close reason"]
    assert ex.fields[-1].value == b"bye"


# ---------------------------------------------------------------------------
# permessage-deflate (RFC 7692)


def test_deflate_rfc7692_7_2_3_1_hello():
    """RFC 7692 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00."""
    client = deflate.PerMessageDeflate(is_server=False)
    assert client.decompress(bytes.fromhex("f248cdc9c90700")) == b"Hello"
    server = deflate.PerMessageDeflate(is_server=True)
    assert server.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")


def test_deflate_rfc7692_7_2_3_2_sharing_the_window():
    """RFC 7692 7.2.3.2: with context takeover the second "Hello" is f2 00 11 00 00."""
    client = deflate.PerMessageDeflate(is_server=False)
    assert client.decompress(bytes.fromhex("f248cdc9c90700")) == b"Hello"
    assert client.decompress(bytes.fromhex("f200110000")) == b"Hello"
    server = deflate.PerMessageDeflate(is_server=True)
    assert server.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
    assert server.compress(b"Hello") == bytes.fromhex("f200110000")


def test_deflate_no_context_takeover():
    """RFC 7692 7.1.1: without context takeover every message is compressed alone."""
    server = deflate.PerMessageDeflate(is_server=True, server_no_context_takeover=True)
    assert server.compress(b"Hello") == server.compress(b"Hello") == bytes.fromhex(
        "f248cdc9c90700")
    client = deflate.PerMessageDeflate(is_server=False, server_no_context_takeover=True)
    assert client.decompress(bytes.fromhex("f248cdc9c90700")) == b"Hello"
    with pytest.raises(ProtocolError) as info:  # refers to a window that was reset
        client.decompress(bytes.fromhex("f200110000"))
    assert info.value.close_code == 1007


def test_deflate_rfc7692_7_2_3_3_stored_block():
    """RFC 7692 7.2.3.3: a DEFLATE block with no compression."""
    client = deflate.PerMessageDeflate(is_server=False)
    assert client.decompress(bytes.fromhex("000500faff48656c6c6f00")) == b"Hello"


def test_deflate_rfc7692_7_2_3_4_bfinal():
    """RFC 7692 7.2.3.4: a DEFLATE block with BFINAL set to 1; the next message still works."""
    client = deflate.PerMessageDeflate(is_server=False)
    assert client.decompress(bytes.fromhex("f348cdc9c907000000")[:8]) == b"Hello"
    assert client.decompress(bytes.fromhex("f248cdc9c90700")) == b"Hello"


def test_deflate_rfc7692_7_2_3_5_two_blocks():
    """RFC 7692 7.2.3.5: two DEFLATE blocks in one message."""
    client = deflate.PerMessageDeflate(is_server=False)
    data = bytes.fromhex("f248050000 00ffff cac9c90700".replace(" ", ""))
    assert client.decompress(data) == b"Hello"


def test_deflate_roundtrip_empty_and_limit():
    """RFC 7692 7.2.3.6 / 7.2.1: an empty message compresses to 00; max_size gives 1009."""
    server = deflate.PerMessageDeflate(is_server=True)
    client = deflate.PerMessageDeflate(is_server=False)
    assert server.compress(b"") == b"\x00"
    for message in (b"", b"x" * 100000, os.urandom(5000), b"Hello"):
        assert client.decompress(server.compress(message)) == message
    with pytest.raises(ProtocolError) as info:
        client.decompress(server.compress(b"y" * 1000), max_size=999)
    assert info.value.close_code == 1009


def test_deflate_negotiation_helpers():
    """RFC 7692 7.1: extension offers parse into names and parameters."""
    offer = deflate.parse_extension_offer(
        'permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-foo')
    assert offer == [("permessage-deflate", {"client_max_window_bits": None,
                                             "server_max_window_bits": "10"}), ("x-foo", {})]
    pmd = deflate.PerMessageDeflate.from_params(offer[0][1], is_server=True)
    assert pmd.server_max_window_bits == 10 and pmd.client_max_window_bits == 15
    assert pmd.to_header() == "permessage-deflate; server_max_window_bits=10"
    with pytest.raises(ValueError, match="8..15"):
        deflate.PerMessageDeflate(is_server=True, server_max_window_bits=16)
    with pytest.raises(ValueError, match="256-byte"):
        deflate.PerMessageDeflate(is_server=True, server_max_window_bits=8)
    from wslab.protocol.errors import HandshakeError
    with pytest.raises(HandshakeError):
        deflate.parse_extension_offer("permessage-deflate; a; a")
    with pytest.raises(HandshakeError):
        deflate.PerMessageDeflate.from_params({"bogus": None}, is_server=True)


def test_struct_sanity_of_close_code_bytes():
    """RFC 6455 5.5.1: the close code is in network byte order."""
    assert Frame.close(4000).payload == struct.pack("!H", 4000)
