"""Trace experiments for notebook 04a (layer 3): real captures, read like the Wireshark labs.

Each experiment captures the loopback interface (:class:`~wslab.net.capture.
LoopbackCapture`, Wireshark's ``dumpcap``) on the ports it uses, makes some
WebSocket traffic with wslab's own client and server, waits until the capture
holds the end of every connection, and returns a :class:`Trace`: the packets
as captured (read by ``tshark`` when it is installed, else by wslab's reader),
the connections they form, and the WebSocket frames found in each direction's
bytes (read by :mod:`wslab.protocol`).  Nothing in a trace is made up: every
byte it shows is a byte that crossed ``lo``.

:func:`tap_and_wire` sets the other kind of file beside it: ``Tap.to_pcap()``,
which invents TCP around the bytes a relay copied.

Where no capture is possible (no dumpcap, or no permission) an experiment
returns a trace whose ``unavailable`` says why and what to do; it holds no
packets, and the checks say so instead of judging an answer.
"""

from __future__ import annotations

import random
import shutil
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..net.capture import (
    CaptureUnavailable,
    LoopbackCapture,
    SocketState,
    find_tshark,
    socket_states,
    tshark_packets,
    tshark_summary,
    tshark_version,
)
from ..net.children import work_dir
from ..net.client import Client, connect
from ..net.errors import ConnectionClosed, LabTimeout
from ..net.faults import FaultProxy
from ..net.pcap import ACK, FIN, RST, SYN, TcpConnection, TcpPacket, read_pcap, tcp_connections
from ..net.server.api import ServerLike
from ..net.tap import Tap
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import WSLabError

__all__ = ["Trace", "TraceTable", "WireFrame", "big_message", "closing", "compare",
           "masked_frames", "reset", "tap_and_wire"]

SETTLE_TIMEOUT = 10.0  # seconds to wait for the capture to show every connection's end
WAIT = 5.0             # seconds for one step of an experiment (a message, a close)
WORDS = ("frame", "mask", "socket", "segment", "window", "close", "ping", "pong", "byte",
         "wire", "trace", "packet", "header", "payload", "handshake", "stream")


@dataclass(frozen=True)
class WireFrame:
    """A WebSocket frame in one direction of a connection: where its bytes are in that
    direction's stream (``start``, ``end``), those bytes as sent (``raw``, still masked),
    and the frame wslab.protocol read from them (payload unmasked)."""

    side: str
    start: int
    end: int
    raw: bytes
    frame: fr.Frame

    @property
    def header_size(self) -> int:
        return len(self.raw) - len(self.frame.payload)

    @property
    def length_form(self) -> str:
        """Which length field the header uses (RFC 6455 5.2): 7-bit, 16-bit or 64-bit."""
        unmasked = self.header_size - (4 if self.frame.masked else 0)
        return {2: "7-bit", 4: "16-bit", 10: "64-bit"}.get(unmasked, "?")

    def describe(self, *, masked: bool = True) -> str:
        """``TEXT 70000 B, masked``; a Close frame with its code."""
        op = self.frame.opcode
        name = op.name if isinstance(op, fr.Opcode) else f"opcode {op}"
        if op == fr.Opcode.CLOSE:
            code, _ = self.frame.close_info()
            body = f"CLOSE {code}" if code is not None else "CLOSE"
        else:
            body = f"{name} {len(self.frame.payload)} B"
        return body + (", masked" if self.frame.masked and masked else "")


def _read_stream(data: bytes, side: str) -> tuple[bytes, list[WireFrame]]:
    """The HTTP head and the frames after it in one direction's bytes (what is readable)."""
    try:
        cut = hs.split_head(data)
    except WSLabError:
        return b"", []
    if cut is None:
        return b"", []
    head, _ = cut
    pos, found = len(head), []
    if side == "server" and hs.status_of(head) != 101:
        return head, []
    while pos < len(data):
        try:
            frame, used = fr.decode_frame(data[pos:], require_mask=side == "client")
        except WSLabError:  # cut short by the capture's end, or not WebSocket
            break
        found.append(WireFrame(side, pos, pos + used, data[pos:pos + used], frame))
        pos += used
    return head, found


