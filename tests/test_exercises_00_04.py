"""Checks of notebooks 00-04: the model solution passes, plausible wrong answers fail with a
specific message, an unwritten stub says "not written yet", nothing raises."""

from __future__ import annotations

import base64
import hashlib
import statistics

import pytest

from wslab.exercises import Result, ex00, ex01, ex02, ex03, ex04
from wslab.exercises.solutions import ex00 as s00
from wslab.exercises.solutions import ex01 as s01
from wslab.exercises.solutions import ex02 as s02
from wslab.exercises.solutions import ex03 as s03
from wslab.exercises.solutions import ex04 as s04
from wslab.protocol import handshake


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


# -- 00 -----------------------------------------------------------------------------------

def test_ex00_header_bytes():
    assert ok(ex00.check_header_bytes(s00.header_bytes))
    fails(ex00.check_header_bytes(stub2), "not written yet")
    # forgets the mask key on client frames: the 6-14 of client frames
    fails(ex00.check_header_bytes(lambda n, c: s00.header_bytes(n, False)), "masking key",
          "header_bytes(0, True)")
    # off by one at the 16-bit boundary (126 still fits in 7 bits, it does not)
    fails(ex00.check_header_bytes(lambda n, c: s00.header_bytes(n - 1, c) if n == 126
                                  else s00.header_bytes(n, c)), "header_bytes(126", "126")
    # 64-bit length counted as 4 extra bytes
    fails(ex00.check_header_bytes(lambda n, c: s00.header_bytes(n, c) - 4 * (n > 65535)),
          "65,536", "8 more bytes")
    fails(ex00.check_header_bytes(lambda n, c: str(s00.header_bytes(n, c))), "whole number")
    fails(ex00.check_header_bytes(lambda n: 2), "2 argument")


def test_ex00_short_poll_wait():
    assert ok(ex00.short_poll_wait(s00.short_poll_wait(0.25), 0.25))
    fails(ex00.short_poll_wait(250, 0.25), "worst case")
    fails(ex00.short_poll_wait(0.125, 0.25), "seconds")
    fails(ex00.short_poll_wait(None, 0.25), "number")


# -- 01 -----------------------------------------------------------------------------------

