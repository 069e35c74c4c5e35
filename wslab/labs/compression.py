"""What permessage-deflate (RFC 7692) does to real traffic (layer 3, labs).

:func:`compression_experiment` sends the same payloads to a wslab echo server
twice over: once with compression off on both sides and once with it on
(``serve(compression=True)`` + ``connect(compression=True)``).  A
:class:`~wslab.net.tap.Tap` in front of the server counts the bytes each
message really takes on the wire, frame headers (and the client's mask key)
included; a second, direct connection times the echo round trips, so that the
tap's own decoding (it inflates every compressed message to show it) is not
part of the figure.

Three kinds of payload show the range:

* ``json``: a realistic JSON array of records (ids, names, cities, numbers,
  booleans, short comments), sent as a text message: compresses well;
* ``repetitive``: one English sentence over and over (text): compresses to
  almost nothing;
* ``random``: random bytes (binary): incompressible, the compressed form is
  a few bytes *larger*.

Every payload is deterministic for a given ``seed`` (``random.Random(seed)``,
the same on every OS).  Each (kind, size) gets fresh connections, so the first
message of a round is "cold": with context takeover (the default, RFC 7692
7.1.1) a *repeated* message is far cheaper, since the compressor refers back to
the copy it sent before; the records keep both figures.

:func:`negotiation_demo` shows the handshake itself: what Tornado's client and
the ``websockets`` library offer in ``Sec-WebSocket-Extensions`` and what the
wslab server answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..net import loop as lab
from ..net.client import Client, connect
from ..net.server import LabServer, serve
from ..net.tap import C2S, S2C, Tap, TapRecord

T = TypeVar("T")

__all__ = ["KINDS", "CompressionRecord", "Negotiation", "compression_experiment",
           "make_payload", "negotiation_demo"]

KINDS = ("json", "repetitive", "random")
DEFAULT_SIZES = (100, 1_000, 10_000, 100_000, 1_048_576)
MIN_SIZE = 2                   # "[]", the shortest JSON array
MAX_SIZE = 8 * 1024 * 1024     # below Tornado's default max_message_size (10 MiB)
MAX_ROUNDS = 1000
SENTENCE = "The quick brown fox jumps over the lazy dog. "
DATA_OPCODES = ("TEXT", "BINARY", "CONTINUATION")

_WORDS = ("build", "deploy", "latency", "socket", "frame", "server", "client", "retry", "cache",
          "queue", "window", "buffer", "review", "merge", "ticket", "metric", "alert", "shard",
          "index", "token", "session", "upgrade", "ping", "pong", "close", "handshake", "route",
          "payload", "quota", "backoff", "stream", "replica")
_NAMES = ("ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "alan",
          "katherine", "edsger", "radia", "tim", "sophie", "guido", "hedy")
_CITIES = ("Lisbon", "Nairobi", "Osaka", "Montréal", "Reykjavík", "Lima", "Tallinn", "Perth",
           "Dakar", "Kraków", "Hanoi", "Quito", "Tromsø", "Accra", "Seville", "Busan")
_STATUSES = ("active", "idle", "away", "offline")
_names = itertools.count(1)


@dataclass(frozen=True, slots=True)
class CompressionRecord:
    """One (kind, size, compression on/off) cell of :func:`compression_experiment`.

    ``wire_bytes_up`` / ``wire_bytes_down``: bytes on the wire for the first
    message of a fresh connection, client -> server (masked, so 4 bytes of mask
    key included) and server -> client, summed over its frames, headers
    included.  ``ratio`` = mean of the two / payload size (1.0 = no gain;
    below 1 = smaller on the wire).  ``rtt_median_s``: median echo round trip
    (send -> echo received) over ``rounds`` messages on a direct connection.
    ``wire_bytes_*_repeat``: median for the same message sent again on the same
    connection (context takeover makes it cheaper); None when ``rounds`` is 1.
    ``measured_at``: when the measurement began (a prediction must come before it).
    """

    kind: str
    size: int
    compressed: bool
    wire_bytes_up: int
    wire_bytes_down: int
    ratio: float
    rtt_median_s: float
    wire_bytes_up_repeat: int | None = None
    wire_bytes_down_repeat: int | None = None
    rounds: int = 1
    measured_at: float = 0.0  # time.monotonic() when this cell's first message was sent

    def __str__(self) -> str:
        state = "on " if self.compressed else "off"
        return (f"{self.kind:<10} {self.size:>9,} B  deflate {state}  wire ↑{self.wire_bytes_up:,}"
                f" ↓{self.wire_bytes_down:,} B  ratio {self.ratio:.3f}  "
                f"rtt {self.rtt_median_s * 1e3:.3f} ms")


# --- payloads (pure, deterministic) ---------------------------------------------------


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _json_record(rng: random.Random, i: int) -> str:
    user = rng.choice(_NAMES)
    record = {
        "id": i,
        "user": f"{user}_{rng.randrange(1, 1000)}",
        "city": rng.choice(_CITIES),
        "status": rng.choice(_STATUSES),
        "score": round(rng.uniform(0, 100), 2),
        "temperature_c": round(rng.gauss(15, 8), 1),
        "active": rng.random() < 0.7,
        "logins": rng.randrange(0, 5000),
        "tags": [rng.choice(_WORDS) for _ in range(rng.randrange(0, 4))],
        "comment": _words(rng, rng.randrange(2, 9)),
    }
    return json.dumps(record, ensure_ascii=False)


def _json_payload(size: int, rng: random.Random) -> str:
    """A JSON array of records whose UTF-8 encoding is exactly ``size`` bytes.

    Records are added while they fit; the gap left is filled by one last
    ``{"note": "..."}`` record of words, or by whitespace (valid between JSON
    tokens) when even that does not fit.
    """
    parts: list[str] = []
    used = 2  # "[" and "]"
    i = 0
    while True:
        rec = _json_record(rng, i)
        extra = len(rec.encode("utf-8")) + (2 if parts else 0)
        if used + extra > size:
            break
        parts.append(rec)
        used += extra
        i += 1
    gap = size - used
    sep = ", " if parts else ""
    frame = len(sep) + len('{"note": ""}')
    if gap >= frame + 1:
        note = _words(rng, gap // 4 + 2)[:gap - frame]
        note = note + "x" * (gap - frame - len(note))
        parts.append(f'{{"note": "{note}"}}')
        gap = 0
    return "[" + ", ".join(parts) + " " * gap + "]"


def make_payload(kind: str, size: int, *, seed: int = 0) -> str | bytes:
    """The deterministic payload of ``kind`` and exactly ``size`` bytes.

    ``json`` and ``repetitive`` are ``str`` (sent as text messages; every
    character is one UTF-8 byte except the few accented city names, which the
    size already counts), ``random`` is ``bytes`` (a binary message).
    """
    _check_kinds([kind])
    _check_sizes([size])
    if kind == "json":
        text = _json_payload(size, random.Random(seed))
        if len(text.encode("utf-8")) != size:  # pragma: no cover - guarded by construction
            raise AssertionError("json payload has the wrong size")
        return text
    if kind == "repetitive":
        return (SENTENCE * (size // len(SENTENCE) + 1))[:size]
    return random.Random(seed).randbytes(size)


def _payload_bytes(payload: str | bytes) -> int:
    return len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)


# --- validation ---------------------------------------------------------------------------


def _check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        raise ValueError(f"kinds is a sequence of kinds, e.g. ('json',), not the string {kinds!r}")
    out = tuple(kinds)
    if not out:
        raise ValueError(f"kinds is a non-empty sequence from {KINDS}")
    for k in out:
        if k not in KINDS:
            raise ValueError(f"unknown payload kind {k!r}; allowed kinds: {', '.join(KINDS)}")
    if len(set(out)) != len(out):
        raise ValueError(f"kinds lists a kind twice: {out}")
    return out


def _check_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sizes)
    if not out:
        raise ValueError(f"sizes is a non-empty sequence of byte counts {MIN_SIZE}..{MAX_SIZE:,}")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int) or not MIN_SIZE <= s <= MAX_SIZE:
            raise ValueError(f"each size is an integer number of bytes {MIN_SIZE}..{MAX_SIZE:,} "
                             f"(8 MiB), got {s!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"sizes lists a size twice: {out}")
    return out


def _check_rounds(rounds: int) -> int:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds is an integer 1..{MAX_ROUNDS}, got {rounds!r}")
    return rounds


# --- measuring (on the lab loop) -----------------------------------------------------------


def _check_echo(reply: str | bytes, payload: str | bytes) -> None:
    if reply != payload:
        raise RuntimeError(f"the echo server answered {type(reply).__name__} of "
                           f"{_payload_bytes(reply)} bytes to {_payload_bytes(payload)} bytes: "
                           "not an echo")


def _wire(records: Iterable[TapRecord]) -> tuple[int, int]:
    up = down = 0
    for r in records:
        if r.kind == "frame" and r.opcode in DATA_OPCODES:
            if r.direction == C2S:
                up += r.size
            elif r.direction == S2C:
                down += r.size
    return up, down


async def _atapped(client: Client, tap: Tap, payload: str | bytes, rounds: int,
                   timeout: float) -> list[tuple[int, int]]:
    """Bytes on the wire (up, down) of each echo, read from the tap.

    Runs on the lab loop, like the tap: clearing its records here cannot race
    with it.  The tap decodes the bytes it relays before it yields to the loop,
    so once the echo is in the client, the tap has recorded both directions.
    """
    out = []
    for _ in range(rounds):
        tap.clear()
        await asyncio.wait_for(client.asend(payload), timeout)
        reply = await client.arecv(timeout)
        _check_echo(reply, payload)
        out.append(_wire(tap.records))
    tap.clear()
    return out


async def _atimed(client: Client, payload: str | bytes, rounds: int, timeout: float
                  ) -> list[float]:
    """Echo round trips (s): perf_counter_ns before the send, after the echo arrives."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        await asyncio.wait_for(client.asend(payload), timeout)
        reply = await client.arecv(timeout)
        t1 = time.perf_counter_ns()
        _check_echo(reply, payload)
        out.append((t1 - t0) / 1e9)
    return out