class TraceTable(list):
    """Packets of a trace, one line each, like Wireshark's packet list (text).

    Columns a trace does not need are left out, so that a line fits a projected
    notebook (about 74 characters): ``conn`` when the ends' names already tell the
    connections apart, ``ms`` unless asked for."""

    COLUMNS = ("No.", "ms", "conn", "from→to", "flags", "seq", "ack", "len", "what")
    RIGHT = frozenset({0, 1, 2, 5, 6, 7})

    def __init__(self, rows: list[tuple[str, ...]], header: str, *,
                 drop: frozenset[str] = frozenset()) -> None:
        super().__init__(rows)
        self.header = header
        self.drop = drop  # names of the columns left out

    def __str__(self) -> str:
        if not self:
            return self.header + "\n(no packets)"
        keep = [i for i, name in enumerate(self.COLUMNS) if name not in self.drop]
        rows = [tuple(r[i] for i in keep) for r in [self.COLUMNS, *self]]
        right = {k for k, i in enumerate(keep) if i in self.RIGHT}
        widths = [max(len(r[i]) for r in rows) for i in range(len(keep) - 1)]
        lines = [self.header]
        for r in rows:
            cells = [c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r[:-1], widths, strict=True))]
            lines.append(" ".join(cells) + " " + r[-1])
        return "\n".join(line.rstrip() for line in lines)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


class TraceText(str):
    """Text shown as it is in a notebook (tshark's own lines, a socket table)."""

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


