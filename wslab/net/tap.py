"""``wslab.Tap(target_url)``: a loopback relay that records every byte (layer 2, I/O).

Clients connect to ``tap.url``; the tap opens its own TCP connection to the
target and copies bytes both ways *unchanged*, chunk by chunk, as soon as they
arrive.  Beside the copy it decodes what passed with the sans-I/O core: the
opening handshake (raw bytes of request and response) and every frame in each
direction (FIN, RSV bits, opcode, mask key, length, unmasked payload, close
code and reason, and for permessage-deflate the inflated payload and both
sizes).  Bytes that break the protocol are recorded as ``invalid`` and still
relayed: the tap never alters traffic.

What the tap keeps is bounded in bytes, not only in items (issue 11): a message
is inflated to at most ``INFLATE_MAX`` bytes (a compression bomb is reported,
not expanded), one direction buffers at most ``BUFFER_MAX`` bytes of an
unfinished frame or compressed message (past that its frames are relayed but no
longer decoded, and a record says so), and the records hold at most
``RECORDS_BYTES_MAX`` bytes of payload (the oldest go first, counted in
``dropped_records``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.deflate import EXTENSION_NAME, PerMessageDeflate, parse_extension_offer
from ..protocol.errors import WSLabError
from ..protocol.uri import host_for_url
from . import loop as lab
from .errors import ServerStartError
from .pcap import Segment, write_pcap
from .raw import MAX_HEAD, Target

PAYLOAD_KEPT = 64 * 1024      # bytes of each frame's payload kept in its record
RAW_KEPT = 64 * 1024 * 1024   # bytes of raw traffic kept for the pcap export
INFLATE_MAX = 16 * 1024 * 1024         # bytes one message is inflated to, at most
BUFFER_MAX = 16 * 1024 * 1024          # bytes one direction buffers before decoding
RECORDS_BYTES_MAX = 64 * 1024 * 1024   # bytes of payload all records hold together
C2S, S2C = "client→server", "server→client"


@dataclass
class TapRecord:
    """One thing that crossed the tap: a handshake head, a frame, or invalid bytes."""

    t_ns: int
    conn: int
    direction: str
    kind: str  # "handshake", "frame", "invalid", "closed"
    size: int = 0  # bytes on the wire
    fin: bool | None = None
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    opcode: str = ""
    masked: bool = False
    mask_key: bytes | None = None
    length: int = 0  # payload length field
    payload: bytes = b""  # unmasked (first PAYLOAD_KEPT bytes)
    close_code: int | None = None
    close_reason: str = ""
    compressed: bool = False
    inflated: bytes | None = None  # the decompressed message (on its last frame)
    inflated_size: int | None = None
    raw_head: bytes = b""  # the frame header bytes, or the whole handshake head
    error: str = ""

    def summary(self) -> str:
        if self.kind == "handshake":
            return self.raw_head.split(b"\r\n", 1)[0].decode("latin-1")
        if self.kind == "invalid":
            return f"invalid: {self.error}"
        if self.kind == "closed":
            return "TCP connection closed"
        text = self.payload[:60]
        if self.inflated is not None:
            text = self.inflated[:60]
        if self.opcode == "CLOSE":
            return f"code {self.close_code} {self.close_reason!r}"
        if self.opcode in ("PING", "PONG"):
            return repr(bytes(text))
        try:
            shown = repr(text.decode("utf-8")) if self.opcode in ("TEXT", "CONTINUATION") \
                else text.hex(" ")
        except UnicodeDecodeError:
            shown = text.hex(" ")
        return shown


def _kept(rec: TapRecord) -> int:
    """Bytes a record holds (payload, inflated payload, header or handshake head)."""
    return len(rec.payload) + len(rec.inflated or b"") + len(rec.raw_head) + 200


class _Analyzer:
    """Decodes one direction of one connection; never raises into the relay.

    It hands every record to ``add(record)`` and a complete handshake head to
    ``on_head(analyzer, head, t_ns)`` (which reads the negotiation and, for the
    answer, calls :meth:`start_frames` on both directions).
    """

    def __init__(self, conn: int, direction: str, *, add: Callable[[TapRecord], None],
                 on_head: Callable[[_Analyzer, bytes, int], None]) -> None:
        self.conn, self.direction = conn, direction
        self.add, self.on_head = add, on_head
        self.head = bytearray()
        self.in_head = True
        self.parser: fr.FrameParser | None = None
        self.broken = False
        self.deflate: PerMessageDeflate | None = None
        self.message_compressed = False
        self.message_parts: list[bytes] = []
        self.message_bytes = 0

    def start_frames(self, deflate: PerMessageDeflate | None) -> None:
        self.deflate = deflate
        self.parser = fr.FrameParser(require_mask=self.direction == C2S,
                                     extensions_rsv1=deflate is not None)

    def feed(self, data: bytes, t_ns: int) -> None:
        if self.broken:
            self.add(TapRecord(t_ns, self.conn, self.direction, "invalid", len(data),
                                    payload=data[:PAYLOAD_KEPT], error="after an earlier error"))
            return
        if self.in_head:
            self.head += data
            try:
                cut = hs.split_head(self.head, limit=MAX_HEAD)
            except WSLabError as exc:
                self._fail(bytes(self.head), t_ns, str(exc))
                return
            if cut is None:
                return
            head, rest = cut
            self.head.clear()
            self.in_head = False
            self.on_head(self, head, t_ns)
            data = rest
            if not data or self.parser is None:
                if data and self.parser is None:  # bytes after a refused handshake
                    self.add(TapRecord(t_ns, self.conn, self.direction, "invalid", len(data),
                                            payload=data[:PAYLOAD_KEPT],
                                            error="bytes after a non-101 answer"))
                return
        if self.parser is None:  # the server's side waits for the 101 to know the extensions
            self.head += data
            if len(self.head) > BUFFER_MAX:
                self._fail(b"", t_ns, f"more than {BUFFER_MAX} bytes before the handshake's "
                                      "answer: relayed, no longer decoded")
                self.head.clear()
            return
        try:
            frames = self.parser.feed(data)
        except WSLabError as exc:
            self._fail(data, t_ns, str(exc))
            return
        for frame in frames:
            self._record(frame, t_ns)
        if self.parser.buffered > BUFFER_MAX:
            self.parser = fr.FrameParser()  # drop its buffer; the direction is not decoded on
            self._fail(b"", t_ns, f"a frame longer than the tap decodes ({BUFFER_MAX} bytes): "
                                  "relayed, not decoded from here on")

    def _fail(self, data: bytes, t_ns: int, why: str) -> None:
        self.broken = True
        self.add(TapRecord(t_ns, self.conn, self.direction, "invalid", len(data),
                                payload=data[:PAYLOAD_KEPT], error=why))

    def _record(self, f: fr.Frame, t_ns: int) -> None:
        header = fr.frame_header(f)
        rec = TapRecord(t_ns, self.conn, self.direction, "frame", len(header) + len(f.payload),
                        fin=f.fin, rsv1=f.rsv1, rsv2=f.rsv2, rsv3=f.rsv3,
                        opcode=f.opcode.name if isinstance(f.opcode, fr.Opcode) else str(f.opcode),
                        masked=f.mask_key is not None, mask_key=f.mask_key,
                        length=len(f.payload), payload=f.payload[:PAYLOAD_KEPT], raw_head=header)
        if f.opcode == fr.Opcode.CLOSE:
            try:
                rec.close_code, rec.close_reason = fr.parse_close_payload(f.payload)
            except WSLabError as exc:
                rec.error = str(exc)
        elif f.opcode in (fr.Opcode.TEXT, fr.Opcode.BINARY, fr.Opcode.CONTINUATION):
            if f.opcode != fr.Opcode.CONTINUATION:
                self.message_compressed = f.rsv1 and self.deflate is not None
                self.message_parts = []
                self.message_bytes = 0
            rec.compressed = self.message_compressed
            if self.message_compressed:
                self.message_parts.append(f.payload)
                self.message_bytes += len(f.payload)
                if self.message_bytes > BUFFER_MAX:
                    rec.error = (f"a compressed message longer than {BUFFER_MAX} bytes: "
                                 "not inflated")
                    self.message_parts, self.message_compressed = [], False
                elif f.fin:
                    self._inflate(rec)
                    self.message_parts = []
        self.add(rec)

    def _inflate(self, rec: TapRecord) -> None:
        """Inflate the message that ``rec`` ends, to at most INFLATE_MAX bytes."""
        if self.deflate is None:  # only a compressed message gets here
            return
        try:
            inflated = self.deflate.decompress(b"".join(self.message_parts),
                                               max_size=INFLATE_MAX)
            rec.inflated, rec.inflated_size = inflated[:PAYLOAD_KEPT], len(inflated)
        except WSLabError as exc:
            if getattr(exc, "close_code", None) == 1009:
                rec.error = (f"inflates to more than {INFLATE_MAX} bytes (a compression bomb?): "
                             "the tap stopped there")
            else:
                rec.error = str(exc)


@dataclass
class _Conn:
    id: int
    client: tuple[str, int]
    c2s: _Analyzer
    s2c: _Analyzer
    request: hs.Request | None = None
    key: str = ""
    offered: str = ""
    writers: list = field(default_factory=list)


class Tap:
    """A recording relay in front of ``target_url`` (layer 2).  See the module doc."""

    _stop_order = 1

    def __init__(self, target_url: str, *, host: str = "127.0.0.1", port: int = 0,
                 max_records: int = 100_000, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        self.target = Target.parse(target_url)
        if not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records is a positive integer, got {max_records!r}")
        self.target_url = target_url
        self.host = host
        self.max_records = max_records
        self.records: list[TapRecord] = []
        self.records_bytes = 0  # payload bytes the records hold (at most RECORDS_BYTES_MAX)
        self.dropped_records = 0
        self.segments: list[Segment] = []
        self.raw_bytes = 0
        self._flows: dict[int, tuple[tuple[str, int], tuple[str, int]]] = {}
        self._closed: list[int] = []
        self._conns: dict[int, _Conn] = {}
        self._tasks: set[asyncio.Task] = set()
        self._next = 1
        self._server: asyncio.base_events.Server | None = None
        self._wall_offset = time.time_ns() - time.monotonic_ns()
        self.port = lab.run(self._astart(port), timeout=timeout, what="starting the tap")
        lab.register(self)

    @property
    def url(self) -> str:
        """Connect here instead of the target: same path, the tap's host and port."""
        return f"ws://{host_for_url(self.host)}:{self.port}{self.target.path}"

    async def _astart(self, port: int) -> int:
        try:
            self._server = await asyncio.start_server(self._accept, self.host, port)
        except OSError as exc:
            raise ServerStartError(f"the tap cannot listen on {self.host}:{port}: "
                                   f"{exc.strerror or exc}") from None
        return self._server.sockets[0].getsockname()[1]

    # --- relaying -----------------------------------------------------------------
    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            await self._relay(c_reader, c_writer)
        except asyncio.CancelledError:
            # stop() cancels relays; Python 3.11's stream server then calls exception() on
            # the cancelled task, which raises and logs a traceback: end it normally instead
            pass

    async def _relay(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a stream server's callback runs in a task
        self._tasks.add(task)
        cid = self._next
        self._next += 1
        peer = c_writer.get_extra_info("peername")[:2]
        try:
            s_reader, s_writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), 5)
        except (OSError, asyncio.TimeoutError):
            c_writer.close()
            self._tasks.discard(task)
            return
        conn = _Conn(cid, peer,
                     _Analyzer(cid, C2S, add=self._add, on_head=self._handshake),
                     _Analyzer(cid, S2C, add=self._add, on_head=self._handshake),
                     writers=[c_writer, s_writer])
        self._conns[cid] = conn
        self._flows[cid] = (peer, (self.target.host, self.target.port))
        try:
            await asyncio.gather(self._pump(c_reader, s_writer, conn.c2s, cid, True),
                                 self._pump(s_reader, c_writer, conn.s2c, cid, False))
        finally:
            for w in conn.writers:
                w.close()
            self._closed.append(cid)
            self._add(TapRecord(time.monotonic_ns(), cid, "", "closed"))
            self._conns.pop(cid, None)
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    analyzer: _Analyzer, cid: int, from_client: bool) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)  # relay first, unchanged
                t = time.monotonic_ns()
                if self.raw_bytes + len(data) <= RAW_KEPT:
                    self.segments.append(Segment(t + self._wall_offset, cid, from_client, data))
                    self.raw_bytes += len(data)
                analyzer.feed(data, t)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                pass

    # --- analysis hooks ---------------------------------------------------------------
    def _handshake(self, analyzer: _Analyzer, head: bytes, t_ns: int) -> None:
        conn = self._conns.get(analyzer.conn)
        rec = TapRecord(t_ns, analyzer.conn, analyzer.direction, "handshake", len(head),
                        raw_head=head)
        if conn is None:
            self._add(rec)
            return
        if analyzer.direction == C2S:
            try:
                req = hs.parse_request(head)
                conn.request, conn.key = req, req.key
                conn.offered = req.get("Sec-WebSocket-Extensions") or ""
            except WSLabError as exc:
                rec.error = str(exc)
            self._add(rec)
            return
        deflate_server = deflate_client = None
        try:
            resp = hs.check_response(head, conn.key,
                                     subprotocols=conn.request.subprotocols if conn.request else (),
                                     extensions=conn.request.extensions if conn.request else ())
            for name, params in parse_extension_offer(resp.get("Sec-WebSocket-Extensions") or ""):
                if name == EXTENSION_NAME:
                    deflate_server = PerMessageDeflate.from_params(params, is_server=True)
                    deflate_client = PerMessageDeflate.from_params(params, is_server=False)
            ok = True
        except WSLabError as exc:
            rec.error = str(exc)
            ok = hs.status_of(head) == 101
        self._add(rec)
        if ok:
            # client frames are inflated as the server would, server frames as the client would
            conn.c2s.start_frames(deflate_server)
            conn.s2c.start_frames(deflate_client)
            pending = bytes(conn.c2s.head)
            conn.c2s.head.clear()
            if pending:
                conn.c2s.feed(pending, t_ns)

    def _add(self, rec: TapRecord) -> None:
        self.records.append(rec)
        self.records_bytes += _kept(rec)
        drop = len(self.records) - self.max_records
        if drop > 0 or self.records_bytes > RECORDS_BYTES_MAX:
            drop = max(drop, 0)
            freed = sum(_kept(r) for r in self.records[:drop])
            while self.records_bytes - freed > RECORDS_BYTES_MAX and drop < len(self.records) - 1:
                freed += _kept(self.records[drop])
                drop += 1
            del self.records[:drop]
            self.records_bytes -= freed
            self.dropped_records += drop

    # --- views ------------------------------------------------------------------------
    @property
    def frames(self) -> list[TapRecord]:
        return [r for r in self.records if r.kind == "frame"]

    def handshakes(self) -> list[TapRecord]:
        return [r for r in self.records if r.kind == "handshake"]

    def table(self, *, limit: int = 200) -> TapTable:
        """A DevTools-like table of the last ``limit`` records (renders in a notebook)."""
        return TapTable(self.records[-limit:])

    def to_pcap(self, path: str) -> int:
        """Write the relayed traffic as a pcap file (Wireshark's WebSocket dissector reads it).

        Returns the number of packets written.  Traffic beyond 64 MiB is not kept.
        """
        return write_pcap(path, list(self.segments), dict(self._flows), list(self._closed))

    def clear(self) -> None:
        self.records.clear()
        self.records_bytes = 0
        self.segments.clear()
        self.raw_bytes = 0

    # --- stop ----------------------------------------------------------------------------
    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conn in list(self._conns.values()):
            for w in conn.writers:
                w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """Stop listening and cut every relayed connection.  Safe to call twice."""
        if self._server is not None or self._tasks:
            lab.run(self._astop(), timeout=timeout, what="stopping the tap")
        lab.unregister(self)

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Tap {self.url} -> {self.target_url} records={len(self.records)}>"