async def _atap_closed(tap: Tap, conn: int | None, timeout: float) -> None:
    """Wait (at most ``timeout``) for the tap's "closed" record of ``conn`` (None: any).

    The tap has no event to await, so this polls its records; stopping the tap
    while it still relays a closing connection cancels that relay, which
    Python 3.11 reports as a stray traceback on stderr.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(r.kind == "closed" and conn in (None, r.conn) for r in tap.records):
        if loop.time() > deadline:
            return
        await asyncio.sleep(0.002)


def _measure(url: str, coro_fn: Callable[[Client], Awaitable[T]], compressed: bool,
             rounds: int, timeout: float, tap: Tap | None = None) -> T:
    client = connect(url, compression=compressed, timeout=timeout)
    try:
        return lab.run(coro_fn(client), timeout=rounds * 2 * timeout + 5,
                       what="compression experiment")
    finally:
        client.stop(timeout=timeout)
        if tap is not None:  # the tap's records were cleared: this closed record is ours
            lab.run(_atap_closed(tap, None, timeout), timeout=timeout + 5)


def _run_mode(compressed: bool, payloads: dict[tuple[str, int], str | bytes], rounds: int,
              timeout: float) -> list[CompressionRecord]:
    server: LabServer | None = None
    tap: Tap | None = None
    out = []
    try:
        server = serve(name=f"compression-lab-{next(_names)}", compression=compressed,
                       app_heartbeat=False, timeout=timeout)
        tap = Tap(server.url, timeout=timeout)
        for (kind, size), payload in payloads.items():
            began = time.monotonic()
            wire = _measure(tap.url, lambda c, p=payload: _atapped(c, tap, p, rounds, timeout),
                            compressed, rounds, timeout, tap)
            rtts = _measure(server.url, lambda c, p=payload: _atimed(c, p, rounds, timeout),
                            compressed, rounds, timeout)
            up, down = wire[0]
            rest = wire[1:]
            out.append(CompressionRecord(
                kind=kind, size=size, compressed=compressed, wire_bytes_up=up,
                wire_bytes_down=down, ratio=(up + down) / (2 * size),
                rtt_median_s=statistics.median(rtts),
                wire_bytes_up_repeat=round(statistics.median(u for u, _ in rest)) if rest else None,
                wire_bytes_down_repeat=(round(statistics.median(d for _, d in rest))
                                        if rest else None),
                rounds=rounds, measured_at=began))
    finally:
        if tap is not None:
            tap.stop()
        if server is not None:
            server.stop()
    return out


def compression_experiment(*, sizes: Iterable[int] = DEFAULT_SIZES,
                           kinds: Iterable[str] = KINDS, rounds: int = 5, seed: int = 0,
                           timeout: float = 10.0) -> list[CompressionRecord]:
    """Bytes on the wire and echo round trips, compression off vs on (RFC 7692).

    For every kind and size (see :func:`make_payload`), sends the payload
    ``rounds`` times through a tap and ``rounds`` times on a direct
    connection, first with compression off on both sides, then on.  Returns one
    :class:`CompressionRecord` per (kind, size, off/on), off first.  Each
    message waits at most ``timeout`` seconds.  Every server, tap and client it
    starts is stopped before it returns, also when it raises.
    """
    kinds = _check_kinds(kinds)
    sizes = _check_sizes(sizes)
    rounds = _check_rounds(rounds)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed is an integer, got {seed!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout is a number of seconds > 0, got {timeout!r}")
    if lab.in_lab_thread():
        raise RuntimeError("compression_experiment() blocks; call it from a cell, not from "
                           "a handler running on the lab loop")
    payloads = {(k, s): make_payload(k, s, seed=seed) for k in kinds for s in sizes}
    return [rec for compressed in (False, True)
            for rec in _run_mode(compressed, payloads, rounds, timeout)]


# --- the negotiation, as a tap sees it --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Negotiation:
    """One opening handshake's ``Sec-WebSocket-Extensions``, as the tap saw it.

    ``offered``: the client's request header (None when absent); ``accepted``:
    the server's 101 answer (None = declined, no compression);
    ``data_frames_rsv1``: whether the data frames that followed had RSV1 set
    (RFC 7692 section 6: the mark of a compressed message); ``echoed``: the
    echo came back intact.
    """

    client: str
    offered: str | None
    accepted: str | None
    data_frames_rsv1: bool
    echoed: bool


def _header(head: bytes, name: str) -> str | None:
    """A header's value from a raw HTTP head (case-insensitive; repeats joined)."""
    values = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            values.append(value.strip())
    return ", ".join(values) if values else None


