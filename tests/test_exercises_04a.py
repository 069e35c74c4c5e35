"""Checks of notebook 04a: the model solutions pass on real captures, plausible wrong answers
fail with a hint that names what is wrong and where, and the truth comes from the capture
(a capture cut differently changes the right answer)."""

from __future__ import annotations

import math
import os
import pathlib

import pytest

import wslab
from tests.conftest import need, which
from wslab.exercises import Result, ex04a
from wslab.exercises.solutions import ex04a as sol
from wslab.labs import traces
from wslab.net.pcap import Segment, write_pcap
from wslab.protocol import frames as fr
from wslab.protocol import handshake as hs

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 8888)


def ok(r: Result) -> bool:
    assert isinstance(r, Result) and r.message
    assert ("[PASS]" in str(r)) == r.ok
    assert ("data-ok='true'" in r._repr_html_()) == r.ok
    return r.ok


def fails(r: Result, *words: str) -> None:
    assert not ok(r), r
    for w in words:
        assert w.lower() in r.message.lower(), (w, r.message)


@pytest.fixture(scope="module")
def captured():
    """One real capture per experiment, shared by the tests of this module."""
    need(which("dumpcap") is not None, "dumpcap (Debian package wireshark-common)")
    server = wslab.serve(name="ex04a-tests")
    try:  # the traces are files and packets: nothing keeps running while the tests read them
        made = {"big": traces.big_message(server, seed=1), "closes": traces.closing(server),
                "cut": traces.reset(server), "frames": traces.masked_frames(server, seed=2)}
    finally:
        server.stop()
    return made


def made_up(tmp_path: pathlib.Path, chunks: list[int], *, size: int = 70_000) -> traces.Trace:
    """A capture file with a client's message cut into ``chunks`` (sizes), read as a trace:
    the same conversation, segmented as we choose."""
    key = hs.make_key()
    request = hs.build_request(host="127.0.0.1:8888", path="/echo", key=key)
    frame = fr.encode_frame(fr.Frame.binary(os.urandom(size), mask_key=os.urandom(4)))
    parts, pos = [request], 0
    for n in chunks:
        parts.append(frame[pos:pos + n])
        pos += n
    parts.append(frame[pos:])
    t = 1_700_000_000_000_000_000
    segs = [Segment(t + i, 1, True, p) for i, p in enumerate(parts) if p]
    segs.insert(1, Segment(t, 1, False, hs.build_response(key=key)))
    path = str(tmp_path / "made.pcap")
    write_pcap(path, segs, {1: (CLIENT, SERVER)}, [1])
    return traces.read_trace(path, story="made for a test", names={8888: ("client", "server")})


# --- Exercise 1 ---------------------------------------------------------------------------

def test_ex1_the_model_solution_passes_and_states_what_was_measured(captured):
    big = captured["big"]
    r = ex04a.check_segments(big, sol.segments(big))
    assert ok(r)
    f = ex04a.message_frame(big)
    sizes = [len(p.payload) for p in big.segments(1, "client", f.start, f.end)]
    assert f"{len(sizes)} segments" in r.message
    assert ", ".join(f"{s:,}" for s in sizes) in r.message
    assert f"{len(f.raw):,}-byte frame" in r.message


