"""Many WebSocket clients in a separate process, timing broadcasts (layer 3, labs).

``python -m wslab.labs.fleet '{"urls": [...], "n": 1000, "rounds": 20}'`` opens
``n`` connections spread over ``urls`` (client i dials ``urls[i % len(urls)]``),
prints ``{"ready": n}``, then for every text message ``"<round> <t_ns>"`` notes
``time.monotonic_ns() - t`` (CLOCK_MONOTONIC is one clock for every process
on the machine).  When every client has round r it prints ``{"round": r}``;
after the last round ``{"latency_ns": [[url index, round, ns], ...]}`` and exits.

The clients live in their own process so that the servers being measured do
not share a CPU-bound interpreter with them; :func:`wslab.labs.scaling.broadcast_latency`
drives it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import tornado.websocket

CONNECT_CONCURRENCY = 100


async def _main(spec: dict[str, Any]) -> int:
    urls, n, rounds = spec["urls"], int(spec["n"]), int(spec["rounds"])
    timeout = float(spec.get("timeout", 60))
    samples: list[list[int]] = []
    per_round = [0] * rounds
    done = asyncio.Event()
    conns = []

    def on_message(index: int) -> Callable[[str | bytes | None], None]:
        def cb(message: str | bytes | None) -> None:
            if message is None:
                return
            now = time.monotonic_ns()
            text = message if isinstance(message, str) else message.decode()
            r_text, _, t_text = text.partition(" ")  # "round t_ns": cheap to parse
            r = int(r_text)
            samples.append([index % len(urls), r, now - int(t_text)])
            per_round[r] += 1
            if per_round[r] == n:
                print(json.dumps({"round": r}), flush=True)
                if r == rounds - 1:
                    done.set()
        return cb

    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            conns.append(await tornado.websocket.websocket_connect(
                urls[i % len(urls)], on_message_callback=on_message(i)))

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout)
    print(json.dumps({"ready": len(conns)}), flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    print(json.dumps({"latency_ns": samples, "rounds_complete": per_round}), flush=True)
    for c in conns:
        c.close()
    await asyncio.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(json.loads(sys.argv[1]))))
