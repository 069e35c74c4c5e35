"""Checks of notebooks 00-02: the model solution passes; plausible wrong answers of different
kinds (off by one, wrong unit, wrong order, missing field, rule in the wrong place, right only
for easy inputs) each fail with feedback naming what is wrong and where; an unwritten stub says
"not written yet"; nothing raises.  03-04 (live servers): test_exercises_00_04_live.py;
predictions: test_exercises_00_04_predict.py."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wslab.exercises import Result, ex00, ex01, ex02, ex03, ex04
from wslab.exercises.solutions import ex00 as s00
from wslab.exercises.solutions import ex01 as s01
from wslab.exercises.solutions import ex02 as s02
from wslab.protocol import handshake

GUID = handshake.GUID


def ok(r: Result) -> bool:
    assert isinstance(r, Result) and r.message
    assert ("[PASS]" in str(r)) == r.ok
    assert ("data-ok='true'" in r._repr_html_()) == r.ok
    return r.ok


def fails(r: Result, *words: str) -> None:
    assert not ok(r), r
    for w in words:
        assert w.lower() in r.message.lower(), (w, r.message)


def stub1(a):
    raise NotImplementedError


def stub2(a, b):
    raise NotImplementedError


def stub4(a, b, c, d):
    raise NotImplementedError


# -- 00: header_bytes ------------------------------------------------------------------------

def _header(n: int, client: bool, *, low: int = 126, high: int = 65535, ext16: int = 2,
            ext64: int = 8, key: int = 4, key_on_server: bool = False) -> int:
    """A student's header_bytes with one knob turned (the right answer with the defaults)."""
    size = 2
    if low <= n <= high:
        size += ext16
    elif n > high:
        size += ext64
    if client != key_on_server:
        size += key
    return size


HEADER_WRONG = [
    # (what the student did, the function, words the feedback must contain)
    ("forgot the masking key", lambda n, c: _header(n, False),
     ["header_bytes(0, True)", "masking key", "leaves out"]),
    ("off by one: 126 still in 7 bits", lambda n, c: _header(n, c, low=127),
     ["header_bytes(126, False)", "says 126", "2 more bytes"]),
    ("off by one: 65,535 in the 64-bit form", lambda n, c: _header(n, c, high=65534),
     ["header_bytes(65535, False)", "126-65,535"]),
    ("64-bit length counted as 4 bytes", lambda n, c: _header(n, c, ext64=4),
     ["header_bytes(65536, False)", "8 more bytes", "not 4"]),
    ("masking key counted in bits", lambda n, c: _header(n, c, key=32),
     ["header_bytes(0, True)", "bytes, not bits"]),
    ("extended lengths counted in bits", lambda n, c: _header(n, c, ext16=16, ext64=64),
     ["header_bytes(126, False)", "not in bits (16 or 64)"]),
    ("mask key on server frames (rule in the wrong place)",
     lambda n, c: _header(n, c, key_on_server=True),
     ["header_bytes(0, False)", "only clients mask"]),
    ("branches in the wrong order", lambda n, c: 2 + (2 if n > 125 else 8 if n > 65535 else 0)
     + 4 * c, ["header_bytes(65536, False)", "8 more bytes"]),
    ("right only for short payloads", lambda n, c: 2 + 4 * c,
     ["header_bytes(126, False)", "2 more bytes"]),
    ("returns text", lambda n, c: str(_header(n, c)), ["whole number"]),
    ("returns a bool", lambda n, c: True, ["whole number"]),
]


def test_ex00_header_bytes_passes_the_model_and_names_what_is_unwritten():
    r = ex00.check_header_bytes(s00.header_bytes)
    assert ok(r) and "6-14" in r.message
    fails(ex00.check_header_bytes(stub2), "not written yet")
    fails(ex00.check_header_bytes(lambda n: 2), "2 argument")


@pytest.mark.parametrize("what, fn, words", HEADER_WRONG, ids=[w[0] for w in HEADER_WRONG])
def test_ex00_header_bytes_rejects(what, fn, words):
    fails(ex00.check_header_bytes(fn), *words)


# -- 01: accept_key --------------------------------------------------------------------------

def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _sha1(text: str) -> bytes:
    return hashlib.sha1(text.encode()).digest()


