"""The peers benchmark as a figure, and the report files (peers.json, peers.png)."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from wslab.ui.plots import log_axis

from .records import BIG, SMALL, BenchResults


def peers_figure(res: BenchResults) -> Figure:
    """A 2x2 matplotlib ``Figure`` (no pyplot): echo, throughput, fan-out, memory."""
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    peers = res.peers
    x = list(range(len(peers)))
    for k, (size, name) in enumerate(((SMALL, "32 B"), (BIG, "64 KiB"))):
        vals = [getattr(res.echo_of(p, size), "p50_us", 0) or 0 for p in peers]
        p99 = [getattr(res.echo_of(p, size), "p99_us", 0) or 0 for p in peers]
        pos = [i + (k - 0.5) * 0.38 for i in x]
        a.bar(pos, vals, 0.38, label=f"{name} p50")
        a.scatter(pos, p99, marker="_", s=200, color="black",
                  label="p99" if k else None, zorder=3)
    log_axis(a)
    a.set_xticks(x, peers, rotation=15)
    a.set_ylabel("round trip (us, log scale)")
    a.set_title("Sequential echo round trip (Python client in its own process)")
    a.legend(fontsize=8)
    tp = [getattr(res.throughput_of(p), "msgs_per_s", 0) or 0 for p in peers]
    b.bar(x, [v / 1000 for v in tp], color="tab:green")
    b.set_xticks(x, peers, rotation=15)
    b.set_ylabel("throughput (thousand messages/s)")
    b.set_title(f"Pipelined echo, {res.config.get('window')} outstanding, 32 B")
    for p in peers:
        pts = sorted((r.clients, r.p99_ms) for r in res.broadcast
                     if r.peer == p and r.p99_ms is not None)
        if pts:
            c.plot([q[0] for q in pts], [q[1] for q in pts], marker="o", label=p)
    c.set_xlabel("clients receiving the broadcast")
    c.set_ylabel("broadcast call -> last receipt, p99 (ms)")
    c.set_title("Broadcast fan-out")
    if res.broadcast:
        c.legend(fontsize=8)
    mem = [getattr(res.memory_of(p), "kib_per_connection", 0) or 0 for p in peers]
    d.bar(x, mem, color="tab:purple")
    d.set_xticks(x, peers, rotation=15)
    d.set_ylabel("server RSS growth (KiB per idle connection)")
    d.set_title("Memory per connection")
    fig.suptitle(f"wslab vs peers on loopback ({res.cpu_count} cores)")
    return fig


def save_report(res: BenchResults, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``peers.json`` and ``peers.png`` into ``out_dir``; returns both paths."""
    js = res.save(out_dir)
    png = Path(out_dir) / "peers.png"
    peers_figure(res).savefig(png, dpi=110)
    return js, png
