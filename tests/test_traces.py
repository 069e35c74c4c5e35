"""Real captures on loopback (dumpcap), the two readers (tshark and wslab's), the trace
experiments of notebook 04a, and the notebook itself, with and without tshark."""

from __future__ import annotations

import os
import pathlib
import stat
import struct

import nbformat
import pytest
from nbclient import NotebookClient

import wslab
from tests.conftest import need, which
from wslab.labs import traces
from wslab.net import capture
from wslab.net.capture import CaptureUnavailable, LoopbackCapture
from wslab.net.pcap import (
    ACK,
    FIN,
    RST,
    SYN,
    PcapError,
    Segment,
    TcpPacket,
    read_pcap,
    tcp_connections,
    write_pcap,
)
from wslab.protocol import frames as fr
from wslab.protocol import handshake as hs

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04a_reading_the_wire.ipynb"
CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 8888)


def have_dumpcap() -> None:
    need(which("dumpcap") is not None, "dumpcap (Debian package wireshark-common)")


def have_tshark() -> None:
    need(which("tshark") is not None, "tshark (Debian package tshark)")


def conversation(chunks: list[bytes], *, reply: bytes = b"") -> list[Segment]:
    """A client's chunks, then the server's reply, as the tap would record them."""
    t = 1_700_000_000_000_000_000
    segs = [Segment(t + i, 1, True, c) for i, c in enumerate(chunks)]
    if reply:
        segs.append(Segment(t + 100, 1, False, reply))
    return segs


def test_the_tap_writer_and_the_reader_agree_byte_for_byte(tmp_path):
    payload = bytes(range(256)) * 300  # 76,800 bytes: split at the largest IPv4 packet
    path = str(tmp_path / "x.pcap")
    n = write_pcap(path, conversation([b"GET / HTTP/1.1\r\n\r\n", payload], reply=b"ok"),
                   {1: (CLIENT, SERVER)}, [1])
    packets = read_pcap(path)
    assert len(packets) == n
    assert [p.number for p in packets] == list(range(1, n + 1))
    (conn,) = tcp_connections(packets)
    assert (conn.client, conn.server) == (CLIENT, SERVER)
    assert conn.stream("client") == b"GET / HTTP/1.1\r\n\r\n" + payload
    assert conn.stream("server") == b"ok"
    assert packets[0].flag_names == "SYN" and packets[1].flag_names == "SYN, ACK"
    assert [p.flag_names for p in packets[-3:]] == ["FIN, ACK", "FIN, ACK", "ACK"]
    assert max(len(p.payload) for p in packets) == 65495


def test_both_readers_give_the_same_packets(tmp_path):
    have_tshark()
    path = str(tmp_path / "x.pcap")
    write_pcap(path, conversation([b"hello", b"x" * 70_000], reply=b"y" * 10),
               {1: (CLIENT, SERVER)}, [1])
    ours = read_pcap(path)
    theirs = capture.tshark_packets(path, which("tshark"))
    assert ours == theirs and len(ours) > 10


def _records_as(link: int, frames: list[bytes], *, endian: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, link)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 1000 + i, 5, len(f), len(f)) + f
    return out


def _ip_packets(path: str) -> list[bytes]:
    """The IPv4 packets (Ethernet header cut off) of a pcap file wslab wrote."""
    data = pathlib.Path(path).read_bytes()
    pos, out = 24, []
    while pos < len(data):
        caplen = struct.unpack("<I", data[pos + 8:pos + 12])[0]
        out.append(data[pos + 16 + 14:pos + 16 + caplen])
        pos += 16 + caplen
    return out


