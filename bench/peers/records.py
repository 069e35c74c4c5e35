"""The benchmark's configuration and records: what a run measured.

:class:`BenchConfig` holds the counts and time bounds of one run;
:class:`EchoRecord`, :class:`ThroughputRecord`, :class:`BroadcastRecord` and
:class:`MemoryRecord` are the figures, one per peer; :class:`BenchResults`
gathers them with the machine they ran on, formats the peers table and writes
``peers.json``.  No I/O besides :meth:`BenchResults.save`.

Each figure is kept per round too (:meth:`BenchResults.add_round`): the table
gives the MEDIAN of the rounds with its spread, and each ratio the median of
the per-round ratios (peers of one round ran side by side) with its spread; a
ratio whose rounds differ by more than :data:`MOVES` of its median is marked
as moving from run to run.  :meth:`BenchResults.targets` holds the goals of
issue 15, each reported as met or not met with its ratio (never asserted).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BASELINE", "BIG", "MOVES", "NODE", "PEERS", "SMALL", "BenchConfig", "BenchResults",
           "BroadcastRecord", "EchoRecord", "MemoryRecord", "Say", "ThroughputRecord",
           "format_value"]

PEERS = ("wslab", "wslab-process", "tornado", "websockets", "node-ws")
BASELINE = "tornado"
NODE = "node-ws"
SMALL, BIG = 32, 64 * 1024
MOVES = 0.15  # a ratio whose rounds span more than this fraction of its median "moves"
CLIENT_LABEL = "echo 32 B p50, tornado client (us)"

Say = Callable[[str], None]


# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    """Counts and time bounds of one run.  :meth:`quick` and :meth:`full` are the presets."""

    rounds: int = 6                 # interleaved rounds per metric (A B C D) x rounds
    echo_n: int = 3000              # 32 B round trips per peer per round
    echo_big_n: int = 400           # 64 KiB round trips per peer per round
    warmup: int = 50                # unmeasured round trips before each peer's first round
    pipeline_n: int = 30_000        # messages per saturating pipelined run
    window: int = 100               # messages outstanding at most
    paced_n: int = 6000             # messages per paced run
    paced_rate: int = 5000          # messages/s of the paced schedule (same for every peer)
    broadcast_clients: tuple[int, ...] = (200, 500, 1000)
    broadcast_reps: int = 200       # measured broadcasts per peer and client count
    memory_connections: int = 1000  # idle connections for the memory figure (0 = skip)
    step_timeout: float = 60.0      # s, any single step (one peer, one round)
    metric_budget: float = 90.0     # s, a metric starts no new round after this
    profile_echoes: int = 20_000    # pipelined echoes profiled for calls per echo (0 = skip)
    handshakes_n: int = 1000        # opening handshakes per peer per round (0 = skip)
    handshake_workers: int = 8      # handshakes in flight at once
    mixed_clients: int = 1000       # mixed load: idle chat clients getting the broadcasts
    mixed_every: float = 0.1        # s between broadcasts during the mixed load
    mixed_n: int = 3000             # chatty echoes (paced) per peer per mixed round (0 = skip)
    mixed_rate: int = 1000          # their schedule, messages/s
    mixed_rounds: int = 2           # mixed-load rounds (each connects mixed_clients anew)

    @classmethod
    def quick(cls) -> BenchConfig:
        """Small counts for CI and notebooks (well under a minute with five peers)."""
        return cls(rounds=4, echo_n=500, echo_big_n=60, warmup=30, pipeline_n=5000,
                   paced_n=2000, broadcast_clients=(200,), broadcast_reps=30,
                   memory_connections=200, step_timeout=20.0, metric_budget=12.0,
                   profile_echoes=3000, handshakes_n=200, mixed_clients=200, mixed_n=500,
                   mixed_rounds=1)

    @classmethod
    def full(cls) -> BenchConfig:
        """The default of ``python -m bench.peers`` (a few minutes)."""
        return cls()


@dataclass(frozen=True)
class EchoRecord:
    """Sequential echo round trips of one client against one server (microseconds)."""

    peer: str
    client: str
    size: int
    n: int
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True)
class ThroughputRecord:
    """Pipelined echo: saturating messages/s, and latency on a paced schedule (us)."""

    peer: str
    size: int
    window: int
    sent: int
    received: int
    out_of_order: int
    msgs_per_s: float
    paced_rate: int
    paced_sent: int
    paced_received: int
    paced_p50_us: float | None
    paced_p99_us: float | None


@dataclass(frozen=True)
class BroadcastRecord:
    """Fan-out to ``clients`` chat clients: trigger written -> last receipt (milliseconds)."""

    peer: str
    clients: int
    reps: int
    complete: int      # reps in which every client received the message
    received: int      # receipts counted over all reps
    expected: int      # clients * reps
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    trigger: str = "call"  # "call": the server's own broadcast call; "relay": a /chat message


@dataclass(frozen=True)
class MemoryRecord:
    """Server RSS growth with ``connections`` idle clients held by a child process."""

    peer: str
    pid: int
    connections: int
    rss_before_kib: int
    rss_after_kib: int
    kib_per_connection: float


@dataclass
class BenchResults:
    """Everything one run measured, plus the machine it ran on."""

    cpu_count: int | None
    python: str
    platform: str
    config: dict[str, Any]
    peers: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    echo: list[EchoRecord] = field(default_factory=list)
    throughput: list[ThroughputRecord] = field(default_factory=list)
    broadcast: list[BroadcastRecord] = field(default_factory=list)
    memory: list[MemoryRecord] = field(default_factory=list)
    child_pids: list[int] = field(default_factory=list)  # all stopped when the run ends
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # label -> peer -> the figure in each round (None where a round has none)
    rounds: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    calls_per_echo: dict[str, Any] | None = None  # cProfile of the in-kernel server, if run

    # --- lookups -----------------------------------------------------------
    def echo_of(self, peer: str, size: int = SMALL, client: str = "wslab") -> EchoRecord | None:
        return next((r for r in self.echo
                     if r.peer == peer and r.size == size and r.client == client), None)

    def throughput_of(self, peer: str) -> ThroughputRecord | None:
        return next((r for r in self.throughput if r.peer == peer), None)

    def broadcast_of(self, peer: str, clients: int) -> BroadcastRecord | None:
        return next((r for r in self.broadcast if r.peer == peer and r.clients == clients), None)

    def memory_of(self, peer: str) -> MemoryRecord | None:
        return next((r for r in self.memory if r.peer == peer), None)

    # --- rounds --------------------------------------------------------------
    def add_round(self, label: str, peer: str, r: int, value: float) -> None:
        """Record ``peer``'s figure ``label`` in round ``r``."""
        vals = self.rounds.setdefault(label, {}).setdefault(peer, [])
        vals.extend([None] * (r + 1 - len(vals)))
        vals[r] = value

    def _values(self, label: str, peer: str) -> list[float]:
        return [v for v in self.rounds.get(label, {}).get(peer, []) if v is not None]

    def median(self, label: str, peer: str) -> float | None:
        """The median of ``peer``'s per-round figures ``label`` (None if none)."""
        return _median(self._values(label, peer))

    def spread(self, label: str, peer: str) -> tuple[float, float] | None:
        """(lowest, highest) per-round figure."""
        v = self._values(label, peer)
        return (min(v), max(v)) if v else None

    def value_cell(self, label: str, peer: str, v: float | None) -> str:
        """A figure with ±half its spread over the rounds, in % ('12.3 ±4%')."""
        sp = self.spread(label, peer)
        pm = "" if v is None or sp is None or sp[0] == sp[1] or not v \
            else f" ±{(sp[1] - sp[0]) / 2 / v * 100:.0f}%"
        return format_value(v) + pm

    def ratio(self, label: str, peer: str, ref: str) -> tuple[float, float, float] | None:
        """(median, lowest, highest) of ``peer / ref`` computed round by round."""
        a = self.rounds.get(label, {}).get(peer, [])
        b = self.rounds.get(label, {}).get(ref, [])
        rs = [x / y for x, y in zip(a, b, strict=False) if x is not None and y]
        if not rs:
            return None
        return _median(rs) or 0.0, min(rs), max(rs)

    # --- summary -----------------------------------------------------------
    def rows(self) -> list[tuple[str, dict[str, float | None], bool]]:
        """(label, median per peer, higher_is_better) for the table and the JSON summary."""
        out: list[tuple[str, dict[str, float | None], bool]] = []
        for label in self.rounds:
            if "tornado client" in label:
                continue
            values = {p: self.median(label, p) for p in self.peers}
            if any(v is not None for v in values.values()):
                out.append((label, values, label.startswith(("pipelined", "handshakes"))))
        return out

    def targets(self) -> list[dict[str, Any]]:
        """The goals of issue 26 (and the earlier ones of issue 15) with the measured
        ratios, each met or not met (reported, never asserted).  ``every``: the goal holds
        in every round (its worst round decides), not only in the median."""
        out: list[dict[str, Any]] = []

        def verdict(what: str, r: tuple[float, float, float] | None, limit: float,
                    higher: bool, every: bool, issue: int) -> None:
            out.append(goal(what, r, limit, higher=higher, every=every, issue=issue))

        def add(what: str, label: str, peer: str, ref: str, limit: float,
                higher: bool = False, every: bool = False, issue: int = 26) -> None:
            verdict(what, self.ratio(label, peer, ref), limit, higher, every, issue)

        ours = [p for p in ("wslab", "wslab-process") if p in self.peers]
        if NODE in self.peers:
            for peer in ours:
                add(f"{peer} pipelined msg/s / node ws", "pipelined (msg/s)", peer, NODE, 1.2,
                    higher=True)
            for n in sorted({r.clients for r in self.broadcast} & {200, 1000}):
                for peer in ours:
                    add(f"{peer} broadcast p99 to {n} clients / node ws, every round",
                        f"broadcast {n} p99 (ms)", peer, NODE, 0.8, every=True)
        if BASELINE in self.peers:
            for peer in ours:
                add(f"{peer} handshakes/s / bare tornado", "handshakes (per s)", peer,
                    BASELINE, 1.0, higher=True)
        label = self.mixed_label()
        if label is not None and "wslab" in self.peers:
            v = self._values(label, "wslab")
            verdict(f"wslab {label} (ms, not a ratio)",
                    (_median(v) or 0.0, min(v), max(v)) if v else None, 5.0, False, False, 26)
        if BASELINE in self.peers:
            for peer in ours:
                add(f"{peer} memory per idle connection / bare tornado (plain process)",
                    "memory (KiB/conn)", peer, BASELINE, 1.0)
        out += self._issue15_goals(ours)
        return out

    def _issue15_goals(self, ours: list[str]) -> list[dict[str, Any]]:
        """The goals of issue 15, still reported."""
        out: list[dict[str, Any]] = []

        def add(what: str, label: str, peer: str, ref: str, limit: float,
                higher: bool = False) -> None:
            out.append(goal(what, self.ratio(label, peer, ref), limit, higher=higher,
                            every=False, issue=15))

        for peer in ours:
            add(f"{peer} server echo p50 / bare tornado", "echo 32 B p50 (us)", peer,
                BASELINE, 1.05)
        tc = self.rounds.get(CLIENT_LABEL, {})
        if BASELINE in tc:
            rs = [x / y for x, y in zip(self.rounds["echo 32 B p50 (us)"].get(BASELINE, []),
                                        tc[BASELINE], strict=False) if x is not None and y]
            out.append(goal("wslab client / tornado client (echo p50, bare tornado server)",
                            (_median(rs) or 0.0, min(rs), max(rs)) if rs else None, 1.2,
                            higher=False, every=False, issue=15))
        if "websockets" in self.peers:
            for peer in ours:
                add(f"{peer} pipelined msg/s / websockets", "pipelined (msg/s)", peer,
                    "websockets", 1.0, higher=True)
        return out

    def mixed_label(self) -> str | None:
        """The row of the mixed load's chatty p99, if this run has one."""
        return next((k for k in self.rounds if k.startswith("mixed: chatty")), None)

    def moving(self) -> list[str]:
        """Per row, the peers whose ratio to bare Tornado moved more than MOVES between
        rounds, with the range of that ratio ("all" when every peer's did)."""
        out = []
        for label, _, _ in self.rows():
            moved, others = [], 0
            for p in self.peers:
                if p == BASELINE:
                    continue
                others += 1
                r = self.ratio(label, p, BASELINE)
                if r is not None and moved_mark(r):
                    moved.append(f"{p} {r[1]:.2f}-{r[2]:.2f}")
            if moved:
                out.append(f"{label} ({'all: ' if len(moved) == others else ''}"
                           f"{', '.join(moved)})")
        return out

    def table(self) -> str:
        """The peers table: medians of the rounds (+-half their spread, in %), ratios to
        bare Tornado and to Node ws (medians of per-round ratios; '~' marks one that moved
        more than MOVES between rounds), the goals, the machine."""
        peers = self.peers
        w = max([15, *(len(p) + 2 for p in peers)])
        lines = [f"{'metric':<26}" + "".join(f"{p:>{w}}" for p in peers)]
        for label, values, higher in self.rows():
            cells = []
            for p in peers:
                cells.append(f"{self.value_cell(label, p, values[p]):>{w}}")
            lines.append(f"{label:<26}" + "".join(cells))
            for ref in (BASELINE, NODE):
                if ref not in peers or values.get(ref) is None:
                    continue
                cells = []
                for p in peers:
                    r = self.ratio(label, p, ref)
                    cells.append(f"{'-' if r is None else f'{r[0]:.2f}{moved_mark(r)}':>{w}}")
                lines.append(f"{'  x ' + ref + (' (higher=better)' if higher else ''):<26}"
                             + "".join(cells))
        tc, wc = self.median(CLIENT_LABEL, BASELINE), self.median("echo 32 B p50 (us)", BASELINE)
        if tc and wc:
            lines.append(f"clients vs bare tornado, echo 32 B p50: wslab client {wc:.1f} us,"
                         f" tornado client {tc:.1f} us (x{wc / tc:.2f})")
        for t in self.targets():
            verdict = "n/a" if t["ratio"] is None else ("met" if t["met"] else "NOT MET")
            value = "-" if t["ratio"] is None else \
                f"{t['ratio']:.2f} (rounds {t['lo']:.2f}-{t['hi']:.2f})"
            sign = ">=" if t["higher"] else "<="
            lines.append(f"goal (issue {t.get('issue', 26)}) {t['target']}: {value} "
                         f"({sign} {t['limit']}) {verdict}"
                         + (" [moves run to run]" if t["moves"] else ""))
        if self.calls_per_echo:
            c = self.calls_per_echo
            lines.append(f"python calls per echo (cProfile, in-kernel server, {c['echoes']} "
                         f"pipelined echoes): {c['calls_per_echo']:.1f}")
        moving = self.moving()
        rounds = self.config.get("rounds")
        lines.append(f"figures: medians of {rounds} interleaved rounds, ±half their spread; "
                     f"ratios: medians of per-round ratios, '~' = rounds spread over "
                     f"{MOVES:.0%} of the median")
        if moving:
            lines.append("ratios to bare tornado that moved between rounds:")
            lines += [f"  {m}" for m in moving]
        for note in self.notes:
            lines.append(f"note: {note}")
        for peer, why in self.skipped.items():
            lines.append(f"skipped {peer}: {why}")
        lines.append(f"cores: {self.cpu_count}; python {self.python}; {self.platform}; "
                     f"{self.seconds:.0f} s")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The peers table and the goals as Markdown (for the README's "Measured" section):
        medians of the rounds with ±half their spread, then the ratio to bare Tornado."""
        peers = self.peers
        out = ["| metric | " + " | ".join(peers) + " |",
               "|---|" + "---|" * len(peers)]
        for label, values, higher in self.rows():
            cells = []
            for p in peers:
                r = self.ratio(label, p, BASELINE) if p != BASELINE else None
                rt = "" if r is None else f" (x{r[0]:.2f}{moved_mark(r)})"
                cells.append(self.value_cell(label, p, values[p]) + rt)
            out.append(f"| {label}{' (higher is better)' if higher else ''} | "
                       + " | ".join(cells) + " |")
        out += ["", "| goal | ratio (median) | rounds | verdict |", "|---|---|---|---|"]
        for t in self.targets():
            if t["ratio"] is None:
                continue
            sign = ">=" if t["higher"] else "<="
            out.append(f"| {t['target']} {sign} {t['limit']} ({t.get('issue', 26)}) | "
                       f"{t['ratio']:.2f} | {t['lo']:.2f}-{t['hi']:.2f} | "
                       f"{'met' if t['met'] else '**not met**'} |")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = {label: values for label, values, _ in self.rows()}
        d["spread"] = {label: {p: self.spread(label, p) for p in self.peers}
                       for label, _, _ in self.rows()}
        d["targets"] = self.targets()
        d["moving"] = self.moving()
        return d

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchResults:
        """A run saved by :meth:`save` (``peers.json``), to format it again."""
        d = json.loads(Path(path).read_text())
        kinds = {"echo": EchoRecord, "throughput": ThroughputRecord,
                 "broadcast": BroadcastRecord, "memory": MemoryRecord}
        names = {f for f in cls.__dataclass_fields__}
        args = {k: v for k, v in d.items() if k in names}
        for key, rec in kinds.items():
            args[key] = [rec(**r) for r in d.get(key, [])]
        return cls(**args)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``peers.json`` into ``out_dir``; returns its path (the PNG is drawn by
        :func:`bench.peers.report.save_report`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / "peers.json"
        js.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return js


def goal(what: str, r: tuple[float, float, float] | None, limit: float, *, higher: bool,
         every: bool, issue: int) -> dict[str, Any]:
    """One goal's line: ``r`` = (median, lowest, highest) over the rounds; met when the
    median (``every``: the worst round) is on the right side of ``limit``."""
    if r is None:
        met = None
    else:
        worst = (r[1] if higher else r[2]) if every else r[0]
        met = worst >= limit if higher else worst <= limit
    moves = None if r is None or not r[0] else (r[2] - r[1]) / r[0] > MOVES
    return {"target": what, "ratio": None if r is None else r[0],
            "lo": None if r is None else r[1], "hi": None if r is None else r[2],
            "limit": limit, "higher": higher, "met": met, "moves": moves, "every": every,
            "issue": issue}


def moved_mark(r: tuple[float, float, float]) -> str:
    """'~' when a ratio (median, lowest, highest over the rounds) moved more than MOVES."""
    return "~" if r[0] and (r[2] - r[1]) / r[0] > MOVES else ""


def format_value(v: float | None) -> str:
    """A figure as the peers table shows it: '-' when missing, 3 significant digits or so."""
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2