@dataclass
class Trace:
    """What one experiment captured: packets, connections, frames (see the module doc).

    ``names`` maps a server port to the names of a connection's two ends, e.g.
    ``{40001: ("client", "proxy"), 8888: ("proxy", "server")}``.  ``notes`` holds
    what the experiment saw outside the capture (the client's close code, the
    kernel's TIME_WAIT sockets).
    """

    path: str
    packets: list[TcpPacket]
    reader: str
    story: str
    names: dict[int, tuple[str, str]] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)
    time_wait: dict[int, list[str]] = field(default_factory=dict)  # conn -> ends holding it
    unavailable: str = ""
    reconstructed: bool = False
    tshark: str | None = None
    _conns: list[TcpConnection] | None = None
    _streams: dict[tuple[int, str], tuple[bytes, list[WireFrame]]] = field(default_factory=dict)

    # --- connections and what they carried --------------------------------------------
    @property
    def connections(self) -> list[TcpConnection]:
        if self._conns is None:
            self._conns = tcp_connections(self.packets)
        return self._conns

    def conn(self, n: int) -> TcpConnection:
        """Connection ``n`` (1 = the first one the capture saw)."""
        if self.unavailable:
            raise ValueError(f"there is no capture: {self.unavailable}")
        if not 1 <= n <= len(self.connections):
            raise ValueError(f"this trace has {len(self.connections)} connection(s); "
                             f"got conn={n!r}")
        return self.connections[n - 1]

    def ends(self, n: int) -> tuple[str, str]:
        """The names of connection ``n``'s client and server ends."""
        c = self.conn(n)
        return self.names.get(c.server[1], ("client", "server"))

    def who(self, n: int, pkt: TcpPacket) -> tuple[str, str]:
        """The names of the ends that sent and received ``pkt`` on connection ``n``."""
        client, server = self.ends(n)
        return (client, server) if self.conn(n).side(pkt) == "client" else (server, client)

    def _read(self, n: int, side: str) -> tuple[bytes, list[WireFrame]]:
        key = (n, side)
        if key not in self._streams:
            self._streams[key] = _read_stream(self.conn(n).stream(side), side)
        return self._streams[key]

    def head(self, n: int, side: str = "client") -> bytes:
        """The HTTP head ``side`` sent on connection ``n`` (the opening handshake)."""
        return self._read(n, side)[0]

    def frames(self, n: int, side: str = "client") -> list[WireFrame]:
        """The WebSocket frames ``side`` sent on connection ``n``, in order."""
        return self._read(n, side)[1]

    def payloads(self, n: int, side: str = "client") -> list[bytes]:
        """The TCP payloads ``side`` sent on connection ``n``, in sequence order (none
        without a capture)."""
        if self.unavailable:
            return []
        c = self.conn(n)
        seen: dict[int, bytes] = {}
        for p in c.sent_by(side):
            if p.payload:
                seen.setdefault(c.offset(p), p.payload)
        return [seen[k] for k in sorted(seen)]

    def data_sizes(self, n: int, side: str = "client") -> list[int]:
        """The payload sizes of the packets ``side`` sent on connection ``n``, in order
        (none without a capture)."""
        if self.unavailable:
            return []
        return [len(p.payload) for p in self.conn(n).sent_by(side) if p.payload]

    def segments(self, n: int, side: str, start: int, end: int) -> list[TcpPacket]:
        """The packets ``side`` sent on connection ``n`` that carry any of its stream's
        bytes ``start`` to ``end - 1`` (a retransmission counts again)."""
        c = self.conn(n)
        return [p for p in c.sent_by(side)
                if p.payload and c.offset(p) < end and c.offset(p) + len(p.payload) > start]

    def window(self, n: int, pkt: TcpPacket) -> int:
        """The receive window ``pkt`` offers, in bytes (scaled as RFC 7323 2.3 says)."""
        c = self.conn(n)
        if pkt.has(SYN):
            return pkt.window
        shifts = {s: next((p.wscale for p in c.sent_by(s) if p.has(SYN)), None)
                  for s in ("client", "server")}
        shift = shifts[c.side(pkt)] if None not in shifts.values() else 0
        return pkt.window << (shift or 0)

    # --- views ----------------------------------------------------------------------
    def _what(self, n: int, pkt: TcpPacket) -> str:
        """What a packet carries, read by wslab.protocol; or what its flags mean.

        A frame split over several packets is named where it starts ("start of ...")
        and marked where it continues and ends, the way Wireshark names a reassembled
        message once."""
        c = self.conn(n)
        if pkt.has(RST):
            return "reset: connection aborted"
        if pkt.has(SYN):
            if pkt.mss is None:
                return "no options"
            return f"MSS {pkt.mss}" + (f", wscale {pkt.wscale}"
                                       if pkt.wscale is not None else "")
        parts = []
        if pkt.payload:
            side = c.side(pkt)
            start = c.offset(pkt)
            end = start + len(pkt.payload)
            head = self.head(n, side)
            if start < len(head):
                parts.append(_http_line(head))
            for f in self.frames(n, side):
                if f.start < end and f.end > start:
                    if f.start >= start and f.end <= end:
                        parts.append(f.describe())
                    elif f.start >= start:
                        parts.append(f"start of {f.describe(masked=False)}")
                    elif f.end <= end:
                        parts.append("(frame ends)")
                    else:
                        parts.append("(frame continues)")
            if not parts:
                parts.append("data")
        if pkt.has(FIN):
            parts.append("no more data from sender")
        return " + ".join(parts)

    def table(self, conn: int | None = None, *, times: bool = False) -> TraceTable:
        """The packets (of connection ``conn``, or all), one line each.

        ``seq`` and ``ack`` are relative, as Wireshark shows them (0 = the SYN);
        ``len`` is the TCP payload; ``what`` says what the payload is, read by
        wslab.protocol, or what the flags mean.  ``times`` adds the milliseconds
        since the first packet.
        """
        if self.unavailable:
            return TraceTable([], f"no capture: {self.unavailable}")
        rows = []
        t0 = self.packets[0].t_ns if self.packets else 0
        for n, c in enumerate(self.connections, start=1):
            if conn is not None and n != conn:
                continue
            isn = {s: (c.first_seq(s) or 1) - 1 for s in ("client", "server")}
            for p in c.packets:
                mine = c.side(p)
                other = "server" if mine == "client" else "client"
                ack = (p.ack - isn[other]) & 0xFFFFFFFF if p.has(ACK) else 0
                rows.append((p, (str(p.number), f"{(p.t_ns - t0) / 1e6:.1f}", str(n),
                                 "→".join(self.who(n, p)), p.flag_names.replace(", ", ","),
                                 str((p.seq - isn[mine]) & 0xFFFFFFFF), str(ack),
                                 str(len(p.payload)), self._what(n, p))))
        rows.sort(key=lambda r: r[0].number)
        shown = range(1, len(self.connections) + 1) if conn is None else [conn]
        names = [self.ends(n) for n in shown]
        drop = {"ms"} if not times else set()
        if len(set(names)) == len(names):  # the ends' names tell the connections apart
            drop.add("conn")
        return TraceTable([r for _, r in rows], self.describe(), drop=frozenset(drop))

    def describe(self) -> str:
        """One line: what was captured, how, and who read it."""
        if self.unavailable:
            return f"no capture: {self.unavailable}"
        kind = ("made up by the tap around the bytes it relayed"
                if self.reconstructed else "captured on lo by dumpcap")
        ends = ", ".join(f"{a} → {b} port {port}" for port, (a, b) in self.names.items())
        return (f"{len(self.packets)} TCP packets {kind}, read by {self.reader}"
                + (f"\nports: {ends}" if ends else ""))

    def wireshark(self, display_filter: str = "websocket") -> TraceText:
        """tshark's own one-line summaries of the packets matching ``display_filter``
        (Wireshark's packet list), or a note when tshark is not installed."""
        if self.unavailable:
            return TraceText(f"no capture: {self.unavailable}")
        if self.tshark is None:
            return TraceText("tshark is not available here: trace.table() (wslab's own reader) "
                             "is your view of this trace")
        rows = tshark_summary(self.path, self.tshark, display_filter, http_ports=self.names)
        out = [f"{'No.':>5} {'from':>5} → {'to':<5} {'bytes':>6}  Info (tshark)"]
        out += [f"{no:>5} {sport:>5} → {dport:<5} {size:>6}  {info}"
                for no, sport, dport, size, info in rows]
        return TraceText("\n".join(out))

    def sockets(self) -> TraceText:
        """What the kernel's socket table showed right after the closes (TIME_WAIT)."""
        if self.unavailable:
            return TraceText(f"no capture: {self.unavailable}")
        seen = self.notes.get("sockets")
        if not isinstance(seen, list):
            return TraceText("the kernel's socket table could not be read here (it is "
                             "Linux's /proc/net/tcp)")
        lines = []
        for s in seen:
            owner = self._owner(s) if isinstance(s, SocketState) else None
            if owner is not None:
                lines.append(f"{s.local[0]}:{s.local[1]:<5} ↔ {s.remote[0]}:{s.remote[1]:<5} "
                             f"{s.state:<11} {owner}")
        return TraceText("\n".join(lines) or "no socket of these connections is left")

    def _owner(self, s: SocketState) -> str | None:
        """Whose socket ``s`` is ("conn 2's client"), or None for another connection."""
        for n, c in enumerate(self.connections, start=1):
            if (s.local, s.remote) == (c.client, c.server):
                return f"conn {n}'s {self.ends(n)[0]}"
            if (s.local, s.remote) == (c.server, c.client):
                return f"conn {n}'s {self.ends(n)[1]}"
        return None

    def __repr__(self) -> str:
        return f"<Trace {self.describe()}>"


