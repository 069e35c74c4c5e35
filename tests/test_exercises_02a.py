"""Notebook 02a's checks: the model solutions pass, an unwritten stub says so, and at least
five plausible wrong answers of different kinds per check are refused with a hint that
names what is wrong and where.  The notebook itself runs with the model solutions loaded."""

from __future__ import annotations

import base64
import codecs
import hashlib
import pathlib
import struct

import nbformat
import pytest
from nbclient import NotebookClient

import wslab
from wslab.exercises import Result, ex02a
from wslab.exercises._solutions import names
from wslab.exercises.solutions import ex01 as m1
from wslab.exercises.solutions import ex02 as m2
from wslab.exercises.solutions import ex02a as m
from wslab.labs import own_server
from wslab.labs.own_server import Fail
from wslab.protocol import handshake as hs

from .own_mistakes import (
    assemble_no_reassembly,
    assemble_per_fragment,
    control_1005,
    control_answers_pong,
    control_any_code,
    joined,
    read_no_unmask,
    read_with_length16,
    strict_utf8,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02a_your_own_server.ipynb"


def ok(r: Result) -> bool:
    assert isinstance(r, Result) and r.message
    assert ("[PASS]" in str(r)) == r.ok
    return r.ok


def fails(r: Result, *words: str) -> None:
    assert not ok(r), r
    for w in words:
        assert w.lower() in r.message.lower(), (w, r.message)


def stub(*_args):
    raise NotImplementedError


def test_solutions_are_listed_and_shown_on_request():
    assert {"handshake", "read_frame", "encode_frame", "check_frame", "assemble", "control",
            "check_upgrade", "client_frame"} <= set(names("ex02a"))
    view = ex02a.solution("assemble")
    assert "def assemble(" in str(view) and "<pre" in view._repr_html_()
    with pytest.raises(ValueError, match="available"):
        ex02a.solution("nope")


def test_earlier_models_and_check():
    accept_key, parse_header, mask = ex02a.earlier_models()
    assert accept_key is m1.accept_key and parse_header is m2.parse_header and mask is m2.mask
    assert ok(ex02a.check_earlier(accept_key, parse_header, mask))
    fails(ex02a.check_earlier(accept_key, stub, mask), "parse_header", "not written yet")
    with pytest.raises(ValueError, match="choose from"):
        ex02a.earlier_models("nope")


@pytest.mark.parametrize("check", [ex02a.check_handshake, ex02a.check_read_frame,
                                   ex02a.check_encode_frame, ex02a.check_check_frame,
                                   ex02a.check_assemble, ex02a.check_control,
                                   ex02a.check_check_upgrade, ex02a.check_client_frame])
@pytest.mark.parametrize("bad", [None, 42, "not a function"])
def test_checks_never_raise_on_non_functions(check, bad):
    fails(check(bad), "function")


# -- exercise 1: the handshake -------------------------------------------------------------

def _headers(request):
    out = {}
    for line in request.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out[name.strip()] = value.strip()
    return out


def handshake_case_sensitive(request):
    h = _headers(request)   # names as sent: a lower-case 'sec-websocket-key' is missed
    if h.get("Sec-WebSocket-Version") != "13":
        return b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n"
    if "Sec-WebSocket-Key" not in h:
        return b"HTTP/1.1 400 Bad Request\r\n\r\n"
    return m.handshake(request)


def handshake_hex_accept(request):
    key = _headers(request).get("Sec-WebSocket-Key", "")
    good = m1.accept_key(key)
    wrong = hashlib.sha1((key + hs.GUID).encode()).hexdigest()
    return m.handshake(request).replace(good.encode(), wrong.encode())


def handshake_decoded_key(request):
    key = _headers(request).get("Sec-WebSocket-Key", "")
    wrong = base64.b64encode(hashlib.sha1(base64.b64decode(key) + hs.GUID.encode())
                             .digest()).decode()
    return m.handshake(request).replace(m1.accept_key(key).encode(), wrong.encode())


def handshake_key_error(request):
    h = {k.lower(): v for k, v in _headers(request).items()}
    if h.get("sec-websocket-version") != "13":
        return m.handshake(request)
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {m1.accept_key(h['sec-websocket-key'])}\r\n\r\n").encode()


def test_ex02a_handshake():
    assert ok(ex02a.check_handshake(m.handshake))
    fails(ex02a.check_handshake(stub), "not written yet")
    fails(ex02a.check_handshake(lambda r: m.handshake(r).decode()), "return bytes")
    fails(ex02a.check_handshake(lambda r: m.handshake(r)[:-2]), "empty line")
    fails(ex02a.check_handshake(lambda r: m.handshake(r).replace(b"\r\n", b"\n")), "CRLF")
    fails(ex02a.check_handshake(handshake_hex_accept), "Sec-WebSocket-Accept")
    fails(ex02a.check_handshake(handshake_decoded_key), "Sec-WebSocket-Accept", "sample key")
    fails(ex02a.check_handshake(handshake_case_sensitive), "lower case", "answered 426")
    fails(ex02a.check_handshake(lambda r: m.handshake(r.replace(b"Version: 12", b"Version: 13"))),
          "Sec-WebSocket-Version: 12", "426")
    fails(ex02a.check_handshake(lambda r: m.handshake(r).replace(
        b"Sec-WebSocket-Version: 13\r\n", b"")), "Sec-WebSocket-Version: 13", "MUST")
    fails(ex02a.check_handshake(handshake_key_error), "KeyError", "line")
    fails(ex02a.check_handshake(lambda r: m.handshake(r).replace(b"101 Switching Protocols",
                                                                 b"200 OK")), "101")
    fails(ex02a.check_handshake(lambda r: m.handshake(r).replace(b"Connection: Upgrade\r\n",
                                                                 b"")), "Connection")


# -- exercise 2: reading a frame -------------------------------------------------------------

def read_fixed_header(recv_exactly):
    head = recv_exactly(14)                     # the largest header, whatever the frame
    h = m2.parse_header(head)
    size, n = h["header_size"], h["length"]
    more = max(0, size + n - 14)
    payload = (head[size:] + recv_exactly(more))[:n]
    return h, m2.mask(payload, h["mask_key"]) if h["masked"] else payload


def read_without_key(recv_exactly):
    head = recv_exactly(2)
    head += recv_exactly({126: 2, 127: 8}.get(head[1] & 0x7F, 0))   # forgets the mask key
    h = m2.parse_header(head)
    payload = recv_exactly(h["length"])
    return h, m2.mask(payload, h["mask_key"]) if h["masked"] else payload


def test_ex02a_read_frame():
    assert ok(ex02a.check_read_frame(m.read_frame))
    fails(ex02a.check_read_frame(stub), "not written yet")
    fails(ex02a.check_read_frame(read_no_unmask), "still masked", "5.3")
    fails(ex02a.check_read_frame(read_with_length16(
        lambda b: int.from_bytes(b, "big", signed=True))), "40,000", "negative", "signed")
    fails(ex02a.check_read_frame(read_with_length16(lambda b: int.from_bytes(b, "little"))),
          "h['length']", "256", "16-bit length")
    fails(ex02a.check_read_frame(read_fixed_header), "it read 14 bytes of a 7-byte frame",
          "exactly")
    fails(ex02a.check_read_frame(read_without_key), "read_frame raised")
    fails(ex02a.check_read_frame(lambda r: m.read_frame(r)[1]), "return a pair")
    fails(ex02a.check_read_frame(lambda r: m.read_frame(r)[::-1]), "header dict")


# -- exercise 3: encoding a frame --------------------------------------------------------------

def encode_masked(opcode, payload):
    frame = bytearray(m.encode_frame(opcode, payload))
    frame[1] |= 0x80
    return bytes(frame)


def encode_boundary(opcode, payload):
    n = len(payload)
    if n < 125:
        return bytes([0x80 | opcode, n]) + payload
    return m.encode_frame(opcode, payload) if n > 0xFFFF else (
        bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big") + payload)


def encode_little(opcode, payload):
    n = len(payload)
    if 125 < n <= 0xFFFF:
        return bytes([0x80 | opcode, 126]) + n.to_bytes(2, "little") + payload
    return m.encode_frame(opcode, payload)


def encode_signed(opcode, payload):
    n = len(payload)
    if 125 < n <= 0xFFFF:
        return struct.pack("!BBh", 0x80 | opcode, 126, n) + payload
    return m.encode_frame(opcode, payload)


def encode_64_as_32(opcode, payload):
    n = len(payload)
    if n > 0xFFFF:
        return bytes([0x80 | opcode, 127]) + n.to_bytes(4, "big") + payload
    return m.encode_frame(opcode, payload)


def test_ex02a_encode_frame():
    assert ok(ex02a.check_encode_frame(m.encode_frame))
    fails(ex02a.check_encode_frame(stub), "not written yet")
    fails(ex02a.check_encode_frame(encode_masked), "byte 1", "MASK")
    fails(ex02a.check_encode_frame(lambda op, p: bytes([op]) + m.encode_frame(op, p)[1:]),
          "byte 0", "FIN")
    fails(ex02a.check_encode_frame(encode_boundary), "125 bytes", "byte 1")
    fails(ex02a.check_encode_frame(encode_little), "126 bytes", "16-bit extended length")
    fails(ex02a.check_encode_frame(encode_signed), "raised error", "line")
    fails(ex02a.check_encode_frame(encode_64_as_32), "65,536 bytes", "64-bit")
    fails(ex02a.check_encode_frame(lambda op, p: m.encode_frame(op, p).hex()), "return bytes")


# -- exercise 4: what to reject -----------------------------------------------------------------

def check_rsv1_only(h):
    return m.check_frame({**h, "rsv2": False, "rsv3": False})


def check_rejects_continuation(h):
    if h["opcode"] == 0:
        raise Fail(1002, "opcode 0")
    m.check_frame(h)


def check_only_high_opcodes(h):
    return m.check_frame({**h, "opcode": 2 if 3 <= h["opcode"] <= 7 else h["opcode"]})


def check_off_by_one(h):
    if h["opcode"] >= 8 and h["length"] >= 125:
        raise Fail(1002, "too big")
    m.check_frame(h)


def check_returns_false(h):
    try:
        m.check_frame(h)
    except Fail:
        return False
    return True


def check_value_error(h):
    try:
        m.check_frame(h)
    except Fail as exc:
        raise ValueError(exc.reason) from None


def check_wrong_code(h):
    try:
        m.check_frame(h)
    except Fail as exc:
        raise Fail(1003, exc.reason) from None


def test_ex02a_check_frame():
    assert ok(ex02a.check_check_frame(m.check_frame))
    fails(ex02a.check_check_frame(stub), "not written yet")
    fails(ex02a.check_check_frame(check_rsv1_only), "RSV2 set", "let it through")
    fails(ex02a.check_check_frame(check_rejects_continuation), "continuation frame", "valid")
    fails(ex02a.check_check_frame(check_only_high_opcodes), "opcode 3", "reserved")
    fails(ex02a.check_check_frame(check_off_by_one), "ping of 125 bytes", "valid")
    fails(ex02a.check_check_frame(lambda h: m.check_frame({**h, "fin": True})),
          "fragmented ping", "never fragmented")
    fails(ex02a.check_check_frame(lambda h: m.check_frame({**h, "masked": True})),
          "unmasked", "5.1")
    fails(ex02a.check_check_frame(check_returns_false), "RSV1 set", "let it through")
    fails(ex02a.check_check_frame(check_value_error), "raised ValueError")
    fails(ex02a.check_check_frame(check_wrong_code), "Fail(1003)", "1002")


# -- exercise 5: messages from fragments ------------------------------------------------------

def assemble_no_reset(state, h, payload):
    op = h["opcode"]
    if op != 0:
        state.setdefault("parts", [])
        state["op"] = op
        state["utf8"] = codecs.getincrementaldecoder("utf-8")()
    state["parts"].append(payload)
    if not h["fin"]:
        return None
    data = b"".join(state["parts"])
    return strict_utf8(data) if state["op"] == 1 else data


def assemble_binary_as_text(state, h, payload):
    got = m.assemble(state, h, payload)
    return strict_utf8(got) if isinstance(got, bytes) else got


def assemble_no_order_rules(state, h, payload):
    if h["opcode"] == 0 and "parts" not in state:
        state.update(op=1, parts=[], utf8=codecs.getincrementaldecoder("utf-8")())
    if h["opcode"] != 0 and "parts" in state:
        state.pop("parts")
    return m.assemble(state, h, payload)


def test_ex02a_assemble():
    assert ok(ex02a.check_assemble(m.assemble))
    fails(ex02a.check_assemble(stub), "not written yet")
    fails(ex02a.check_assemble(assemble_no_reassembly), "text in 3 fragments", "FIN=1")
    fails(ex02a.check_assemble(lambda s, h, p: (lambda g: g.encode() if isinstance(g, str)
                                                else g)(m.assemble(s, h, p))),
          "one text frame", "b'Hello'")
    fails(ex02a.check_assemble(assemble_binary_as_text), "not UTF-8", "only text is decoded")
    fails(ex02a.check_assemble(assemble_per_fragment), "split across fragments", "incremental")
    fails(ex02a.check_assemble(joined(strict_utf8)), "first fragment", "as soon as")
    fails(ex02a.check_assemble(joined(lambda d: d.decode("utf-8", "replace"))), "0xff",
          "Fail(1007")
    fails(ex02a.check_assemble(assemble_no_reset), "two messages in a row", "start afresh")
    fails(ex02a.check_assemble(assemble_no_order_rules), "no message open", "Fail(1002")


# -- exercise 6: control frames ---------------------------------------------------------------

def control_empty_pong(h, payload):
    return m.encode_frame(10, b"") if h["opcode"] == 9 else m.control(h, payload)


def control_ping_back(h, payload):
    return m.encode_frame(9, payload) if h["opcode"] == 9 else m.control(h, payload)


def control_no_private_codes(h, payload):
    if h["opcode"] == 8 and int.from_bytes(payload[:2], "big") >= 3000:
        raise Fail(1002, "unknown code")
    return m.control(h, payload)


def control_reason_unchecked(h, payload):
    if h["opcode"] == 8 and len(payload) > 2:
        return m.control(h, payload[:2])
    return m.control(h, payload)


def test_ex02a_control():
    assert ok(ex02a.check_control(m.control))
    fails(ex02a.check_control(stub), "not written yet")
    fails(ex02a.check_control(control_empty_pong), "ping of 125 bytes", "Ping's payload")
    fails(ex02a.check_control(control_ping_back), "PONG", "opcode 10")
    fails(ex02a.check_control(control_answers_pong), "a pong", "no answer")
    fails(ex02a.check_control(control_any_code), "1-byte body", "Fail(1002")
    fails(ex02a.check_control(control_no_private_codes), "close 3000", "it is valid")
    fails(ex02a.check_control(control_reason_unchecked), "not UTF-8", "Fail(1007")
    fails(ex02a.check_control(control_1005), "close without a code", "1005")
    fails(ex02a.check_control(lambda h, p: p if h["opcode"] != 10 else None),
          "empty ping", "bytes")


# -- exercise 7: the client's check --------------------------------------------------------------

def upgrade_status_only(response, key):
    return response.startswith(b"HTTP/1.1 101")


def upgrade_case_sensitive(response, key):
    text = response.decode("latin-1")
    return (text.startswith("HTTP/1.1 101") and "Upgrade: websocket" in text
            and "Connection: Upgrade" in text
            and f"Sec-WebSocket-Accept: {m1.accept_key(key)}" in text)


def upgrade_accept_present(response, key):
    text = response.decode("latin-1").lower()   # the Accept is there, its value unchecked
    return (text.startswith("http/1.1 101") and "upgrade: websocket" in text
            and "upgrade" in text.split("connection:")[-1].split("\r\n")[0]
            and "sec-websocket-accept:" in text)


def upgrade_exact_connection(response, key):
    text = response.decode("latin-1").lower()
    return m.check_upgrade(response, key) and "connection: upgrade\r\n" in text


def test_ex02a_check_upgrade():
    assert ok(ex02a.check_check_upgrade(m.check_upgrade))
    fails(ex02a.check_check_upgrade(stub), "not written yet")
    fails(ex02a.check_check_upgrade(upgrade_status_only), "without Upgrade", "accepted it")
    fails(ex02a.check_check_upgrade(upgrade_case_sensitive), "lower-case", "refused it")
    fails(ex02a.check_check_upgrade(upgrade_accept_present), "another key", "accepted it")
    fails(ex02a.check_check_upgrade(upgrade_exact_connection), "keep-alive", "refused it")
    fails(ex02a.check_check_upgrade(lambda r, k: "yes" if m.check_upgrade(r, k) else ""),
          "True or False")
    fails(ex02a.check_check_upgrade(lambda r, k: m.check_upgrade(  # Connection unchecked
        r.replace(b"\r\n\r\n", b"\r\nConnection: Upgrade\r\n\r\n"), k)),
        "without Connection: Upgrade", "accepted it")


# -- exercise 8: a client's masked frame -----------------------------------------------------------

def client_no_mask_bit(opcode, payload, key):
    frame = bytearray(m.client_frame(opcode, payload, key))
    frame[1] &= 0x7F
    return bytes(frame)


def client_unmasked_payload(opcode, payload, key):
    return m.client_frame(opcode, payload, key)[:-len(payload) or None] + payload


def client_no_key(opcode, payload, key):
    frame = m.client_frame(opcode, payload, key)
    head = len(frame) - len(payload) - 4
    return frame[:head] + frame[head + 4:]


def client_key3(opcode, payload, key):
    frame = m.client_frame(opcode, payload, key)
    head = frame[:len(frame) - len(payload)]
    return head + bytes(b ^ key[i % 3] for i, b in enumerate(payload))


def client_boundary(opcode, payload, key):
    if len(payload) == 125:
        return (bytes([0x80 | opcode, 0x80 | 126]) + (125).to_bytes(2, "big") + key
                + m2.mask(payload, key))
    return m.client_frame(opcode, payload, key)


def test_ex02a_client_frame():
    assert ok(ex02a.check_client_frame(m.client_frame))
    fails(ex02a.check_client_frame(stub), "not written yet")
    fails(ex02a.check_client_frame(client_no_mask_bit), "byte 1", "the header")
    fails(ex02a.check_client_frame(client_unmasked_payload), "the masked payload")
    fails(ex02a.check_client_frame(client_no_key), "the masking key")
    fails(ex02a.check_client_frame(client_key3), "5 bytes", "byte 9", "masked payload")
    fails(ex02a.check_client_frame(client_boundary), "125 bytes", "the header")
    fails(ex02a.check_client_frame(lambda op, p, k: m.encode_frame(op, p)), "the header")


# -- the whole server and the whole client ---------------------------------------------------------

MODEL_PIECES = {p: getattr(m, p) for p in own_server.PIECES}
CLIENT = {"upgrade_request": m1.upgrade_request, "check_upgrade": m.check_upgrade,
          "client_frame": m.client_frame, "read_frame": m.read_frame, "assemble": m.assemble}


def test_check_server_passes_the_model_and_names_a_broken_piece():
    server = own_server.start(name="pytest-02a", **MODEL_PIECES)
    try:
        r = ex02a.check_server(server)
        assert ok(r) and "all 55 cases OK" in r.message
    finally:
        server.stop()
    broken = own_server.start(name="pytest-02a", **{**MODEL_PIECES,
                                                    "control": control_answers_pong})
    try:
        fails(ex02a.check_server(broken, timeout=1.0), "4.5 an unsolicited pong",
              "NON-STRICT", "5.5.3")
    finally:
        broken.stop()
    fails(ex02a.check_server("ws://nowhere"), "own_server.start")
    unwritten = own_server.start(name="pytest-02a", **{**MODEL_PIECES, "handshake": stub})
    try:
        fails(ex02a.check_server(unwritten), "opening handshake fails", "500",
              "handshake raised NotImplementedError")
    finally:
        unwritten.stop()


def test_check_client_passes_the_model_and_refuses_broken_pieces():
    assert ok(ex02a.check_client(**CLIENT))
    fails(ex02a.check_client(**{**CLIENT, "client_frame": client_no_mask_bit}),
          "unmasked client frame", "1002")
    fails(ex02a.check_client(**{**CLIENT, "check_upgrade": lambda r, k: False}),
          "check_upgrade refused")
    fails(ex02a.check_client(**{**CLIENT, "client_frame": stub}), "NotImplementedError")
    fails(ex02a.check_client(upgrade_request=m1.upgrade_request), "missing")


# -- the notebook, with the model solutions loaded -----------------------------------------------

STUBS = ("accept_key", "parse_header", "mask", "upgrade_request", "handshake", "read_frame",
         "encode_frame",
         "check_frame", "assemble", "control", "check_upgrade", "client_frame")


def with_models(nb: nbformat.NotebookNode) -> list[str]:
    """Replace each stub cell's functions by the model solutions (as a learner who pasted
    them would); return the names replaced."""
    replaced = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "raise NotImplementedError" not in cell.source:
            continue
        defined = [n for n in STUBS if f"def {n}(" in cell.source]
        assert defined, f"a stub cell defines none of the known names: {cell.source[:80]}"
        sources = []
        for n in defined:
            module = ex02a.EARLIER.get(n, "ex02a")
            sources.append(str(ex02a._solutions.show(module, n)))
        cell.source = "\n\n".join(sources)
        replaced += defined
    return replaced


def test_notebook_with_model_solutions(tmp_path, monkeypatch):
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                "MPLCONFIGDIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert sorted(with_models(nb)) == sorted(STUBS)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"
                or o.get("name") == "stderr"]
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)
    assert html.count("data-ok='true'") >= 11 and "data-ok='false'" not in html
    assert "55 OK" in text or html.count("data-outcome='OK'") >= 110
    assert "websockets" in text and "NOT YET" not in text
    wslab.stop_all()
