"""Kernel responsiveness while the in-kernel server is busy.

A real kernel (jupyter_client) runs the wslab server; a separate process keeps
200 clients echoing continuously against it.  A trivial cell ("1+1") is
executed again and again through the kernel client and its execute round trip
timed, idle and under load.  Writes bench/results/kernel.json.

    python bench/bench_kernel.py [--clients 200] [--cells 50]
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
url, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
u = parse_ws_uri(url)
count = 0
frame = frames.encode_frame(frames.Frame.text("loadtest", mask_key=bytes(4)))
echo = len(frames.encode_frame(frames.Frame.text("loadtest")))
async def one():
    global count
    r, w = await asyncio.open_connection(u.host, u.port)
    key = handshake.make_key()
    w.write(handshake.build_request(host=u.host_header, path=u.resource, key=key))
    handshake.check_response(await r.readuntil(b"\r\n\r\n"), key)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w.write(frame); await w.drain(); await r.readexactly(echo); count += 1
    w.close()
async def main():
    print("ready", flush=True)
    await asyncio.gather(*(one() for _ in range(n)))
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--cells", type=int, default=50)
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="call wslab.responsive(interval=...) in the kernel first (serve() "
                         "already lowers it to 0.5 ms inside a kernel)")
    args = ap.parse_args()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    load = None
    try:
        url = {}
        kc.execute_interactive("import wslab; s = wslab.serve(name='kernel-bench'); print(s.url)",
                               timeout=60,
                               output_hook=lambda m: url.update(u=m["content"].get("text", "").strip())
                               if m["msg_type"] == "stream" else None)
        if args.switch_interval:
            kc.execute_interactive(f"wslab.responsive(interval={args.switch_interval})",
                                   timeout=30, output_hook=lambda m: None)
        got = {}
        kc.execute_interactive("import sys; print(sys.getswitchinterval())", timeout=30,
                               output_hook=lambda m: got.update(si=float(m["content"]["text"]))
                               if m["msg_type"] == "stream" else None)
        idle = _time_cells(kc, args.cells)
        load = subprocess.Popen([sys.executable, "-c", LOAD, url["u"], str(args.clients),
                                 str(30)], stdout=subprocess.PIPE, text=True)
        assert load.stdout.readline().strip() == "ready"
        time.sleep(2)  # let all connections open and the load settle (not synchronisation)
        busy = _time_cells(kc, args.cells)
        load.terminate()
        out, _ = load.communicate(timeout=40)
        res = {"clients": args.clients, "switch_interval_in_kernel": got.get("si"), "idle_p50_ms": statistics.median(idle) * 1e3,
               "busy_p50_ms": statistics.median(busy) * 1e3,
               "ratio": statistics.median(busy) / statistics.median(idle)}
        print(json.dumps(res, indent=2))
        OUT.mkdir(exist_ok=True)
        name = "kernel.json" if not args.switch_interval else "kernel_responsive.json"
        (OUT / name).write_text(json.dumps(res, indent=2))
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        kc.execute_interactive("wslab.stop_all()", timeout=30)
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