@pytest.mark.parametrize("kind", ["raw-be-us", "sll", "null", "pcapng", "truncated"])
def test_the_reader_follows_other_link_types_and_formats(tmp_path, kind):
    src = str(tmp_path / "src.pcap")
    write_pcap(src, conversation([b"abc", b"defg"]), {1: (CLIENT, SERVER)}, [1])
    want = read_pcap(src)
    ips = _ip_packets(src)
    path = tmp_path / "out"
    if kind == "raw-be-us":
        path.write_bytes(_records_as(101, ips, endian=">"))
    elif kind == "sll":
        path.write_bytes(_records_as(113, [b"\0" * 14 + b"\x08\x00" + ip for ip in ips]))
    elif kind == "null":
        path.write_bytes(_records_as(0, [b"\x02\0\0\0" + ip for ip in ips]))
    elif kind == "truncated":  # a capture still being written: the last record is cut short
        path.write_bytes(pathlib.Path(src).read_bytes()[:-7])
    else:
        path.write_bytes(_pcapng(ips))
    got = read_pcap(str(path))
    strip = [(p.src, p.dst, p.seq, p.ack, p.flags, p.payload) for p in want]
    if kind == "truncated":
        strip = strip[:-1]
    assert [(p.src, p.dst, p.seq, p.ack, p.flags, p.payload) for p in got] == strip
    if kind == "pcapng":  # if_tsresol 9: nanoseconds
        assert got[0].t_ns == 1_700_000_000_123_456_789


def _pcapng(ips: list[bytes]) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 101, 0, 0) + struct.pack("<HHB3x", 9, 1, 9)
                + struct.pack("<HH", 0, 0))
    t = 1_700_000_000_123_456_789
    epbs = b"".join(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(ip), len(ip))
                          + ip) for ip in ips)
    return shb + idb + epbs


def test_the_reader_refuses_what_is_not_a_capture(tmp_path):
    path = tmp_path / "no.pcap"
    path.write_bytes(b"GIF89a....")
    with pytest.raises(PcapError, match="not a pcap"):
        read_pcap(str(path))
    path.write_bytes(b"")
    assert read_pcap(str(path)) == []


def test_connections_reuse_of_ports_and_retransmissions():
    def pkt(n, src, dst, seq, ack, flags, payload=b""):
        return TcpPacket(n, n, src, dst, seq, ack, flags, 100, payload)
    a, b = CLIENT, SERVER
    first = [pkt(1, a, b, 99, 0, SYN), pkt(2, b, a, 499, 100, SYN | ACK),
             pkt(3, a, b, 100, 500, ACK, b"hello"), pkt(4, a, b, 100, 500, ACK, b"hello"),
             pkt(5, a, b, 108, 500, ACK, b"!"),  # after a gap: bytes 8, out of order
             pkt(6, a, b, 105, 500, ACK, b"wor"),
             pkt(7, a, b, 109, 500, FIN | ACK), pkt(8, b, a, 500, 110, RST)]
    again = [pkt(9, a, b, 7, 0, SYN), pkt(10, b, a, 70, 8, SYN | ACK)]
    one, two = tcp_connections(first + again)
    assert one.stream("client") == b"hellowor!"
    assert len(one.packets) == 8 and len(two.packets) == 2
    # a capture that began after the SYN: the SYN-ACK names the client
    (late,) = tcp_connections([pkt(1, b, a, 1, 2, SYN | ACK)])
    assert late.client == a


def test_proc_net_tcp_addresses_are_read_in_host_order():
    assert capture._proc_address("0100007F:22B8") == ("127.0.0.1", 8888)
    v6 = capture._proc_address("00000000000000000000000001000000:0050")
    assert v6 == ("::1", 80)


# --- real captures ------------------------------------------------------------------------

def test_a_capture_records_only_the_ports_asked_and_agrees_with_tshark(server):
    have_dumpcap()
    other = wslab.serve(name="not-captured")
    try:
        with LoopbackCapture([server.port]) as cap:
            with wslab.connect(server.url) as c, wslab.connect(other.url) as d:
                c.send("captured")
                c.recv()
                d.send("not captured")
                d.recv()
            assert cap.wait_for(traces.connections_ended, timeout=10)
            packets = cap.packets()
        assert {server.port} == {p.dst[1] for p in packets if p.has(SYN) and not p.has(ACK)}
        assert b"not captured" not in b"".join(p.payload for p in packets)
        if which("tshark"):
            assert capture.tshark_packets(cap.path, which("tshark")) == packets
    finally:
        other.stop()
    assert not cap.running


