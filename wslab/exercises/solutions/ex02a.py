"""Model solutions for 02a_your_own_server.ipynb (shown by ``ex02a.solution(name)``).

They use the pieces of notebooks 01 and 02 (``accept_key``, ``parse_header``, ``mask``)
and ``Fail`` from ``wslab.labs.own_server``, as the notebook's cells do.
"""

import codecs

from ...labs.own_server import Fail
from .ex01 import accept_key
from .ex02 import mask, parse_header


def handshake(request: bytes) -> bytes:
    headers = {}
    for line in request.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()      # header names ignore case
    if headers.get("sec-websocket-version") != "13":       # RFC 6455 4.2.2 /version/
        return (b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                b"Content-Length: 0\r\n\r\n")
    key = headers.get("sec-websocket-key")
    if not key or "websocket" not in headers.get("upgrade", "").lower():
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode("ascii")


def read_frame(recv_exactly):
    head = recv_exactly(2)
    extra = {126: 2, 127: 8}.get(head[1] & 0x7F, 0)        # extended length bytes
    head += recv_exactly(extra + (4 if head[1] & 0x80 else 0))  # and the masking key
    h = parse_header(head)
    payload = recv_exactly(h["length"])
    if h["masked"]:
        payload = mask(payload, h["mask_key"])             # XOR with key[i % 4] (5.3)
    return h, payload


def encode_frame(opcode, payload):
    first = 0x80 | opcode                                   # FIN=1, RSV1-3 = 0
    n = len(payload)
    if n <= 125:
        header = bytes([first, n])
    elif n <= 0xFFFF:
        header = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 127]) + n.to_bytes(8, "big")
    return header + payload                                 # a server never masks (5.1)


def check_frame(h):
    if h["rsv1"] or h["rsv2"] or h["rsv3"]:
        raise Fail(1002, "reserved bit set, no extension negotiated")
    if h["opcode"] not in (0, 1, 2, 8, 9, 10):
        raise Fail(1002, f"reserved opcode {h['opcode']}")
    if not h["masked"]:
        raise Fail(1002, "client frames must be masked")
    if h["opcode"] >= 8 and (h["length"] > 125 or not h["fin"]):
        raise Fail(1002, "control frames: at most 125 bytes, never fragmented")


def assemble(state, h, payload):
    op = h["opcode"]
    if (op == 0) != ("parts" in state):                     # CONTINUATION iff one is open
        raise Fail(1002, "unexpected continuation" if op == 0 else "message inside a message")
    if op != 0:
        state.update(op=op, parts=[], utf8=codecs.getincrementaldecoder("utf-8")())
    if state["op"] == 1:
        try:                                                # fails as soon as bytes are bad
            payload = state["utf8"].decode(payload, final=h["fin"])
        except UnicodeDecodeError:
            raise Fail(1007, "text is not UTF-8") from None
    state["parts"].append(payload)
    if not h["fin"]:
        return None
    parts = state.pop("parts")
    return "".join(parts) if state["op"] == 1 else b"".join(parts)


def control(h, payload):
    if h["opcode"] == 9:                                    # ping: the same payload back
        return encode_frame(10, payload)
    if h["opcode"] == 10:                                   # pong: nothing to answer
        return None
    if len(payload) == 1:
        raise Fail(1002, "a close body is empty or starts with a 2-byte code")
    code = int.from_bytes(payload[:2], "big")
    if payload and not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise Fail(1002, f"close code {code} is not allowed on the wire")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise Fail(1007, "close reason is not UTF-8") from None
    return encode_frame(8, payload[:2])                     # echo the code (none: none)


def check_upgrade(response, key):
    lines = response.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        return False
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    connection = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    return (headers.get("upgrade", "").lower() == "websocket" and "upgrade" in connection
            and headers.get("sec-websocket-accept") == accept_key(key))


def client_frame(opcode, payload, key):
    n = len(payload)
    if n <= 125:
        header = bytes([0x80 | opcode, 0x80 | n])           # MASK bit set: a client masks
    elif n <= 0xFFFF:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return header + key + mask(payload, key)                # every frame, a fresh key