def test_ex1_wrong_counts_get_specific_hints(captured):
    big = captured["big"]
    n = sol.segments(big)
    f = ex04a.message_frame(big)
    echo = next(g for g in big.frames(1, "server") if g.frame.opcode == fr.Opcode.TEXT)
    echo_n = len(big.segments(1, "server", echo.start, echo.end))
    c = big.conn(1)
    wrong: dict[int, str] = {len(f.raw): "number of bytes"}       # bytes, not segments
    for answer, words in (                     # in the check's order: the first hint wins
            (1, "one message is not one segment"),                 # a message is a packet
            (n + echo_n, "server's echo too"),                     # both directions
            (len(c.sent_by("client")), "ACKs with len 0"),         # every client packet
            (len(c.packets), "every packet of the connection"),    # both ways, all
            (math.ceil(len(f.raw) / 65495), "MSS-sized"),          # MSS from the SYN
            (math.ceil(len(f.raw) / 1460), "Ethernet path")):      # the remembered MSS
        if answer != n:
            wrong.setdefault(answer, words)
    assert len(wrong) >= 6
    for answer, words in wrong.items():
        fails(ex04a.check_segments(big, answer), words)
    fails(ex04a.check_segments(big, n + 40), "too many", "start of", "(frame ends)")
    fails(ex04a.check_segments(big, None), "replace None")
    for bad in ("3", 3.0, True):
        fails(ex04a.check_segments(big, bad), "whole number")


def test_ex1_the_truth_is_the_capture_not_a_key(tmp_path):
    """Cut the same message in 4 pieces, or leave it whole (split only at the largest IPv4
    packet): the right answer follows the capture."""
    four = made_up(tmp_path, [20_000, 20_000, 20_000])
    assert ok(ex04a.check_segments(four, 4))
    fails(ex04a.check_segments(four, 3), "too few")
    whole = made_up(tmp_path, [])
    assert ok(ex04a.check_segments(whole, 2))
    fails(ex04a.check_segments(whole, 30), "too many")


def test_ex1_refuses_what_is_not_a_capture(tmp_path, captured):
    fails(ex04a.check_segments("trace", 3), "pass the trace")
    made = made_up(tmp_path, [])
    made.reconstructed = True
    fails(ex04a.check_segments(made, 2), "tap's made-up file")
    gone = traces.Trace("", [], "", "x", unavailable="dumpcap is not installed")
    fails(ex04a.check_segments(gone, 3), "no capture to check against", "not installed")


# --- Exercise 2 ---------------------------------------------------------------------------

def _answers(a: str, b: str, c: str, d: str) -> dict:
    return {"client starts": {"first FIN": a, "TIME_WAIT": b},
            "server starts": {"first FIN": c, "TIME_WAIT": d}}


def test_ex2_the_model_solution_passes(captured):
    closes = captured["closes"]
    r = ex04a.check_closing(closes, sol.closing(closes))
    assert ok(r)
    assert "connection 1 (client starts): the server sent the first FIN" in r.message
    assert "RFC 6455 7.1.1" in r.message
    fin2 = ex04a.first_fin(closes, 2)
    assert f"the {closes.conn(2).side(fin2)} sent the first FIN (packet {fin2.number})" \
        in r.message


def test_ex2_wrong_answers_get_specific_hints(captured):
    closes = captured["closes"]
    right = sol.closing(closes)
    other = {"client": "server", "server": "client", "both": "client"}
    r1, r2 = right["client starts"], right["server starts"]
    # the RFC believer: the server always closes first, whatever the capture says
    believer = _answers("server", "server", "server", "server")
    if believer != right:
        fails(ex04a.check_closing(closes, believer), "not what your capture shows",
              "RFC 6455", "connection")
    # the initiator of the closing handshake sends the first FIN
    initiator = _answers("client", "client", "server", "server")
    fails(ex04a.check_closing(closes, initiator), "'client starts', first FIN",
          "connection 1")
    # TIME_WAIT given to the other end than the first FIN
    fails(ex04a.check_closing(closes, _answers(r1["first FIN"], other[r1["TIME_WAIT"]],
                                               r2["first FIN"], r2["TIME_WAIT"])),
          "'client starts', TIME_WAIT", "the end that closes first", "RFC 9293 3.6")
    fails(ex04a.check_closing(closes, _answers(r1["first FIN"], r1["TIME_WAIT"],
                                               other[r2["first FIN"]], r2["TIME_WAIT"])),
          "'server starts', first FIN", "connection 2")
    fails(ex04a.check_closing(closes, _answers(r1["first FIN"], r1["TIME_WAIT"],
                                               r2["first FIN"], other[r2["TIME_WAIT"]])),
          "'server starts', TIME_WAIT", "trace.sockets()")
    # malformed: a missing scenario, a typo in a key, a value that is not an end, None
    fails(ex04a.check_closing(closes, {"client starts": r1}), "'server starts'")
    fails(ex04a.check_closing(closes, {"client starts": {"first fin": "server",
                                                         "TIME_WAIT": "server"},
                                       "server starts": r2}), "'first FIN' and 'TIME_WAIT'")
    fails(ex04a.check_closing(closes, _answers("the server", "server", "client", "client")),
          "'client' or 'server'", "'the server'")
    fails(ex04a.check_closing(closes, _answers(None, None, None, None)), "replace None")
    # capitals and spaces are forgiven
    loose = {k: {q: f" {v.upper()} " for q, v in inner.items()} for k, inner in right.items()}
    assert ok(ex04a.check_closing(closes, loose))


