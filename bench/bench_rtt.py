"""Echo round trip: the wslab server (events recorded) against a bare Tornado echo server.

Both servers live on the same lab loop; the same wslab client measures both,
interleaved (A B A B ...), so machine noise hits both alike.  Prints medians
and the ratio; writes bench/results/rtt.json.

    python bench/bench_rtt.py [--rounds 10] [--n 500]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics

import tornado.web
import tornado.websocket

import wslab
from wslab.net import _tornado
from wslab.net import loop as lab

OUT = pathlib.Path(__file__).parent / "results"


class _BareEcho(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


async def _start_bare():
    app = tornado.web.Application([(r"/echo", _BareEcho)])
    server = app.listen(0, address="127.0.0.1")
    port = _tornado.listening_port(server)
    return server, port


async def _stop_bare(server):
    server.stop()
    await server.close_all_connections()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    wsl = wslab.serve(name="bench-rtt")
    bare, port = lab.run(_start_bare())
    targets = {"wslab server": wsl.url, "bare tornado": f"ws://127.0.0.1:{port}/echo"}
    clients = {k: wslab.connect(u) for k, u in targets.items()}
    samples: dict[str, list[float]] = {k: [] for k in targets}
    try:
        for _ in range(args.rounds):
            for k, c in clients.items():
                samples[k] += c.measure_rtt(n=args.n, size=args.size, warmup=20)
    finally:
        for c in clients.values():
            c.close()
        lab.run(_stop_bare(bare))
        wsl.stop()
    result = {k: {"p50_us": statistics.median(v) * 1e6,
                  "p99_us": statistics.quantiles(v, n=100)[98] * 1e6, "n": len(v)}
              for k, v in samples.items()}
    ratio = result["wslab server"]["p50_us"] / result["bare tornado"]["p50_us"]
    result["ratio_p50_wslab_over_tornado"] = ratio
    print(f"{'server':<14}{'p50 us':>10}{'p99 us':>10}{'n':>8}")
    for k in targets:
        r = result[k]
        print(f"{k:<14}{r['p50_us']:>10.1f}{r['p99_us']:>10.1f}{r['n']:>8}")
    print(f"ratio p50 wslab / bare tornado: {ratio:.3f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "rtt.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
