"""Typical student mistakes in notebook 02a's server pieces, each the model with one thing
wrong. Both the piece checks (tests/test_exercises_02a.py) and the conformance run
(tests/test_conformance.py) must reject them, so they are written once, here."""

from __future__ import annotations

from wslab.exercises.solutions import ex02 as m2
from wslab.exercises.solutions import ex02a as m
from wslab.labs.own_server import Fail


def header_bytes(recv_exactly):
    """The header as a right reader takes it: 2 bytes, the extended length, the key."""
    head = recv_exactly(2)
    extra = {126: 2, 127: 8}.get(head[1] & 0x7F, 0)
    return head + recv_exactly(extra + (4 if head[1] & 0x80 else 0))


def read_no_unmask(recv_exactly):
    h = m2.parse_header(header_bytes(recv_exactly))
    return h, recv_exactly(h["length"])


def read_with_length16(decode):
    """A reader whose 16-bit extended length is decoded by ``decode`` (signed, little...)."""
    def read_frame(recv_exactly):
        head = header_bytes(recv_exactly)
        h = m2.parse_header(head)
        if head[1] & 0x7F == 126:
            h["length"] = decode(head[2:4])
        payload = recv_exactly(h["length"])
        return h, m2.mask(payload, h["mask_key"]) if h["masked"] else payload
    return read_frame


def joined(decode):
    """Reassembly that finishes a text message with ``decode`` (the mistake is in there)."""
    def assemble(state, h, payload):
        op = h["opcode"]
        if (op == 0) != ("parts" in state):
            raise Fail(1002, "fragments out of order")
        if op != 0:
            state.update(op=op, parts=[])
        state["parts"].append(payload)
        if not h["fin"]:
            return None
        data = b"".join(state.pop("parts"))
        return decode(data) if state["op"] == 1 else data
    return assemble


def strict_utf8(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail(1007, "text is not UTF-8") from None


def assemble_no_reassembly(state, h, payload):
    return payload.decode("utf-8") if h["opcode"] == 1 else payload


def assemble_per_fragment(state, h, payload):
    op = h["opcode"]
    if (op == 0) != ("parts" in state):
        raise Fail(1002, "fragments out of order")
    if op != 0:
        state.update(op=op, parts=[])
    state["parts"].append(strict_utf8(payload) if state["op"] == 1 else payload)
    if not h["fin"]:
        return None
    parts = state.pop("parts")
    return "".join(parts) if state["op"] == 1 else b"".join(parts)


def control_answers_pong(h, payload):
    return m.encode_frame(10, payload) if h["opcode"] == 10 else m.control(h, payload)


def control_any_code(h, payload):
    return m.encode_frame(8, payload[:2]) if h["opcode"] == 8 else m.control(h, payload)


def control_1005(h, payload):
    if h["opcode"] == 8 and not payload:
        return m.encode_frame(8, (1005).to_bytes(2, "big"))
    return m.control(h, payload)
