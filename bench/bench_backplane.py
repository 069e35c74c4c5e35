"""What the Redis backplane and the nginx hop cost, as ratios against one process, in one run.

Broadcast latency (p50/p99) to N clients in a separate process: all on one server
process, then spread over two processes joined by Redis (the sender's own clients,
and those reached through Redis); then the echo round trip direct and through
nginx, and a Redis round trip.  Everything is measured in this run, on this
machine; ratios are against the one-process figures of the same run.  Writes
bench/results/backplane.json.

    python bench/bench_backplane.py [--clients 1000] [--rounds 20] [--small 20]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform

import wslab
from wslab.labs import scaling
from wslab.labs.stats import percentile

OUT = pathlib.Path(__file__).parent / "results"


def _row(r: scaling.LatencyRecord, base: scaling.LatencyRecord) -> dict:
    row = {"setup": r.label, "clients": r.clients, "rounds": r.rounds,
           "p50_ms": round(r.p50_ms, 3), "p99_ms": round(r.p99_ms, 3),
           "p50_ratio": round(r.p50_ms / base.p50_ms, 2),
           "p99_ratio": round(r.p99_ms / base.p99_ms, 2)}
    if r.remote_ms:
        row["local_p50_ms"] = round(percentile(r.local_ms, 50), 3)
        row["via_redis_p50_ms"] = round(percentile(r.remote_ms, 50), 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--small", type=int, default=20, help="clients of the small run (hop cost)")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    rows = []
    for n in (args.small, args.clients):
        one, two = scaling.broadcast_latency(clients=n, rounds=args.rounds)
        rows += [_row(one, one), _row(two, one)]
    cl = wslab.cluster(1, name="bench-backplane")
    try:
        hops = scaling.hop_costs(cl, n=1000)
    finally:
        cl.stop()
    result = {"machine": platform.platform(), "python": platform.python_version(),
              "broadcast": rows,
              "echo_rtt_direct_ms": round(hops.direct_rtt_ms, 3),
              "echo_rtt_nginx_ms": round(hops.nginx_rtt_ms, 3),
              "nginx_rtt_ratio": round(hops.nginx_rtt_ms / hops.direct_rtt_ms, 2),
              "redis_rtt_ms": round(hops.redis_rtt_ms, 3)}
    for r in rows:
        extra = (f"  local {r['local_p50_ms']:.3f} / via Redis {r['via_redis_p50_ms']:.3f} ms"
                 if "local_p50_ms" in r else "")
        print(f"{r['setup']:<32} {r['clients']:>5} clients  p50 {r['p50_ms']:8.3f} ms "
              f"(x{r['p50_ratio']:.2f})  p99 {r['p99_ms']:8.3f} ms (x{r['p99_ratio']:.2f}){extra}")
    print(f"echo round trip direct {hops.direct_rtt_ms:.3f} ms, through nginx "
          f"{hops.nginx_rtt_ms:.3f} ms (x{result['nginx_rtt_ratio']:.2f}); Redis PING "
          f"{hops.redis_rtt_ms:.3f} ms")
    OUT.mkdir(exist_ok=True)
    (OUT / "backplane.json").write_text(json.dumps(result, indent=2) + "\n")
    wslab.stop_all()


if __name__ == "__main__":
    main()