def _http_line(head: bytes) -> str:
    """``HTTP request GET /echo`` or ``HTTP response 101``: a head's first line, short."""
    words = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if words[:1] and words[0].startswith("HTTP/") and len(words) > 1:
        return f"HTTP response {words[1]}"
    return "HTTP request " + " ".join(words[:2])


# --- reading a capture ---------------------------------------------------------------

def read_trace(path: str, *, story: str, names: dict[int, tuple[str, str]] | None = None,
               reconstructed: bool = False) -> Trace:
    """A :class:`Trace` of the capture file at ``path``: tshark reads it when it is
    installed (``WSLAB_TSHARK=none`` chooses wslab's reader), else wslab's reader."""
    tshark = find_tshark()
    if tshark is not None:
        packets, reader = tshark_packets(path, tshark), tshark_version(tshark)
    else:
        packets, reader = read_pcap(path), "wslab's reader (no tshark)"
    return Trace(path, packets, reader, story, dict(names or {}),
                 reconstructed=reconstructed, tshark=tshark)


def connections_ended(packets: list[TcpPacket]) -> bool:
    """Has every connection in ``packets`` ended: a RST, or a FIN each way and the last
    FIN acknowledged?"""
    conns = tcp_connections(packets)
    return bool(conns) and all(_ended(c) for c in conns)