def test_a_capture_is_stopped_by_stop_all():
    have_dumpcap()
    cap = LoopbackCapture([9])
    assert cap.running
    assert wslab.stop_all() >= 1
    assert not cap.running
    cap.stop()  # twice is fine


def _fake_dumpcap(tmp_path: pathlib.Path, message: str) -> str:
    fake = tmp_path / "dumpcap"
    fake.write_text("#!/bin/sh\necho \"Capturing on 'Loopback: lo'\" >&2\n"
                    f"echo \"{message}\" >&2\nexit 2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(fake)


def test_no_permission_to_capture_is_said_plainly(tmp_path, monkeypatch, server):
    monkeypatch.setenv("WSLAB_DUMPCAP", _fake_dumpcap(
        tmp_path, "dumpcap: You don't have permission to capture on that device"))
    with pytest.raises(CaptureUnavailable, match="wireshark"):
        LoopbackCapture([server.port])
    trace = traces.big_message(server)
    assert "permission" in trace.unavailable and "usermod -aG wireshark" in trace.unavailable
    assert "no capture" in str(trace.table()) and "no capture" in trace.describe()
    assert trace.data_sizes(1) == [] and trace.payloads(1) == []
    assert "no capture" in trace.sockets() and "no capture" in trace.wireshark()
    monkeypatch.setenv("WSLAB_DUMPCAP", str(tmp_path / "missing"))
    with pytest.raises(CaptureUnavailable, match="apt install tshark"):
        LoopbackCapture([server.port])


def test_bad_capture_arguments():
    with pytest.raises(ValueError, match="port"):
        LoopbackCapture([])
    with pytest.raises(ValueError, match="max_seconds"):
        LoopbackCapture([8888], max_seconds=0)


def test_without_tshark_wslab_reads_the_capture(monkeypatch, server):
    """The fallback, forced: WSLAB_TSHARK=none."""
    have_dumpcap()
    monkeypatch.setenv("WSLAB_TSHARK", "none")
    trace = traces.big_message(server, size=5000)
    assert trace.reader.startswith("wslab's reader (no tshark)") and trace.tshark is None
    assert "tshark is not available" in trace.wireshark()
    assert "TEXT 5000 B, masked" in str(trace.table())
    assert trace.frames(1, "client")[0].frame.payload.decode() == \
        trace.frames(1, "server")[0].frame.payload.decode()


def test_the_tap_file_holds_the_wire_bytes_in_invented_packets(server):
    have_dumpcap()
    made, wire = traces.tap_and_wire(server, size=70_000)
    assert made.reconstructed and not wire.reconstructed
    assert "made up by the tap" in made.describe()
    # the same bytes on both legs and in the tap's file ...
    assert made.conn(1).stream("client") == wire.conn(1).stream("client") == \
        wire.conn(2).stream("client")
    # ... in packets the tap invented: no MSS option in its SYN, a real one on the wire
    assert made.packets[0].mss is None and wire.conn(1).packets[0].mss
    assert max(made.data_sizes(1)) <= 65495  # its cuts are its reads, split to fit IPv4
    shown = traces.compare(made, wire)
    assert "same bytes: yes" in shown and str(made.data_sizes(1)) in shown


def test_closing_trace_names_first_fin_and_time_wait(server):
    have_dumpcap()
    trace = traces.closing(server)
    assert len(trace.connections) == 2
    for n in (1, 2):
        c = trace.conn(n)
        fin = next(p for p in c.packets if p.has(FIN))
        if trace.time_wait.get(n) and len(trace.time_wait[n]) == 1:
            assert trace.time_wait[n] == [c.side(fin)]  # the active closer waits
        assert [f.frame.opcode for f in trace.frames(n, "client")][-1] == fr.Opcode.CLOSE
    first = next(p for p in trace.conn(1).packets if p.has(FIN))
    assert trace.conn(1).side(first) == "server"  # RFC 6455 7.1.1: the server closes first
    assert "TIME_WAIT" in trace.sockets()


def test_reset_trace_shows_rst_from_the_proxy_on_both_legs(server):
    have_dumpcap()
    trace = traces.reset(server)
    proxy_port = trace.notes["proxy_port"]
    rsts = [(n, p) for n, c in enumerate(trace.connections, start=1) for p in c.packets
            if p.has(RST)]
    assert {trace.who(n, p)[0] for n, p in rsts} == {"proxy"}
    assert {n for n, _ in rsts} == {1, 2}
    assert any(p.src[1] == proxy_port for _, p in rsts)
    assert trace.notes["close_code"] == 1006
    assert not any(p.has(FIN) for c in trace.connections for p in c.packets)


def test_masked_trace_has_one_frame_per_length_form(server):
    have_dumpcap()
    trace = traces.masked_frames(server, seed=7)
    firsts = [trace.frames(n, "client")[0] for n in (1, 2, 3)]
    assert [f.length_form for f in firsts] == ["7-bit", "16-bit", "64-bit"]
    assert all(f.frame.masked and f.raw[1] & 0x80 for f in firsts)
    for n, f in enumerate(firsts, start=1):  # the raw bytes are in the TCP payloads
        assert f.raw in b"".join(trace.payloads(n))
        assert fr.mask(f.raw[f.header_size:], f.frame.mask_key) == f.frame.payload
    assert hs.split_head(b"".join(trace.payloads(1))) is not None


# --- the notebook, headless -------------------------------------------------------------

def _run(nb: nbformat.NotebookNode, env: dict[str, str], monkeypatch) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    bad = [o for c in nb.cells for o in c.get("outputs", [])
           if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not bad, bad[:2]
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells for o in c.get("outputs", []))


def _with_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    swaps = {"segments = None": "segments = sol.segments(trace)",
             "closing_answers = {": "closing_answers = sol.closing(closes)\n_stub = {",
             "reset_answers = {": "reset_answers = sol.reset(cut)\n_stub = {",
             "    raise NotImplementedError": "    return sol.unmask_first(payloads)"}
    done = set()
    for cell in nb.cells:
        for old, new in swaps.items():
            if cell.cell_type == "code" and old in cell.source:
                cell.source = cell.source.replace(old, new)
                done.add(old)
    assert done == set(swaps), set(swaps) - done  # every answer cell is where we expect it
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        "from wslab.exercises.solutions import ex04a as sol"))
    return nb