def test_ex2_time_wait_follows_the_first_fin_in_every_capture(captured):
    closes = captured["closes"]
    for n in (1, 2):
        holders = ex04a.time_wait_holders(closes, n)
        sender = closes.conn(n).side(ex04a.first_fin(closes, n))
        assert holders in ([sender], ["client", "server"])


# --- Exercise 3 ---------------------------------------------------------------------------

def test_ex3_the_model_solution_passes(captured):
    cut = captured["cut"]
    r = ex04a.check_reset(cut, sol.reset(cut))
    assert ok(r)
    assert f"the proxy (port {cut.notes['proxy_port']}) sent [RST, ACK]" in r.message
    assert "1006" in r.message and "RFC 6455 7.1.5" in r.message
    assert ok(ex04a.check_reset(cut, {**sol.reset(cut), "flag": "rst, ack"}))


def test_ex3_wrong_answers_get_specific_hints(captured):
    cut = captured["cut"]
    right = sol.reset(cut)
    proxy_side = cut.conn(2).client[1]  # the port the proxy uses towards the server
    client_port = cut.conn(1).client[1]
    cases = [
        ({"flag": "FIN"}, ["no FIN on connection 1"]),                # an orderly close
        ({"flag": "ACK"}, ["set on most packets"]),                  # the flag always there
        ({"flag": "RST, SYN"}, ["not all of"]),                      # a flag it does not have
        ({"sent by port": cut.notes["server_port"]}, ["connection 2", "never talks to"]),
        ({"sent by port": proxy_side}, ["connection 2"]),            # the proxy's other leg
        ({"sent by port": client_port}, ["client's own port"]),      # the receiver
        ({"close frame": True}, ["is there a CLOSE frame"]),         # a clean close assumed
        ({"flag": "reset"}, ["TCP flags"]),
        ({"sent by port": "proxy"}, ["port number"]),
        ({"close frame": "no"}, ["True or False"]),
        ({"flag": None}, ["replace None"]),
    ]
    for change, words in cases:
        fails(ex04a.check_reset(cut, {**right, **change}), *words)
    fails(ex04a.check_reset(cut, {"flag": "RST"}), "'sent by port'")


# --- Exercise 4 ---------------------------------------------------------------------------

def _header(data: bytes, pos: int) -> tuple[int, int]:
    """(payload length, where the masking key starts) of the frame at ``pos``."""
    n = data[pos + 1] & 0x7F
    if n == 126:
        return int.from_bytes(data[pos + 2:pos + 4], "big"), pos + 4
    if n == 127:
        return int.from_bytes(data[pos + 2:pos + 10], "big"), pos + 10
    return n, pos + 2