def _ended(c: TcpConnection) -> bool:
    if any(p.has(RST) for p in c.packets):
        return True
    fins = [p for p in c.packets if p.has(FIN)]
    if {c.side(p) for p in fins} != {"client", "server"}:
        return False
    last = fins[-1]
    want = (last.seq + len(last.payload) + 1) & 0xFFFFFFFF
    return any(p.number > last.number and p.has(ACK) and p.ack == want and p.src == last.dst
               for p in c.packets)


def _captured(ports: list[int], run: Callable[[LoopbackCapture | None], dict[str, object]], *,
              story: str, names: dict[int, tuple[str, str]], always: bool = False) -> Trace:
    """Capture ``ports`` while ``run(capture)`` makes traffic; a Trace of the result.

    Without a capture the traffic is made only when ``always`` (``run(None)``)."""
    try:
        cap = LoopbackCapture(ports)
    except CaptureUnavailable as exc:
        notes = run(None) if always else {}
        return Trace("", [], "", story, names, notes, unavailable=str(exc))
    try:
        notes = run(cap)
        cap.wait_for(connections_ended, timeout=SETTLE_TIMEOUT)
    finally:
        cap.stop()
    keep = work_dir("trace")
    path = shutil.copy(cap.path, f"{keep}/{story.split(':')[0].replace(' ', '_')}.pcapng")
    trace = read_trace(path, story=story, names=names)
    trace.notes.update(notes)
    return trace


def _text(rng: random.Random, size: int) -> str:
    """``size`` characters of random words: a different message in every capture."""
    words: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(WORDS) + str(rng.randrange(10, 99))
        words.append(w)
        n += len(w) + 1
    text = " ".join(words)
    if len(text) < size:
        text += "".join(rng.choice(string.ascii_lowercase) for _ in range(size - len(text)))
    return text[:size]


def _echo(client: Client, message: str) -> None:
    client.send(message)
    client.recv(timeout=WAIT)


# --- the experiments --------------------------------------------------------------------

def big_message(server: ServerLike, *, size: int = 70_000, seed: int | None = None) -> Trace:
    """One connection: the client sends a ``size``-character text message, the server
    echoes it, the client closes.  How many TCP segments carry it?"""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1 << 20:
        raise ValueError(f"size is a number of characters, 1 to 1 MiB, got {size!r}")
    rng = random.Random(seed)

    def run(cap: LoopbackCapture | None) -> dict[str, object]:
        with connect(server.url) as client:
            _echo(client, _text(rng, size))
            client.close(1000)
        return {"size": size}

    return _captured([server.port], run, story=f"big message: {size} characters, echoed",
                     names={server.port: ("client", "server")})


def closing(server: ServerLike) -> Trace:
    """Two connections: in the first the client starts the closing handshake, in the
    second the server does.  Who sends the first FIN, and who is left in TIME_WAIT?"""
    def run(cap: LoopbackCapture | None) -> dict[str, object]:
        with connect(server.url) as client:
            _echo(client, "closing 1: the client starts")
            client.close(1000, "done")
        with connect(server.url) as client:
            _echo(client, "closing 2: the server starts")
            server.close_client(max(c.id for c in server.clients), 1000, "bye")
            try:
                client.recv(timeout=WAIT)
            except (ConnectionClosed, LabTimeout):
                pass
        if cap is not None:
            cap.wait_for(connections_ended, timeout=SETTLE_TIMEOUT)
        return {"sockets": socket_states([server.port])}

    trace = _captured([server.port], run, story="closing: the client starts, then the server",
                      names={server.port: ("client", "server")})
    seen = trace.notes.get("sockets")
    if isinstance(seen, list):
        for n, c in enumerate(trace.connections, start=1):
            holders = []
            for s in seen:
                if s.state == "TIME_WAIT" and (s.local, s.remote) == (c.client, c.server):
                    holders.append("client")
                if s.state == "TIME_WAIT" and (s.local, s.remote) == (c.server, c.client):
                    holders.append("server")
            trace.time_wait[n] = holders
    return trace