def test_notebook_with_model_solutions_and_no_tshark_passes_every_check(jupyter_env,
                                                                       monkeypatch):
    have_dumpcap()
    nb = _with_solutions(nbformat.read(NOTEBOOK, as_version=4))
    text = _run(nb, {"WSLAB_TSHARK": "none"}, monkeypatch)
    for n in (1, 2, 3, 4):
        assert f"Exercise {n} (" in text
    assert text.count("[PASS]") == 4 and "[NOT YET]" not in text
    assert "wslab's reader (no tshark)" in text and "tshark is not available" in text


def test_notebook_without_permission_to_capture_runs_and_says_why(jupyter_env, monkeypatch,
                                                                 tmp_path):
    fake = _fake_dumpcap(tmp_path, "dumpcap: You don't have permission to capture on that "
                                   "device")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = _run(nb, {"WSLAB_DUMPCAP": fake}, monkeypatch)
    assert text.count("[NOT YET]") == 4
    assert text.count("there is no capture to check against") == 4
    assert "usermod -aG wireshark" in text
    assert "tap's file, client → server: [185," in text  # the tap needs no capture


@pytest.fixture
def jupyter_env(tmp_path, monkeypatch):
    """Keep kernels from writing into ~ (as tests/test_notebooks.py does)."""
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")]:
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return tmp_path


def test_probe_datagrams_are_not_tcp_packets(server):
    """The capture's UDP probes stay out of every packet list."""
    have_dumpcap()
    with LoopbackCapture([server.port]) as cap:
        cap.settle()
        cap.settle()
        assert cap.packets() == []
        data = pathlib.Path(cap.path).read_bytes()
    assert data.count(b"wslab probe ") >= 2
    assert not cap.running and os.path.exists(cap.path)