class TapTable(list):
    """Tap records as a DevTools-like table: text here; in a notebook wslab.ui.views draws
    it as HTML."""

    COLUMNS = ("ms", "conn", "dir", "FIN", "RSV", "opcode", "mask key", "len", "wire", "data")

    def row(self, r: TapRecord, t0: int) -> tuple[str, ...]:
        arrow = {C2S: "↑", S2C: "↓"}.get(r.direction, "")
        bits = (r.rsv1, r.rsv2, r.rsv3)
        rsv = "".join("1" if b else "0" for b in bits) if r.kind == "frame" else ""
        data = r.summary()
        if r.compressed and r.inflated_size is not None:
            data += f"  (inflated {r.inflated_size} B from {r.length} B)"
        if r.error and r.kind != "invalid":
            data += f"  ! {r.error}"
        return (f"{(r.t_ns - t0) / 1e6:.3f}", str(r.conn), arrow,
                "" if r.fin is None else str(int(r.fin)), rsv,
                r.opcode or r.kind, r.mask_key.hex() if r.mask_key else "",
                str(r.length) if r.kind == "frame" else "", str(r.size), data)

    def __str__(self) -> str:
        if not self:
            return "(nothing recorded yet)"
        t0 = self[0].t_ns
        rows = [self.COLUMNS] + [self.row(r, t0) for r in self]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS) - 1)]
        out = []
        for row in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True))
                       + "  " + row[-1])
        return "\n".join(out)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))