def reset(server: ServerLike) -> Trace:
    """A client talks to the server through a FaultProxy; after one echo the proxy's
    ``reset`` fault cuts the connection as the next message arrives.  What is on the wire?"""
    proxy = FaultProxy(server.url)

    def run(cap: LoopbackCapture | None) -> dict[str, object]:
        with connect(proxy.url) as client:
            _echo(client, "hello through the proxy")
            proxy.set("reset", direction="upstream")
            client.send("this message meets the reset fault")
            try:
                client.recv(timeout=WAIT)
            except (ConnectionClosed, LabTimeout):
                pass
            return {"close_code": client.close_code, "proxy_port": proxy.port,
                    "server_port": server.port}

    try:
        return _captured([proxy.port, server.port], run,
                         story="reset: the proxy's reset fault, between client and server",
                         names={proxy.port: ("client", "proxy"),
                                server.port: ("proxy", "server")})
    finally:
        proxy.stop()


LENGTH_RANGES = ((1, 125), (126, 4000), (65_536, 80_000))  # 7-, 16-, 64-bit length forms


def masked_frames(server: ServerLike, *, seed: int | None = None) -> Trace:
    """Three connections; in each the client sends one text message, of a random length
    in each of the three length forms of RFC 6455 5.2, then closes."""
    rng = random.Random(seed)

    def run(cap: LoopbackCapture | None) -> dict[str, object]:
        sizes = [rng.randint(lo, hi) for lo, hi in LENGTH_RANGES]
        for size in sizes:
            with connect(server.url) as client:
                _echo(client, _text(rng, size))
                client.close(1000)
        return {"sizes": sizes}

    return _captured([server.port], run, story="masked: three messages, three length forms",
                     names={server.port: ("client", "server")})


def tap_and_wire(server: ServerLike, *, size: int = 70_000,
                 seed: int | None = None) -> tuple[Trace, Trace]:
    """The same conversation twice over: the file ``Tap.to_pcap()`` writes (made up
    around the bytes the tap relayed) and a real capture of both legs (client ↔ tap,
    tap ↔ server).  Returns ``(tap_file, wire)``."""
    rng = random.Random(seed)
    tap = Tap(server.url)

    def run(cap: LoopbackCapture | None) -> dict[str, object]:
        with connect(tap.url) as client:
            _echo(client, _text(rng, size))
            client.close(1000)
        return {"size": size}

    try:
        wire = _captured([tap.port, server.port], run,
                         story=f"tap and wire: {size} characters through a Tap",
                         names={tap.port: ("client", "tap"), server.port: ("tap", "server")},
                         always=True)
        deadline = time.monotonic() + WAIT
        while not any(r.kind == "closed" for r in tap.records) and time.monotonic() < deadline:
            time.sleep(0.005)
        path = f"{work_dir('tap')}/tap.pcap"
        tap.to_pcap(path)
    finally:
        tap.stop()
    made = read_trace(path, story="the tap's file", names={server.port: ("client", "server")},
                      reconstructed=True)
    return made, wire


def compare(made: Trace, wire: Trace) -> TraceText:
    """The tap's file beside the wire (from :func:`tap_and_wire`): the client's data
    packets in each, and whether the bytes and the cuts are the same."""
    lines = [f"tap's file, client → server: {made.data_sizes(1)}"]
    if wire.unavailable:
        return TraceText("\n".join([*lines, f"the wire: no capture: {wire.unavailable}"]))
    same_bytes = made.conn(1).stream("client") == wire.conn(1).stream("client")
    same_cuts = made.data_sizes(1) == wire.data_sizes(1)
    lines += [f"the wire, client → tap:      {wire.data_sizes(1)}",
              f"the wire, tap → server:      {wire.data_sizes(2)}",
              f"same bytes: {'yes' if same_bytes else 'NO'}; "
              f"same cuts: {'yes' if same_cuts else 'no'}",
              wire.describe()]
    return TraceText("\n".join(lines))
