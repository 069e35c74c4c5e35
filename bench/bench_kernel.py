"""Kernel responsiveness while the in-kernel server is busy.

A real kernel (jupyter_client) runs the wslab server; a separate process holds
200 clients that echo continuously against it while the load is on.  A trivial
cell ("1+1") is executed through the kernel client and its execute round trip
timed, idle and under load, INTERLEAVED: blocks of idle cells and loaded cells
alternate (the load process pauses and resumes on command, and says when every
client has stopped or has echoed again), so machine noise hits both alike.
Reports the median of each round and the ratio per round, with their spread.
Writes bench/results/kernel.json.

    python bench/bench_kernel.py [--clients 200] [--rounds 6] [--block 8]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import jupyter_client

OUT = pathlib.Path(__file__).parent / "results"

LOAD = r"""
import asyncio, sys, time
from wslab.protocol import frames, handshake
from wslab.protocol.uri import parse_ws_uri
url, n = sys.argv[1], int(sys.argv[2])
u = parse_ws_uri(url)
count = 0
frame = frames.encode_frame(frames.Frame.text("loadtest", mask_key=bytes(4)))
echo = len(frames.encode_frame(frames.Frame.text("loadtest")))
go = None
idle = set()   # clients waiting for the load to resume
since = set()  # clients that echoed since the last resume
async def one(i):
    global count
    r, w = await asyncio.open_connection(u.host, u.port)
    key = handshake.make_key()
    w.write(handshake.build_request(host=u.host_header, path=u.resource, key=key))
    handshake.check_response(await r.readuntil(b"\r\n\r\n"), key)
    while True:
        if not go.is_set():
            idle.add(i)
            await go.wait()
            idle.discard(i)
        w.write(frame); await w.drain(); await r.readexactly(echo); count += 1
        since.add(i)
async def main():
    global go
    go = asyncio.Event()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "on":
            since.clear(); go.set()
            while len(since) < n:          # every client echoes again: the load is on
                await asyncio.sleep(0.001)
            print("running", flush=True)
        elif line == "off":
            go.clear()
            while len(idle) < n:           # every client finished its echo and waits
                await asyncio.sleep(0.001)
            print("paused", flush=True)
    print(count, flush=True)
asyncio.run(main())
"""


def _time_cells(kc, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        kc.execute_interactive("1 + 1", timeout=30, output_hook=lambda msg: None)
        out.append(time.perf_counter() - t)
    return out


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=8, help="cells per block (idle, then loaded)")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="call wslab.responsive(interval=...) in the kernel first (serve() "
                         "already lowers it to 0.5 ms inside a kernel)")
    args = ap.parse_args()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    load = None
    try:
        url = {}

        def on_output(m):
            if m["msg_type"] == "stream":
                url.update(u=m["content"].get("text", "").strip())

        kc.execute_interactive("import wslab; s = wslab.serve(name='kernel-bench'); print(s.url)",
                               timeout=60, output_hook=on_output)
        if args.switch_interval:
            kc.execute_interactive(f"wslab.responsive(interval={args.switch_interval})",
                                   timeout=30, output_hook=lambda m: None)
        got = {}
        kc.execute_interactive("import sys; print(sys.getswitchinterval())", timeout=30,
                               output_hook=lambda m: got.update(si=float(m["content"]["text"]))
                               if m["msg_type"] == "stream" else None)
        load = subprocess.Popen([sys.executable, "-c", LOAD, url["u"], str(args.clients)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def say(cmd: str, expect: str) -> None:
            load.stdin.write(cmd + "\n")
            load.stdin.flush()
            answer = load.stdout.readline().strip()
            if answer != expect:
                raise RuntimeError(f"load process answered {answer!r} to {cmd!r}")

        _time_cells(kc, 5)  # warm-up, unmeasured
        idle_r, busy_r = [], []
        for _ in range(args.rounds):  # idle block, loaded block, idle block, ...
            say("off", "paused")
            idle_r.append(_median(_time_cells(kc, args.block)))
            say("on", "running")
            busy_r.append(_median(_time_cells(kc, args.block)))
        say("off", "paused")
        load.stdin.close()
        count = int(load.stdout.readline() or 0)
        ratios = [b / i for b, i in zip(busy_r, idle_r, strict=True)]
        res = {"clients": args.clients, "switch_interval_in_kernel": got.get("si"),
               "rounds": args.rounds, "cells_per_block": args.block, "echoes": count,
               "idle_p50_ms": _median(idle_r) * 1e3, "busy_p50_ms": _median(busy_r) * 1e3,
               "idle_rounds_ms": [round(x * 1e3, 3) for x in idle_r],
               "busy_rounds_ms": [round(x * 1e3, 3) for x in busy_r],
               "ratio": _median(ratios), "ratio_spread": [min(ratios), max(ratios)]}
        print(json.dumps(res, indent=2))
        OUT.mkdir(exist_ok=True)
        name = "kernel.json" if not args.switch_interval else "kernel_responsive.json"
        (OUT / name).write_text(json.dumps(res, indent=2))
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(5)
        kc.execute_interactive("wslab.stop_all()", timeout=30)
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