ACCEPT_WRONG = [
    ("hex digest", lambda k: hashlib.sha1((k + GUID).encode()).hexdigest(),
     ["dGhlIHNhbXBsZSBub25jZQ==", "SHA-1 in hex", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]),
    ("base64 of the hex digest",
     lambda k: base64.b64encode(hashlib.sha1((k + GUID).encode()).hexdigest().encode()).decode(),
     ["the RFC's sample key", "base64 of the hex digest", ".digest()"]),
    ("GUID in lower case", lambda k: _b64(_sha1(k + GUID.lower())),
     ["lower case", GUID, "upper-case"]),
    ("GUID before the key (wrong order)", lambda k: _b64(_sha1(GUID + k)),
     ["after the key", "not GUID + key"]),
    ("GUID without dashes", lambda k: _b64(_sha1(k + GUID.replace("-", ""))), ["dashes"]),
    ("GUID missing", lambda k: _b64(_sha1(k)), ["GUID", "missing"]),
    ("key base64-decoded first",
     lambda k: _b64(hashlib.sha1(base64.b64decode(k) + GUID.encode()).digest()),
     ["base64-decoded the key"]),
    ("SHA-256", lambda k: _b64(hashlib.sha256((k + GUID).encode()).digest()), ["SHA-256"]),
    ("URL-safe base64", lambda k: base64.urlsafe_b64encode(_sha1(k + GUID)).decode(),
     ["URL-safe", "'+' and '/'"]),
    ("padding stripped", lambda k: _b64(_sha1(k + GUID)).rstrip("="), ["padding"]),
    ("returns bytes", lambda k: base64.b64encode(_sha1(k + GUID)), ["str", "decode"]),
    ("right only for the RFC's sample key", lambda k: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
     ["a random key", "RFC example's answer"]),
    ("a typo in the GUID", lambda k: _b64(_sha1(k + GUID[:-1] + "2")),
     ["well-formed SHA-1", "character by character", GUID]),
]


def test_ex01_accept_key_passes_the_model():
    assert ok(ex01.check_accept_key(s01.accept_key))
    fails(ex01.check_accept_key(stub1), "not written yet")
    fails(ex01.check_accept_key(lambda k: 1 / 0), "ZeroDivisionError", "line")


@pytest.mark.parametrize("what, fn, words", ACCEPT_WRONG, ids=[w[0] for w in ACCEPT_WRONG])
def test_ex01_accept_key_rejects(what, fn, words):
    fails(ex01.check_accept_key(fn), "accept_key(", *words)


# -- 01: upgrade_request, against the live server --------------------------------------------

def _variant(old: bytes, new: bytes):
    return lambda h, p, path, k: s01.upgrade_request(h, p, path, k).replace(old, new)


def _fixed(**fixed):
    """A student who wrote one argument into the request instead of using it."""
    def request(host, port, path, key):
        args = {"host": host, "port": port, "path": path, "key": key} | fixed
        return s01.upgrade_request(args["host"], args["port"], args["path"], args["key"])
    return request


UPGRADE_WRONG = [
    ("LF line ends", _variant(b"\r\n", b"\n"), ["CRLF", "RFC 9112 2.1"]),
    ("no empty line at the end", lambda h, p, path, k: s01.upgrade_request(h, p, path, k)[:-2],
     ["empty line"]),
    ("version 8", _variant(b"Version: 13", b"Version: 8"), ["426", "13"]),
    ("Connection missing", _variant(b"Connection: Upgrade\r\n", b""),
     ["400", "Connection", "Upgrade"]),
    ("Upgrade missing", _variant(b"Upgrade: websocket\r\n", b""), ["400", "Upgrade: websocket"]),
    ("HTTP/1.0", _variant(b"HTTP/1.1", b"HTTP/1.0"), ["400", "HTTP/1.0"]),
    ("POST", _variant(b"GET ", b"POST "), ["400", "GET"]),
    ("Host without port", lambda h, p, path, k: s01.upgrade_request(h, p, path, k).replace(
        f"{h}:{p}".encode(), h.encode()), ["Host is 'ws.example.test'", "port", "4.1 item 4"]),
    ("path hard-coded to /echo", _fixed(path="/echo"),
     ["ws.example.test", "'/echo'", "path argument '/chat?room=7'"]),
    ("host hard-coded to 127.0.0.1", _fixed(host="127.0.0.1"),
     ["Host is '127.0.0.1:8765'", "'ws.example.test:8765'"]),
    ("the RFC's sample key, always", _fixed(key="dGhlIHNhbXBsZSBub25jZQ=="),
     ["Sec-WebSocket-Key is 'dGhlIHNhbXBsZSBub25jZQ=='", "the key you were given"]),
    ("returns text", lambda h, p, path, k: s01.upgrade_request(h, p, path, k).decode(),
     ["bytes", "encode"]),
]


