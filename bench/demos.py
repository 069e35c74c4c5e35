"""Do the notebooks' measured demos show their point every time?

Each demo whose lesson is a measured difference runs ``--runs`` times (10 by default) with
the same arguments its notebook uses; the point is checked on each run's numbers and the
script prints, per demo, how often it showed and the range of the figure behind it.
Start CPU hogs first to try it on a busy machine (the issue asks for that):

    python -c 'while 1: pass' & python -c 'while 1: pass' &
    python bench/demos.py [--runs 10] [--only gil,herd]
    kill %1 %2

Writes bench/results/demos.json.  Loopback only; every demo is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time
from collections.abc import Callable

import wslab
from wslab.labs import latency as lab
from wslab.labs.compression import compression_experiment
from wslab.labs.gil import gil_experiment
from wslab.labs.heartbeat import detection_experiment
from wslab.labs.herd import herd_experiment
from wslab.labs.push_compare import compare_push
from wslab.labs.stats import percentile

OUT = pathlib.Path(__file__).parent / "results"
Demo = Callable[[], tuple[bool, str]]


def push() -> tuple[bool, str]:
    """00: WebSocket costs the fewest bytes per message and beats short polling's latency."""
    res = {r.method: r for r in compare_push(count=40, interval=0.05, poll_interval=0.25)}
    ws = next(r for m, r in res.items() if "websocket" in m.lower())
    short = next(r for m, r in res.items() if "short" in m.lower())
    others = [r.overhead_per_message for r in res.values() if r is not ws]
    shown = ws.overhead_per_message < min(others) and ws.p50_ms < short.p50_ms
    return shown, f"ws {ws.overhead_per_message:.0f} B/msg vs min other {min(others):.0f}"


def mean_vs_median() -> tuple[bool, str]:
    """03: on 2,000 loopback round trips the mean sits above the median (a tail)."""
    server = wslab.serve(name="demos-echo")
    try:
        with wslab.connect(server.url) as c:
            xs = c.measure_rtt(n=2000, size=32)
    finally:
        server.stop()
    mean, med = statistics.mean(xs), statistics.median(xs)
    return mean > med, f"mean/median {mean / med:.2f}"


def detection() -> tuple[bool, str]:
    """05: a blackholed peer is detected within interval + timeout (+10 %), every trial."""
    recs = detection_experiment(trials=5)
    worst = max((r.detection_s or 99) / r.bound_s for r in recs)
    return all(r.within_bound for r in recs), f"worst detection {worst:.2f} of its bound"


def idle_vs_fixed() -> tuple[bool, str]:
    """05: on a busy connection ping_mode='idle' sends no pings, 'fixed' keeps sending."""
    server = wslab.serve(name="demos-ping")
    try:
        fixed = wslab.connect(server.url, ping_interval=0.2, ping_timeout=1, ping_mode="fixed")
        idle = wslab.connect(server.url, ping_interval=0.2, ping_timeout=1, ping_mode="idle")
        for i in range(60):
            for c in (fixed, idle):
                c.send(str(i))
                c.recv(timeout=5)
            time.sleep(0.015)
        f, d = fixed.keepalive.pings_sent, idle.keepalive.pings_sent
        fixed.close()
        idle.close()
    finally:
        server.stop()
    return f > 0 and d == 0, f"fixed {f} pings, idle {d}"


def pong_latency() -> tuple[bool, str]:
    """05: 40 ms added each way shows in the keepalive round trips (>= 80 ms) and goes away."""
    server = wslab.serve(name="demos-pong")
    proxy = wslab.FaultProxy(server.url)
    try:
        c = wslab.connect(proxy.url, ping_interval=0.05, ping_timeout=1)
        time.sleep(0.6)
        before = len(c.keepalive.samples)
        proxy.set("latency", ms=40)
        time.sleep(0.8)
        during = [s.rtt for s in c.keepalive.samples[before + 1:]]
        c.close()
    finally:
        proxy.stop()
        server.stop()
    med = statistics.median(during) * 1e3 if during else 0.0
    return 80 <= med < 200, f"median during the fault {med:.1f} ms"