def _last_conn(records: list[TapRecord]) -> int | None:
    heads = [r.conn for r in records if r.kind == "handshake"]
    return heads[-1] if heads else None


def _negotiation(client: str, records: list[TapRecord], echoed: bool) -> Negotiation:
    conn = _last_conn(records)
    mine = [r for r in records if r.conn == conn]
    offered = accepted = None
    for r in mine:
        if r.kind == "handshake" and r.direction == C2S:
            offered = _header(r.raw_head, "Sec-WebSocket-Extensions")
        elif r.kind == "handshake" and r.direction == S2C:
            accepted = _header(r.raw_head, "Sec-WebSocket-Extensions")
    data = [r for r in mine if r.kind == "frame" and r.opcode in ("TEXT", "BINARY")]
    return Negotiation(client, offered, accepted, bool(data) and all(r.rsv1 for r in data), echoed)


def _tornado_negotiation(tap: Tap, message: str, timeout: float) -> Negotiation:
    start = len(tap.records)
    client = connect(tap.url, compression=True, timeout=timeout)
    try:
        client.send(message, timeout=timeout)
        echoed = client.recv(timeout) == message
    finally:
        client.stop(timeout=timeout)
    records = list(tap.records)[start:]
    lab.run(_atap_closed(tap, _last_conn(records), timeout), timeout=timeout + 5)
    return _negotiation("tornado", records, echoed)