def _xor(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def still_masked(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n, k = _header(data, pos)
    return data[k + 4:k + 4 + n]


def whole_frame(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n, k = _header(data, pos)
    return data[pos:k + 4 + n]


def seven_bit_only(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n = data[pos + 1] & 0x7F
    return _xor(data[pos + 6:pos + 6 + n], data[pos + 2:pos + 6])


def sixteen_for_127(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n = data[pos + 1] & 0x7F
    if n >= 126:  # reads 2 bytes of length for 127 too
        n, k = int.from_bytes(data[pos + 2:pos + 4], "big"), pos + 4
    else:
        k = pos + 2
    return _xor(data[k + 4:k + 4 + n], data[k:k + 4])


def key_reversed(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n, k = _header(data, pos)
    return _xor(data[k + 4:k + 4 + n], data[k:k + 4][::-1])


def key_at_byte_2(payloads):
    data = b"".join(payloads)
    pos = data.index(b"\r\n\r\n") + 4
    n, k = _header(data, pos)
    return _xor(data[k + 4:k + 4 + n], data[pos + 2:pos + 6])


def first_frame_payload_only(payloads):
    data = payloads[1]  # the first payload after the HTTP request, not joined
    n, k = _header(data, 0)
    return _xor(data[k + 4:k + 4 + n], data[k:k + 4])


def head_not_skipped(payloads):
    data = b"".join(payloads)
    n, k = _header(data, 0)
    return _xor(data[k + 4:k + 4 + n], data[k:k + 4])


def as_text(payloads):
    return sol.unmask_first(payloads).decode()


def crashes(payloads):
    return payloads[99]


def test_ex4_the_model_solution_passes_on_every_length_form(captured):
    frames = captured["frames"]
    r = ex04a.check_unmask(frames, sol.unmask_first)
    assert ok(r)
    assert "7-bit" in r.message and "16-bit" in r.message and "64-bit" in r.message
    assert "3 connections" in r.message


def test_ex4_wrong_functions_are_named_with_the_connection_and_length_form(captured):
    frames = captured["frames"]
    cases = [
        (still_masked, ["connection 1", "7-bit", "still masked", "mask_key[i % 4]"]),
        (whole_frame, ["connection 1", "header included"]),
        (seven_bit_only, ["connection 2", "16-bit", "7-bit length field (126)"]),
        (sixteen_for_127, ["connection 3", "64-bit", "127 means a 64-bit length"]),
        (key_reversed, ["wrong order"]),
        (key_at_byte_2, ["connection 2", "after the extended length", "byte 4"]),
        (first_frame_payload_only, ["connection 3", "join them"]),
        (head_not_skipped, ["connection 1", "HTTP request", "blank line"]),
        (as_text, ["connection 1", "return bytes", "not str"]),
        (crashes, ["connection 1", "IndexError", "payloads[99]"]),
    ]
    for fn, words in cases:
        fails(ex04a.check_unmask(frames, fn), *words)


def test_ex4_stub_arity_and_non_functions(captured):
    frames = captured["frames"]

    def stub(payloads):
        raise NotImplementedError

    fails(ex04a.check_unmask(frames, stub), "not written yet")
    fails(ex04a.check_unmask(frames, lambda a, b: b""), "1 argument")
    fails(ex04a.check_unmask(frames, None), "should be a function")
    fails(ex04a.check_unmask(frames, lambda p: None), "returned NoneType")


def test_ex4_judges_the_learners_own_bytes(tmp_path):
    """A frame of another capture, cut in three: the check reads the truth from it."""
    made = made_up(tmp_path, [100, 30_000], size=70_000)
    assert ok(ex04a.check_unmask(made, sol.unmask_first))
    fails(ex04a.check_unmask(made, first_frame_payload_only), "join them")
    fails(ex04a.check_unmask(made, lambda p: bytes(70_000)), "differs")


def test_solutions_are_shown_on_request_only():
    for name in ("segments", "closing", "reset", "unmask_first"):
        view = ex04a.solution(name)
        assert f"def {name}(" in str(view) and "<pre" in view._repr_html_()
    with pytest.raises(ValueError, match="available"):
        ex04a.solution("nope")