def test_ex01_accept_key():
    assert ok(ex01.check_accept_key(s01.accept_key))
    fails(ex01.check_accept_key(stub1), "not written yet")
    g = handshake.GUID
    fails(ex01.check_accept_key(lambda k: hashlib.sha1((k + g).encode()).hexdigest()),
          "hex", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    fails(ex01.check_accept_key(lambda k: base64.b64encode(
        hashlib.sha1(base64.b64decode(k) + g.encode()).digest()).decode()), "decoded")
    fails(ex01.check_accept_key(lambda k: base64.b64encode(
        hashlib.sha1((k + g).encode()).digest())), "str")
    typo = g[:-1] + "2"
    fails(ex01.check_accept_key(lambda k: base64.b64encode(
        hashlib.sha1((k + typo).encode()).digest()).decode()), "byte 0 differs")
    fails(ex01.check_accept_key(lambda k: 1 / 0), "ZeroDivisionError", "line")


def test_ex01_upgrade_request_against_the_live_server(server):
    assert ok(ex01.check_upgrade_request(s01.upgrade_request, server))
    fails(ex01.check_upgrade_request(stub4, server), "not written yet")

    def variant(old: bytes, new: bytes):
        return lambda h, p, path, k: s01.upgrade_request(h, p, path, k).replace(old, new)

    fails(ex01.check_upgrade_request(variant(b"\r\n", b"\n"), server), "CRLF")
    fails(ex01.check_upgrade_request(variant(b"Version: 13", b"Version: 8"), server), "426",
          "13")
    fails(ex01.check_upgrade_request(variant(b"Connection: Upgrade\r\n", b""), server), "400",
          "Connection")
    fails(ex01.check_upgrade_request(
        lambda h, p, path, k: s01.upgrade_request(h, p, path, k)[:-2], server), "empty line")
    fails(ex01.check_upgrade_request(variant(b":%d" % server.port, b""), server), "port")
    fails(ex01.check_upgrade_request(
        lambda h, p, path, k: s01.upgrade_request(h, p, path, k).decode(), server), "bytes")
    # well-formed, but the live server refuses the foreign origin: its real status is shown
    fails(ex01.check_upgrade_request(
        variant(b"Version: 13\r\n", b"Version: 13\r\nOrigin: http://evil.example\r\n"), server),
          "live server answered", "403")


def test_ex01_broken_rule_is_not_fooled_by_an_empty_answer():
    key = handshake.make_key()
    bad = handshake.build_response(key=handshake.make_key())
    assert ok(ex01.broken_rule(s01.broken_rule(bad, key), bad, key))
    assert ok(ex01.broken_rule("sec-websocket-accept", bad, key))
    fails(ex01.broken_rule("", bad, key), "header")
    fails(ex01.broken_rule("Accept", bad, key), "fine")
    fails(ex01.broken_rule("Upgrade", bad, key), "fine")
    fails(ex01.broken_rule(None, bad, key), "header")


# -- 02 -----------------------------------------------------------------------------------

def _tweak(field, fn):
    def parse(data):
        r = s02.parse_header(data)
        r[field] = fn(data, r)
        return r
    return parse


def test_ex02_parse_header():
    assert ok(ex02.check_parse_header(s02.parse_header))
    fails(ex02.check_parse_header(stub1), "not written yet")
    fails(ex02.check_parse_header(_tweak("opcode", lambda d, r: d[0] >> 4)), "opcode",
          "5.7: unmasked text")
    fails(ex02.check_parse_header(_tweak("fin", lambda d, r: bool(d[0] & 1))), "FIN")
    fails(ex02.check_parse_header(_tweak("length", lambda d, r: d[1] & 0x7F)),
          "extended payload length (bytes 2-3")
    fails(ex02.check_parse_header(_tweak("length", lambda d, r: int.from_bytes(
        d[2:10], "little") if d[1] & 0x7F == 127 else r["length"])), "bytes 2-9")
    fails(ex02.check_parse_header(_tweak("length", lambda d, r: d[1])), "Payload len",
          "masked text")
    fails(ex02.check_parse_header(_tweak("masked", lambda d, r: d[1] & 0x80)), "MASK")
    fails(ex02.check_parse_header(_tweak("header_size", lambda d, r: r["header_size"]
                                         - 4 * r["masked"])), "header size")
    fails(ex02.check_parse_header(_tweak("rsv1", lambda d, r: False)), "RSV1")
    fails(ex02.check_parse_header(lambda d: (d[0], d[1])), "dict")


def test_ex02_mask():
    assert ok(ex02.check_mask(s02.mask))
    fails(ex02.check_mask(stub2), "not written yet")
    fails(ex02.check_mask(lambda d, k: bytes(b ^ k[i % 3] for i, b in enumerate(d))),
          "byte 3 differs", "5.7")
    fails(ex02.check_mask(lambda d, k: bytes(b ^ k[0] for b in d)), "byte 1 differs")
    fails(ex02.check_mask(lambda d, k: [b ^ k[i % 4] for i, b in enumerate(d)]), "bytes")
    fails(ex02.check_mask(lambda d, k: d), "byte 0 differs")


# -- 03 -----------------------------------------------------------------------------------

def test_ex03_shout():
    assert ok(ex03.check_shout(s03.shout))
    fails(ex03.check_shout(stub2), "not written yet")
    fails(ex03.check_shout(lambda conn, m: conn.send(m)), "unchanged")
    fails(ex03.check_shout(lambda conn, m: conn.send(m.upper() + "!")), "'HELLO WEBSOCKET!'")

    def crash(conn, message):
        return message.nope

    fails(ex03.check_shout(crash), "AttributeError", "line", "1011")
    fails(ex03.check_shout(lambda conn, m: None), "nothing arrived")


def test_ex03_chat():
    assert ok(ex03.check_chat(s03.chat))
    assert ok(ex03.check_chat(s03.chat))  # again: left-over names do not confuse the check
    fails(ex03.check_chat(stub2), "not written yet")
    fails(ex03.check_chat(lambda conn, m: conn.server.broadcast(m, path="/chat")),
          "guest", "NAME: text")

    def who_to_all(conn, message):
        if message == "/who":
            online = [s03.names.get(c.id, f"guest{c.id}") for c in conn.server.clients]
            conn.server.broadcast("* online: " + ", ".join(sorted(online)), path="/chat")
        else:
            s03.chat(conn, message)

    fails(ex03.check_chat(who_to_all), "alice received '* online", "must not have gone")

    def no_usage(conn, message):  # accepts an empty name
        names = s03.names
        if message.startswith("/nick "):
            old, names[conn.id] = names.get(conn.id, f"guest{conn.id}"), message[6:]
            conn.server.broadcast(f"* {old} is now {message[6:]}", path="/chat")
        else:
            s03.chat(conn, message)

    fails(ex03.check_chat(no_usage), "usage")

    everyone = {}

    def never_forgets(conn, message):
        if message == "/who":
            everyone.setdefault(conn.server, set())
            conn.send("* online: " + ", ".join(sorted(everyone[conn.server])))
        else:
            s03.chat(conn, message)

    fails(ex03.check_chat(never_forgets), "/who")


def test_ex03_median():
    samples = [0.001, 0.002, 0.010]
    assert ok(ex03.median_ms(s03.median_ms(samples), samples))
    fails(ex03.median_ms(0.002, samples), "seconds")
    fails(ex03.median_ms(statistics.mean(samples) * 1e3, samples), "mean")


# -- 04 -----------------------------------------------------------------------------------

def _but(situation, code):
    return lambda s: code if s == situation else s04.close_code(s)


def test_ex04_close_codes_on_real_connections():
    r = ex04.check_close_code(s04.close_code)
    assert ok(r) and "the client read 1012" in r.message and "the server read 1001" in r.message
    restart = ex04.check_close_code(_but("server restart", 1001))
    assert ok(restart) and "a correct answer" in restart.message
    fails(ex04.check_close_code(stub1), "not written yet")
    fails(ex04.check_close_code(_but("tab closing", 1006)), "1006", "never", "7.4.1")
    fails(ex04.check_close_code(_but("tab closing", 1005)), "reported locally")
    fails(ex04.check_close_code(_but("server restart", 1004)), "1004", "reserved")
    fails(ex04.check_close_code(_but("not utf-8", 1002)), "'not utf-8'", "the client read 1002")
    fails(ex04.check_close_code(_but("logged in elsewhere", 3001)), "3000-3999", "7.4.2")
    fails(ex04.check_close_code(_but("tab closing", 1000)), "the server read 1000", "going away")
    fails(ex04.check_close_code(_but("rate limit", 1013)), "policy")
    fails(ex04.check_close_code(_but("chat over", "1000")), "int")


def test_ex04_after_drop():
    assert ok(ex04.after_drop(1006))
    fails(ex04.after_drop(1005), "without")
    fails(ex04.after_drop(1000), "nobody sent")
    fails(ex04.after_drop(True), "drop cell")


@pytest.mark.parametrize("bad", [None, "x", 3.5, [1], True])
def test_answer_checks_never_raise_on_odd_answers(bad):
    key = handshake.make_key()
    response = handshake.build_response(key=handshake.make_key())
    for r in (ex00.short_poll_wait(bad, 0.25), ex01.broken_rule(bad, response, key),
              ex03.median_ms(bad, [0.001]), ex04.after_drop(bad)):
        assert isinstance(r, Result) and not r.ok


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