def _websockets_negotiation(tap: Tap, message: str, timeout: float) -> Negotiation | None:
    try:
        from websockets.sync.client import connect as ws_connect
    except ImportError:  # a test-only dependency
        return None
    start = len(tap.records)
    with ws_connect(tap.url, compression="deflate", open_timeout=timeout,
                    close_timeout=timeout) as ws:
        ws.send(message)
        echoed = ws.recv(timeout=timeout) == message
    records = list(tap.records)[start:]
    lab.run(_atap_closed(tap, _last_conn(records), timeout), timeout=timeout + 5)
    return _negotiation("websockets", records, echoed)


def negotiation_demo(*, timeout: float = 5.0) -> dict[str, Negotiation | None]:
    """Watch permessage-deflate being negotiated (RFC 7692 section 5) through a tap.

    Starts a ``serve(compression=True)`` echo server and a tap, connects
    Tornado's client (``connect(compression=True)``) and then the
    ``websockets`` library's client (``compression="deflate"``), each sending
    one message.  Returns ``{"tornado": Negotiation, "websockets": Negotiation
    or None}`` (None when ``websockets`` is not installed).  Everything started
    is stopped again.
    """
    if lab.in_lab_thread():
        raise RuntimeError("negotiation_demo() blocks; call it from a cell, not the lab loop")
    message = "compress me, " * 40
    server: LabServer | None = None
    tap: Tap | None = None
    try:
        server = serve(name=f"compression-lab-{next(_names)}", compression=True,
                       app_heartbeat=False, timeout=timeout)
        tap = Tap(server.url, timeout=timeout)
        return {"tornado": _tornado_negotiation(tap, message, timeout),
                "websockets": _websockets_negotiation(tap, message, timeout)}
    finally:
        if tap is not None:
            tap.stop()
        if server is not None:
            server.stop()
