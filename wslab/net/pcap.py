"""pcap files (layer 2, I/O): write one from relayed TCP payloads, read TCP from any capture.

Writing (:func:`write_pcap`, what ``Tap.to_pcap()`` uses): the tap sees TCP
*payload*, not packets, so this module synthesises what a capture on the
loopback interface would show: Ethernet + IPv4 + TCP headers with consistent
sequence and acknowledgement numbers, a three-way handshake before the first
byte and FIN/ACK at the end, and correct checksums, so Wireshark's and tshark's
WebSocket dissector reads the conversation.  Only the payload bytes are real:
segment boundaries are the relay's reads, and the handshake, FINs and headers
are invented.  Timestamps are nanoseconds (pcap magic ``a1b23c4d``).

Reading (:func:`read_pcap`, :func:`tcp_connections`): the TCP packets of a
real capture (pcap or pcapng; Ethernet, Linux cooked, raw IP or BSD loopback
framing; IPv4 and IPv6) as :class:`TcpPacket` values, exactly as captured, and
the connections they form, each direction's bytes reassembled in sequence
order.  A record cut short at the end of the file (a capture still being
written) is left out.  This reader knows TCP only: the bytes a connection
carried are handed to :mod:`wslab.protocol` to be read as WebSocket.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..protocol.errors import WSLabError

MAX_SEGMENT = 65495  # IPv4 total length 65535 - 20 IP - 20 TCP
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
              (URG, "URG"), (0x40, "ECE"), (0x80, "CWR"))  # Wireshark's order


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


# --- reading -----------------------------------------------------------------------------

class PcapError(WSLabError, ValueError):
    """A file that is not a pcap or pcapng capture, or one this reader cannot follow."""


Address = tuple[str, int]


@dataclass(frozen=True)
class TcpPacket:
    """One captured TCP packet, as it was on the wire.

    ``number`` counts every packet in the file from 1 (Wireshark's "No."), ``t_ns`` is
    the capture time in ns since the epoch, ``seq``/``ack`` are the raw 32-bit
    numbers, ``window`` the raw window field (before any window scale), ``flags`` the
    TCP flag byte, ``mss`` and ``wscale`` the options of a SYN (else None).
    """

    number: int
    t_ns: int
    src: Address
    dst: Address
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes = b""
    mss: int | None = None
    wscale: int | None = None

    @property
    def flag_names(self) -> str:
        """The flags set, Wireshark's way: ``"SYN, ACK"``."""
        return ", ".join(name for bit, name in FLAG_NAMES if self.flags & bit)

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)


# link-layer types (www.tcpdump.org/linktypes.html) -> how to find the IP packet
_NULL, _ETHERNET, _RAW, _SLL, _IPV4, _IPV6, _SLL2 = 0, 1, 101, 113, 228, 229, 276


def _ip_of(link: int, frame: bytes) -> bytes | None:
    """The IP packet inside one captured frame, or None when it carries something else."""
    if link == _ETHERNET:
        off, ethertype = 14, frame[12:14]
        while ethertype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:  # VLAN tags
            ethertype, off = frame[off + 2:off + 4], off + 4
        return frame[off:] if ethertype in (b"\x08\x00", b"\x86\xdd") else None
    if link == _SLL:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == _SLL2:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if link == _NULL:
        return frame[4:]
    if link in (_RAW, _IPV4, _IPV6):
        return frame
    return None


def _tcp_options(options: bytes) -> tuple[int | None, int | None]:
    """(MSS, window scale) from a TCP header's options (RFC 9293 3.2, RFC 7323 2.2)."""
    mss = wscale = None
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        size = options[i + 1]
        body = options[i + 2:i + size]
        if kind == 2 and len(body) == 2:
            mss = int.from_bytes(body, "big")
        elif kind == 3 and len(body) == 1:
            wscale = body[0]
        i += size
    return mss, wscale


def _tcp_of(number: int, t_ns: int, ip: bytes) -> TcpPacket | None:
    """Decode an IPv4 or IPv6 packet carrying TCP; None for anything else."""
    if len(ip) < 20:
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        frag = int.from_bytes(ip[6:8], "big")
        if ip[9] != 6 or frag & 0x3FFF or ihl < 20:  # not TCP, or a fragment
            return None
        src_ip, dst_ip = str(ipaddress.IPv4Address(ip[12:16])), \
            str(ipaddress.IPv4Address(ip[16:20]))
        segment = ip[ihl:total] if total >= ihl else ip[ihl:]
    elif version == 6 and len(ip) >= 40:
        if ip[6] != 6:  # extension headers are not followed here
            return None
        src_ip, dst_ip = str(ipaddress.IPv6Address(ip[8:24])), \
            str(ipaddress.IPv6Address(ip[24:40]))
        segment = ip[40:40 + int.from_bytes(ip[4:6], "big")]
    else:
        return None
    if len(segment) < 20:
        return None
    sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", segment[:16])
    header = (off >> 4) * 4
    if header < 20 or header > len(segment):
        return None
    mss, wscale = _tcp_options(segment[20:header]) if flags & SYN else (None, None)
    return TcpPacket(number, t_ns, (src_ip, sport), (dst_ip, dport), seq, ack, flags, window,
                     bytes(segment[header:]), mss, wscale)