def test_ex01_upgrade_request_against_the_live_server(server):
    r = ex01.check_upgrade_request(s01.upgrade_request, server)
    assert ok(r) and "101 Switching Protocols" in r.message and "cleanly" in r.message
    fails(ex01.check_upgrade_request(stub4, server), "not written yet")
    for what, fn, words in UPGRADE_WRONG:
        r = ex01.check_upgrade_request(fn, server)
        assert not ok(r), what
        for w in ["upgrade_request("] + words:
            assert w.lower() in r.message.lower(), (what, w, r.message)
    # well-formed, but the live server refuses the foreign origin: its real status is shown
    fails(ex01.check_upgrade_request(
        _variant(b"Version: 13\r\n", b"Version: 13\r\nOrigin: http://evil.example\r\n"), server),
          "live server answered", "403")


# -- 02: parse_header ------------------------------------------------------------------------

def _tweak(field, fn):
    def parse(data):
        r = s02.parse_header(data)
        r[field] = fn(data, r)
        return r
    return parse


def _ext(d: bytes, size: int, order: str, default: int) -> int:
    return int.from_bytes(d[2:2 + size], order) if d[1] & 0x7F == {2: 126, 8: 127}[size] \
        else default


PARSE_WRONG = [
    ("opcode from the high nibble", _tweak("opcode", lambda d, r: d[0] >> 4),
     ["5.7: unmasked text", "opcode (the low 4 bits"]),
    ("FIN from the low bit", _tweak("fin", lambda d, r: bool(d[0] & 1)), ["FIN (bit 0"]),
    ("RSV2 and RSV3 swapped", _tweak("rsv2", lambda d, r: bool(d[0] & 0x10)),
     ["RSV2 alone set", "RSV2 (bit 2 of byte 0, 0x20) is True, yours False", "RSV3 0x10"]),
    ("RSV3 and RSV2 swapped", _tweak("rsv3", lambda d, r: bool(d[0] & 0x20)),
     ["RSV2 alone set", "RSV3 (bit 3 of byte 0, 0x10) is False, yours True"]),
    ("RSV2 never read", _tweak("rsv2", lambda d, r: False), ["RSV2 alone set", "RSV2"]),
    ("RSV3 never read", _tweak("rsv3", lambda d, r: False), ["RSV3 alone set", "RSV3"]),
    ("RSV1 never read", _tweak("rsv1", lambda d, r: False), ["RSV1 alone set", "RSV1"]),
    ("no extended length", _tweak("length", lambda d, r: d[1] & 0x7F),
     ["extended payload length (bytes 2-3", "is 256, yours 126"]),
    ("16-bit length little-endian", _tweak("length", lambda d, r: _ext(d, 2, "little",
                                                                      r["length"])),
     ["bytes 2-3, 16 bits big-endian"]),
    ("64-bit length little-endian", _tweak("length", lambda d, r: _ext(d, 8, "little",
                                                                      r["length"])),
     ["bytes 2-9"]),
    ("length with the MASK bit in it", _tweak("length", lambda d, r: d[1]),
     ["5.7: masked text", "Payload len"]),
    ("MASK as an int", _tweak("masked", lambda d, r: d[1] & 0x80),
     ["5.7: unmasked text", "MASK", "yours 0 (an int; return True or False"]),
    ("MASK as 0 or 1, FIN as 0 or 1", lambda d: s02.parse_header(d) | {
        "fin": d[0] >> 7, "masked": d[1] >> 7}, ["FIN", "yours 1 (an int"]),
    ("mask key always at byte 2", _tweak("mask_key", lambda d, r: d[2:6] if d[1] & 0x80
                                         else None), ["masking key", "masked"]),
    ("header size without the mask key", _tweak("header_size", lambda d, r: r["header_size"]
                                                - 4 * r["masked"]),
     ["5.7: masked text", "header size", "is 6, yours 2"]),
    ("64-bit header counted as 8 bytes", _tweak("header_size", lambda d, r: r["header_size"]
                                                - 2 * (d[1] & 0x7F == 127)),
     ["64 KiB binary", "header size", "is 10, yours 8"]),
    ("a tuple", lambda d: (d[0], d[1]), ["dict"]),
    ("a key missing", lambda d: {k: v for k, v in s02.parse_header(d).items()
                                 if k != "header_size"}, ["lacks header_size"]),
]


