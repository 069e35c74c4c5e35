"""Write a pcap capture from relayed TCP payloads (layer 2, I/O: writes a file).

The tap sees TCP *payload*, not packets, so this module synthesises what a
capture on the loopback interface would show: Ethernet + IPv4 + TCP headers
with consistent sequence and acknowledgement numbers, a three-way handshake
before the first byte and FIN/ACK at the end, and correct checksums, so
Wireshark's and tshark's WebSocket dissector reads the conversation.
Timestamps are nanoseconds (pcap magic ``a1b23c4d``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SEGMENT = 65495  # IPv4 total length 65535 - 20 IP - 20 TCP
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


@dataclass(frozen=True)
class Segment:
    """Bytes one side of one connection sent, at a time in ns since the epoch."""

    t_ns: int
    conn: int
    from_client: bool
    data: bytes


@dataclass
class _Flow:
    client: tuple[str, int]
    server: tuple[str, int]
    seq_c: int = 1000
    seq_s: int = 5000
    started: bool = False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


def _packet(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
            payload: bytes, ident: int) -> bytes:
    sip, dip = _ip(src[0]), _ip(dst[0])
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0)
    pseudo = sip + dip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    csum = _checksum(pseudo + tcp + payload)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    eth = b"\x00\x00\x00\x00\x00\x00" * 2 + b"\x08\x00"
    return eth + ip + tcp + payload


def write_pcap(path: str, segments: Iterable[Segment], flows: dict[int, tuple[tuple[str, int],
               tuple[str, int]]], closed: Iterable[int] = ()) -> int:
    """Write ``segments`` (in time order) as a pcap file; returns the packet count.

    ``flows`` maps a connection number to its (client, server) address pairs
    (IPv4; other addresses are written as 127.0.0.1).
    """
    state = {cid: _Flow(_v4(c), _v4(s)) for cid, (c, s) in flows.items()}
    packets: list[tuple[int, bytes]] = []
    ident = 0

    def emit(t_ns: int, pkt: bytes) -> None:
        nonlocal ident
        ident += 1
        packets.append((t_ns, pkt))

    last_t: dict[int, int] = {}
    for seg in segments:
        f = state.get(seg.conn)
        if f is None:
            continue
        if not f.started:  # the three-way handshake, just before the first byte
            f.started = True
            emit(seg.t_ns, _packet(f.client, f.server, f.seq_c - 1, 0, SYN, b"", ident))
            emit(seg.t_ns, _packet(f.server, f.client, f.seq_s - 1, f.seq_c, SYN | ACK, b"", ident))
            emit(seg.t_ns, _packet(f.client, f.server, f.seq_c, f.seq_s, ACK, b"", ident))
        for i in range(0, max(len(seg.data), 1), MAX_SEGMENT):
            chunk = seg.data[i:i + MAX_SEGMENT]
            if not chunk:
                break
            if seg.from_client:
                emit(seg.t_ns,
                     _packet(f.client, f.server, f.seq_c, f.seq_s, PSH | ACK, chunk, ident))
                f.seq_c += len(chunk)
                emit(seg.t_ns, _packet(f.server, f.client, f.seq_s, f.seq_c, ACK, b"", ident))
            else:
                emit(seg.t_ns,
                     _packet(f.server, f.client, f.seq_s, f.seq_c, PSH | ACK, chunk, ident))
                f.seq_s += len(chunk)
                emit(seg.t_ns, _packet(f.client, f.server, f.seq_c, f.seq_s, ACK, b"", ident))
        last_t[seg.conn] = seg.t_ns
    for cid in closed:
        f = state.get(cid)
        if f is None or not f.started:
            continue
        t = last_t.get(cid, 0)
        emit(t, _packet(f.server, f.client, f.seq_s, f.seq_c, FIN | ACK, b"", ident))
        emit(t, _packet(f.client, f.server, f.seq_c, f.seq_s + 1, FIN | ACK, b"", ident))
        emit(t, _packet(f.server, f.client, f.seq_s + 1, f.seq_c + 1, ACK, b"", ident))
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for t_ns, pkt in packets:
            fh.write(struct.pack("<IIII", t_ns // 1_000_000_000, t_ns % 1_000_000_000,
                                 len(pkt), len(pkt)))
            fh.write(pkt)
    return len(packets)


def _v4(addr: tuple[str, int]) -> tuple[str, int]:
    host, port = addr[0], addr[1]
    if host.count(".") != 3:
        host = "127.0.0.1"
    return host, port