def _pcap_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(link type, t_ns, frame) of a classic pcap file."""
    magic = data[:4]
    endian, nano = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
                    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True)}[magic]
    if len(data) < 24:
        return
    link = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, _orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        if pos + 16 + caplen > len(data):
            return  # cut short: still being written
        yield link, sec * 1_000_000_000 + frac * (1 if nano else 1000), \
            data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen


def _pcapng_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(link type, t_ns, frame) of a pcapng file (enhanced and simple packet blocks)."""
    endian = "<"
    links: list[tuple[int, int]] = []  # per interface: link type, ns per timestamp unit
    pos = 0
    while pos + 12 <= len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # section header: fixes the byte order
            endian = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        kind, length = struct.unpack(endian + "II", data[pos:pos + 8])
        if length < 12 or length % 4:
            raise PcapError(f"pcapng block at byte {pos} has a bad length {length}")
        if pos + length > len(data):
            return  # cut short: still being written
        body = data[pos + 8:pos + length - 4]
        if kind == 1:  # interface description
            links.append((struct.unpack(endian + "H", body[:2])[0], _ns_per_unit(body, endian)))
        elif kind == 6 and len(body) >= 20:  # enhanced packet
            iface, hi, lo, caplen = struct.unpack(endian + "IIII", body[:16])
            if iface < len(links):
                link, unit = links[iface]
                yield link, ((hi << 32) | lo) * unit, body[20:20 + caplen]
        elif kind == 3 and links:  # simple packet: no time stamp
            yield links[0][0], 0, body[4:]
        pos += length


def _ns_per_unit(idb: bytes, endian: str) -> int:
    """Nanoseconds per time stamp unit of an interface (option if_tsresol; default µs)."""
    pos = 8
    while pos + 4 <= len(idb):
        code, size = struct.unpack(endian + "HH", idb[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and size == 1:
            res = idb[pos + 4]
            return 10 ** max(0, 9 - res) if not res & 0x80 else max(1, 10**9 >> (res & 0x7F))
        pos += 4 + size + (-size % 4)
    return 1000


def read_pcap(path: str) -> list[TcpPacket]:
    """Every TCP packet of the capture at ``path``, in file order (see the module doc)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        records = _pcapng_records(data)
    elif data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                      b"\xa1\xb2\x3c\x4d"):
        records = _pcap_records(data)
    elif not data:
        return []
    else:
        raise PcapError(f"{path} is not a pcap or pcapng capture (it starts {data[:4].hex()})")
    packets: list[TcpPacket] = []
    for number, (link, t_ns, frame) in enumerate(records, start=1):
        ip = _ip_of(link, frame)
        pkt = _tcp_of(number, t_ns, ip) if ip is not None else None
        if pkt is not None:
            packets.append(pkt)
    return packets


@dataclass
class TcpConnection:
    """The packets of one TCP connection, and the bytes each side sent, in sequence order.

    ``client`` is the side that sent the first SYN (without ACK); when the capture began
    after the handshake, the side that sent the first packet.
    """

    client: Address
    server: Address
    packets: list[TcpPacket] = field(default_factory=list)

    def side(self, pkt: TcpPacket) -> str:
        """``"client"`` or ``"server"``: who sent ``pkt``."""
        return "client" if pkt.src == self.client else "server"

    def sent_by(self, side: str) -> list[TcpPacket]:
        """The packets ``side`` ("client" or "server") sent."""
        who = self.client if side == "client" else self.server
        return [p for p in self.packets if p.src == who]

    def first_seq(self, side: str) -> int | None:
        """The sequence number of ``side``'s first data byte (its ISN + 1), if seen."""
        sent = self.sent_by(side)
        for p in sent:
            if p.has(SYN):
                return (p.seq + 1) & 0xFFFFFFFF
        return sent[0].seq if sent else None

    def offset(self, pkt: TcpPacket) -> int:
        """Where ``pkt``'s payload starts in its sender's byte stream (0 = the first byte)."""
        base = self.first_seq(self.side(pkt))
        return 0 if base is None else (pkt.seq - base) & 0xFFFFFFFF

    def stream(self, side: str) -> bytes:
        """Every byte ``side`` sent, placed by sequence number (a retransmission once)."""
        out = bytearray()
        for p in self.sent_by(side):
            if not p.payload:
                continue
            at = self.offset(p)
            if at > len(out) + (1 << 30):  # not plausibly this stream: skip
                continue
            end = at + len(p.payload)
            if end > len(out):
                out.extend(b"\0" * (end - len(out)))
            out[at:end] = p.payload  # a retransmission writes the same bytes again
        return bytes(out)


def tcp_connections(packets: Iterable[TcpPacket]) -> list[TcpConnection]:
    """Group ``packets`` by connection (address pair), in the order each connection began.

    A new SYN on an address pair whose connection already ended starts a new connection.
    """
    found: list[TcpConnection] = []
    open_: dict[frozenset[Address], TcpConnection] = {}
    for p in packets:
        key = frozenset((p.src, p.dst))
        conn = open_.get(key)
        if conn is not None and p.has(SYN) and not p.has(ACK) and any(
                q.has(FIN) or q.has(RST) for q in conn.packets):
            conn = None  # the same ports again: a new connection
        if conn is None:
            client, server = (p.dst, p.src) if p.has(SYN) and p.has(ACK) else (p.src, p.dst)
            conn = TcpConnection(client, server)
            open_[key] = conn
            found.append(conn)
        conn.packets.append(p)
    return found