def herd() -> tuple[bool, str]:
    """06: without jitter the restarted server gets a spike of attempts; with jitter, not."""
    none = herd_experiment(clients=50, jitter="none")
    full = herd_experiment(clients=50, jitter="full")
    a = none.peak(0.05, since=none.restart_after)
    b = full.peak(0.05, since=full.restart_after)
    return a >= 2 * b, f"attempts in the busiest 50 ms: {a} vs {b}"


def incompressible() -> tuple[bool, str]:
    """08: random bytes do not shrink under permessage-deflate (the frame grows a little)."""
    recs = compression_experiment(sizes=(1_000, 100_000), rounds=2)
    rnd = [r for r in recs if r.kind == "random" and r.compressed]
    return all(r.ratio >= 1.0 for r in rnd), "ratios " + ", ".join(f"{r.ratio:.3f}" for r in rnd)


def omission() -> tuple[bool, str]:
    """10: measured from the intended send time, the stall shows at p90; from the actual, not."""
    wslab.serve(name="latency10")
    r = lab.coordinated_omission(n=400, interval=0.002, stall=0.1)
    a, b = percentile(r.naive_s, 90) * 1e3, percentile(r.intended_s, 90) * 1e3
    return b > 10 * a, f"p90 actual {a:.2f} ms, intended {b:.1f} ms"


def tcp_vs_ws() -> tuple[bool, str]:
    """10: a plain TCP echo is faster than a WebSocket echo on the same loop."""
    r = lab.tcp_vs_websocket(n=500)
    tcp, ws = (next(v for k, v in r.items() if word in k.lower()) for word in ("tcp", "websocket"))
    return tcp < ws, f"tcp {tcp:.3f} ms, ws {ws:.3f} ms"


def injected() -> tuple[bool, str]:
    """10: a proxy adding d ms each way gives round trips of at least 2 d, close to it."""
    r = lab.injected_latency(delays_ms=(0, 1, 5, 20), n=20)
    meds = {d: statistics.median(xs) * 1e3 for d, xs in r.items()}
    shown = all(2 * d <= m < 2 * d + 15 for d, m in meds.items())
    return shown, " ".join(f"{d}:{m:.1f}" for d, m in meds.items())


def gil() -> tuple[bool, str]:
    """10: a computing cell slows the in-kernel server at the 5 ms switch interval (>= 3x
    idle); 0.5 ms and the process server at least halve that."""
    recs = gil_experiment(n=150)
    idle, busy5, busy05, _pidle, pbusy = (r.p50_ms for r in recs)
    shown = busy5 >= 3 * idle and busy5 >= 2 * busy05 and busy5 >= 2 * pbusy
    cpus = {r.cpu for r in recs}
    return shown, (f"idle {idle:.2f} / 5 ms {busy5:.2f} / 0.5 ms {busy05:.2f} / process {pbusy:.2f}"
                   f" (kernel threads on CPU {cpus})")


DEMOS: dict[str, Demo] = {
    "push": push, "mean_vs_median": mean_vs_median, "detection": detection,
    "idle_vs_fixed": idle_vs_fixed, "pong_latency": pong_latency, "herd": herd,
    "incompressible": incompressible, "omission": omission, "tcp_vs_ws": tcp_vs_ws,
    "injected": injected, "gil": gil,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated names: " + ", ".join(DEMOS))
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(DEMOS)
    unknown = set(names) - set(DEMOS)
    if unknown:
        raise SystemExit(f"unknown demo(s) {sorted(unknown)}; known: {', '.join(DEMOS)}")
    results: dict[str, list] = {n: [] for n in names}
    try:
        for run in range(1, args.runs + 1):
            for name in names:
                shown, figure = DEMOS[name]()
                results[name].append({"shown": shown, "figure": figure})
                print(f"run {run:>2} {name:<15} {'shown' if shown else 'NOT SHOWN'}  {figure}",
                      flush=True)
    finally:
        wslab.stop_all()
    print()
    for name, runs in results.items():
        k = sum(r["shown"] for r in runs)
        print(f"{name:<15} shown {k}/{len(runs)}  ({DEMOS[name].__doc__.split(':')[0]})")
    OUT.mkdir(exist_ok=True)
    (OUT / "demos.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
