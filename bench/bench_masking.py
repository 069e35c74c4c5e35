"""Masking speed: wslab's pure-Python ``mask`` against tornado's own masking functions.

RFC 6455 section 5.3 masking XORs every payload byte with a 4-byte key; every
frame a client sends is masked.  This times, on one payload (1 MiB by default):

* ``wslab.protocol.frames.mask`` (pure Python, standard library only),
* ``tornado.speedups.websocket_mask`` (tornado's C extension, when importable),
* ``tornado.util._websocket_mask_python`` (tornado's pure-Python fallback).

Runs are interleaved (A B C A B C ...) so machine noise hits all alike; each
run times ``--number`` calls and the medians of ``--runs`` runs are compared.
Prints a table and the ratio wslab_speed / tornado_speed, and writes
bench/results/masking.json.

    python bench/bench_masking.py [--runs 30] [--number 5] [--size 1048576]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

from wslab.net import _tornado
from wslab.protocol.frames import mask

OUT = pathlib.Path(__file__).parent / "results"


def _candidates() -> dict[str, object]:
    """name -> fn(data, key); tornado's functions take (key, data)."""
    found: dict[str, object] = {"wslab mask (pure Python)": mask}
    try:
        from tornado.speedups import websocket_mask as c_mask
    except ImportError:  # pragma: no cover - tornado built without its C extension
        c_mask = None
    if c_mask is not None:
        found["tornado.speedups.websocket_mask (C)"] = lambda data, key: c_mask(key, data)
    py_mask = _tornado.websocket_mask_python
    found["tornado.util._websocket_mask_python"] = lambda data, key: py_mask(key, data)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="interleaved runs per function")
    ap.add_argument("--number", type=int, default=5, help="calls timed per run")
    ap.add_argument("--size", type=int, default=1 << 20, help="payload bytes (default 1 MiB)")
    args = ap.parse_args()

    data = os.urandom(args.size)
    key = os.urandom(4)
    funcs = _candidates()
    expected = funcs["wslab mask (pure Python)"](data, key)
    for name, fn in funcs.items():  # same bytes out, and a warm-up call each
        assert fn(data, key) == expected, f"{name} disagrees with wslab's mask"

    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(args.runs):
        for name, fn in funcs.items():
            n = args.number if "python" not in name else 1  # tornado's pure Python is slow
            t0 = time.perf_counter_ns()
            for _ in range(n):
                fn(data, key)
            samples[name].append((time.perf_counter_ns() - t0) / n / 1e9)

    medians = {name: statistics.median(s) for name, s in samples.items()}
    mib = args.size / (1 << 20)
    print(f"masking {args.size} bytes, median of {args.runs} interleaved runs "
          f"(Python {platform.python_version()}, {platform.machine()})")
    print(f"{'function':44s} {'median ms':>10s} {'MiB/s':>10s}")
    for name, sec in medians.items():
        print(f"{name:44s} {sec * 1e3:10.3f} {mib / sec:10.1f}")
    wslab_s = medians["wslab mask (pure Python)"]
    ratios = {name: sec / wslab_s for name, sec in medians.items()
              if name != "wslab mask (pure Python)"}
    print()
    for name, ratio in ratios.items():
        print(f"wslab_speed / speed of {name} = {ratio:.3f}")
    reference = next(iter(ratios))  # the C function when importable, as the issue asks
    verdict = "meets" if ratios[reference] >= 1 / 3 else "MISSES"
    print(f"target (>= 1/3 of {reference}): {verdict}")

    OUT.mkdir(exist_ok=True)
    result = {
        "payload_bytes": args.size,
        "runs": args.runs,
        "calls_per_run": args.number,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "median_seconds": medians,
        "ratio_wslab_speed_over": ratios,
        "reference": reference,
        "target": "wslab speed >= 1/3 of tornado's masking function",
        "meets_target": ratios[reference] >= 1 / 3,
    }
    (OUT / "masking.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT / 'masking.json'}")


if __name__ == "__main__":
    main()
