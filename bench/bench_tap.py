"""How many frames per second the tap records while relaying (and what it costs).

A wslab client pipelines N small echo messages (window of 100 outstanding)
directly to the wslab server and through a Tap, interleaved; reports frames
recorded per second and the throughput ratio tap/direct.  Writes
bench/results/tap.json.

    python bench/bench_tap.py [--n 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import time

import wslab
from wslab.net import loop as lab

OUT = pathlib.Path(__file__).parent / "results"


async def _pipeline(client: wslab.Client, n: int, window: int) -> float:
    conn = client._conn
    got = 0
    done = asyncio.get_running_loop().create_future()
    sent = 0

    def on_message(_):
        nonlocal got
        got += 1
        if got == n and not done.done():
            done.set_result(None)

    client.subscribe(lambda e: on_message(e) if e.direction == "in" else None)
    t0 = time.perf_counter()
    while sent < n:
        while sent - got < window and sent < n:
            conn.write_message("m" * 32)
            sent += 1
        await asyncio.sleep(0)
    await asyncio.wait_for(done, 60)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=100)
    args = ap.parse_args()
    server = wslab.serve(name="bench-tap", events_max=1000)
    tap = wslab.Tap(server.url, max_records=4 * args.n + 100)
    direct_s, tap_s, recorded = [], [], []
    try:
        for _ in range(args.rounds):
            for which in ("direct", "tap"):
                c = wslab.connect(server.url if which == "direct" else tap.url)
                before = len(tap.frames)
                elapsed = lab.run(_pipeline(c, args.n, args.window), timeout=120)
                c.close()
                if which == "direct":
                    direct_s.append(elapsed)
                else:
                    tap_s.append(elapsed)
                    recorded.append(len(tap.frames) - before)
                tap.clear()
    finally:
        tap.stop()
        server.stop()
    d, t = statistics.median(direct_s), statistics.median(tap_s)
    frames = statistics.median(recorded)
    res = {"messages": args.n, "direct_msgs_per_s": args.n / d, "tap_msgs_per_s": args.n / t,
           "tap_frames_recorded_per_s": frames / t, "frames_recorded_per_run": frames,
           "throughput_ratio_tap_over_direct": d / t}
    for k, v in res.items():
        print(f"{k:<34}{v:>12.1f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "tap.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
