"""Run every wslab benchmark and print all their tables (``make bench``).

1. ``python -m bench.peers`` (full counts): wslab vs bare Tornado, websockets and
   Node ws, interleaved; writes bench/results/peers.json and peers.png;
2. bench/bench_rtt.py, bench/bench_masking.py and bench/bench_tap.py.

Each runs as its own subprocess (a fresh interpreter, no shared lab loop) with
a time limit; a failure is reported and the others still run.

    python bench/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _run(title: str, argv: list[str], limit: float) -> bool:
    print(f"\n=== {title} ===", flush=True)
    t0 = time.monotonic()
    try:
        # stderr (progress bars) goes straight to the terminal; stdout holds the table
        proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        print(out, end="")
        print(f"FAILED: {title} took over {limit:.0f} s", flush=True)
        return False
    print(proc.stdout, end="", flush=True)
    ok = proc.returncode == 0
    print(f"({time.monotonic() - t0:.0f} s{'' if ok else f', FAILED with code {proc.returncode}'})",
          flush=True)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="quick peers run (small counts)")
    args = ap.parse_args()
    py = sys.executable
    peers = [py, "-m", "bench.peers", "--out", str(HERE / "results")]
    if args.quick:
        peers.append("--quick")
    runs = [
        ("peers: wslab vs tornado, websockets, node ws", peers, 600),
        ("echo round trip: wslab server vs bare tornado", [py, str(HERE / "bench_rtt.py")], 300),
        ("masking", [py, str(HERE / "bench_masking.py")], 300),
        ("tap throughput", [py, str(HERE / "bench_tap.py")], 300),
    ]
    failed = [title for title, argv, limit in runs if not _run(title, argv, limit)]
    if failed:
        print(f"\n{len(failed)} benchmark(s) failed: {', '.join(failed)}", flush=True)
        return 1
    print("\nall benchmarks done; results in bench/results/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
