"""The benchmark's configuration and records (layer 3, labs): what a run measured.

:class:`BenchConfig` holds the counts and time bounds of one run;
:class:`EchoRecord`, :class:`ThroughputRecord`, :class:`BroadcastRecord` and
:class:`MemoryRecord` are the figures, one per peer; :class:`BenchResults`
gathers them with the machine they ran on, formats the peers table and writes
``peers.json``.  No I/O besides :meth:`BenchResults.save`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BASELINE", "BIG", "NODE", "PEERS", "SMALL", "BenchConfig", "BenchResults",
           "BroadcastRecord", "EchoRecord", "MemoryRecord", "Say", "ThroughputRecord",
           "format_value"]

PEERS = ("wslab", "wslab-process", "tornado", "websockets", "node-ws")
BASELINE = "tornado"
NODE = "node-ws"
SMALL, BIG = 32, 64 * 1024

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

    @classmethod
    def quick(cls) -> BenchConfig:
        """Small counts for CI and notebooks (well under a minute with five peers)."""
        return cls(rounds=4, echo_n=500, echo_big_n=60, warmup=30, pipeline_n=5000,
                   paced_n=2000, broadcast_clients=(200,), broadcast_reps=30,
                   memory_connections=200, step_timeout=20.0, metric_budget=12.0)

    @classmethod
    def full(cls) -> BenchConfig:
        """The default of ``python -m wslab bench`` (a few minutes)."""
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

    # --- summary -----------------------------------------------------------
    def rows(self) -> list[tuple[str, dict[str, float | None], bool]]:
        """(label, value per peer, higher_is_better) for the table and the JSON summary."""
        out: list[tuple[str, dict[str, float | None], bool]] = []

        def row(label: str, fn: Callable[[str], float | None], higher: bool = False) -> None:
            values = {p: fn(p) for p in self.peers}
            if any(v is not None for v in values.values()):
                out.append((label, values, higher))

        def get(rec: Any, attr: str) -> float | None:
            return None if rec is None else getattr(rec, attr)

        for size, name in ((SMALL, "32 B"), (BIG, "64 KiB")):
            row(f"echo {name} p50 (us)", lambda p, s=size: get(self.echo_of(p, s), "p50_us"))
            row(f"echo {name} p99 (us)", lambda p, s=size: get(self.echo_of(p, s), "p99_us"))
        row("pipelined (msg/s)", lambda p: get(self.throughput_of(p), "msgs_per_s"), True)
        rate = self.config.get("paced_rate")
        row(f"paced {rate}/s p50 (us)", lambda p: get(self.throughput_of(p), "paced_p50_us"))
        row(f"paced {rate}/s p99 (us)", lambda p: get(self.throughput_of(p), "paced_p99_us"))
        for n in sorted({r.clients for r in self.broadcast}):
            row(f"broadcast {n} p50 (ms)", lambda p, n=n: get(self.broadcast_of(p, n), "p50_ms"))
            row(f"broadcast {n} p99 (ms)", lambda p, n=n: get(self.broadcast_of(p, n), "p99_ms"))
        row("memory (KiB/conn)", lambda p: get(self.memory_of(p), "kib_per_connection"))
        return out

    def targets(self) -> list[dict[str, Any]]:
        """The issue's targets with the measured ratios (reported, never asserted)."""
        out: list[dict[str, Any]] = []

        def ratio(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b not in (None, 0) else None

        def add(what: str, value: float | None, limit: float) -> None:
            out.append({"target": what, "ratio": value, "limit": limit,
                        "met": None if value is None else value <= limit})

        base = self.echo_of(BASELINE)
        for peer in ("wslab", "wslab-process"):
            rec = self.echo_of(peer)
            add(f"{peer} server echo p50 / bare tornado",
                ratio(rec and rec.p50_us, base and base.p50_us), 1.05)
        tc = self.echo_of(BASELINE, client="tornado")
        add("wslab client / tornado client (echo p50, bare tornado server)",
            ratio(base and base.p50_us, tc and tc.p50_us), 1.2)
        node = self.broadcast_of(NODE, 200)
        for peer in ("wslab", "wslab-process"):
            rec = self.broadcast_of(peer, 200)
            add(f"{peer} broadcast p99 to 200 clients / node ws",
                ratio(rec and rec.p99_ms, node and node.p99_ms), 1.5)
        return out

    def table(self) -> str:
        """The peers table with ratios to bare Tornado and to Node ws."""
        peers = self.peers
        w = max([12, *(len(p) + 2 for p in peers)])
        lines = [f"{'metric':<24}" + "".join(f"{p:>{w}}" for p in peers)]
        for label, values, higher in self.rows():
            lines.append(f"{label:<24}" + "".join(f"{format_value(values[p]):>{w}}" for p in peers))
            for ref in (BASELINE, NODE):
                r = values.get(ref)
                if ref in peers and r:
                    lines.append(f"{'  x ' + ref + (' (higher=better)' if higher else ''):<24}"
                                 + "".join(f"{_fmt_ratio(values[p], r):>{w}}" for p in peers))
        tc = self.echo_of(BASELINE, client="tornado")
        wc = self.echo_of(BASELINE)
        if tc and wc:
            lines.append(f"clients vs bare tornado, echo 32 B p50: wslab client {wc.p50_us:.1f} us,"
                         f" tornado client {tc.p50_us:.1f} us (x{wc.p50_us / tc.p50_us:.2f})")
        for t in self.targets():
            verdict = "n/a" if t["ratio"] is None else ("met" if t["met"] else "MISSED")
            value = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
            lines.append(f"target {t['target']}: {value} (<= {t['limit']}) {verdict}")
        for peer, why in self.skipped.items():
            lines.append(f"skipped {peer}: {why}")
        lines.append(f"cores: {self.cpu_count}; python {self.python}; {self.platform}; "
                     f"{self.seconds:.0f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["summary"] = {label: values for label, values, _ in self.rows()}
        d["targets"] = self.targets()
        return d

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``peers.json`` into ``out_dir``; returns its path (the PNG is drawn by
        :func:`wslab.ui.bench_plots.save_report`, in the presentation layer)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / "peers.json"
        js.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return js


def format_value(v: float | None) -> str:
    """A figure as the peers table shows it: '-' when missing, 3 significant digits or so."""
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _fmt_ratio(v: float | None, ref: float) -> str:
    return "-" if v is None else f"{v / ref:.2f}"