def test_ex02_parse_header_passes_the_model():
    r = ex02.check_parse_header(s02.parse_header)
    assert ok(r) and "RSV2" in r.message and "65,536" in r.message
    fails(ex02.check_parse_header(stub1), "not written yet")


@pytest.mark.parametrize("what, fn, words", PARSE_WRONG, ids=[w[0] for w in PARSE_WRONG])
def test_ex02_parse_header_rejects(what, fn, words):
    fails(ex02.check_parse_header(fn), *words)


def test_ex02_frames_set_each_reserved_bit_alone():
    import random
    cases = ex02.flag_frames(random.Random(1))
    alone = {what: data[0] & 0x70 for what, data, _ in cases if "alone" in what}
    assert sorted(alone.values()) == [0x10, 0x20, 0x40]
    assert all(want["header_size"] == len(data) - want["length"] for _, data, want in cases)
    sizes = {want["length"] for _, _, want in ex02.boundary_frames(random.Random(1))}
    assert {125, 126, 65535, 65536} <= sizes


# -- 02: mask --------------------------------------------------------------------------------

MASK_WRONG = [
    ("key[i % 3]", lambda d, k: bytes(b ^ k[i % 3] for i, b in enumerate(d)),
     ["5.7: 'Hello'", "byte 3 differs", "key[3 % 4] = key[3] = 0x3d", "key[0]"]),
    ("key[0] only", lambda d, k: bytes(b ^ k[0] for b in d),
     ["byte 1 differs", "key[1]", "yours XORs it with 0x37, key[0]"]),
    ("off by one: key[(i + 1) % 4]", lambda d, k: bytes(b ^ k[(i + 1) % 4]
                                                        for i, b in enumerate(d)),
     ["byte 0 differs", "key[0 % 4]", "key[1]"]),
    ("key reversed", lambda d, k: bytes(b ^ k[::-1][i % 4] for i, b in enumerate(d)),
     ["byte 0 differs", "key[3]"]),
    ("zip stops after 4 bytes", lambda d, k: bytes(a ^ b for a, b in zip(d, k)),  # noqa: B905
     ["5.7: 'Hello'", "yours has 4 bytes", "zip()"]),
    ("only the first 4 bytes masked", lambda d, k: bytes(b ^ k[i] if i < 4 else b
                                                         for i, b in enumerate(d)),
     ["5.7: 'Hello'", "byte 4 differs", "yours is data[4] unchanged"]),
    ("addition instead of XOR (right for byte 0 of the RFC's example)",
     lambda d, k: bytes((b + k[i % 4]) % 256 for i, b in enumerate(d)),
     ["byte 1 differs", "not data[1] XOR any key byte"]),
    ("a list", lambda d, k: [b ^ k[i % 4] for i, b in enumerate(d)], ["bytes"]),
    ("unchanged", lambda d, k: d, ["byte 0 differs", "data[0] unchanged"]),
]


def test_ex02_mask_passes_the_model():
    assert ok(ex02.check_mask(s02.mask))
    fails(ex02.check_mask(stub2), "not written yet")


@pytest.mark.parametrize("what, fn, words", MASK_WRONG, ids=[w[0] for w in MASK_WRONG])
def test_ex02_mask_rejects(what, fn, words):
    rule = [] if what == "a list" else ["key", "(RFC 6455 5.3)"]
    fails(ex02.check_mask(fn), *rule, *words)


# -- all code checks -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, 42, "not a function"])
def test_code_checks_never_raise_on_non_functions(bad):
    for check in (ex00.check_header_bytes, ex01.check_accept_key, ex02.check_parse_header,
                  ex02.check_mask, ex03.check_shout, ex03.check_chat, ex04.check_close_code):
        r = check(bad)
        assert isinstance(r, Result) and not r.ok and "function" in r.message


def test_solutions_are_shown_on_request_only():
    for mod, names in ((ex00, ["header_bytes"]), (ex01, ["accept_key", "upgrade_request"]),
                       (ex02, ["parse_header", "mask"]), (ex03, ["shout", "chat"]),
                       (ex04, ["close_code"])):
        for name in names:
            view = mod.solution(name)
            assert f"def {name}(" in str(view) and "<pre" in view._repr_html_()
    with pytest.raises(ValueError, match="available"):
        ex01.solution("nope")
