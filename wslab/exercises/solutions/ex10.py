"""Model solutions for 10_latency_lab.ipynb (shown by ``ex10.solution(name)``)."""

from __future__ import annotations

import time


def measure(client, n, interval):
    start = time.perf_counter()
    latencies = []
    for i in range(n):
        due = start + i * interval                      # when message i SHOULD leave
        time.sleep(max(0.0, due - time.perf_counter()))
        client.send("m")
        client.recv()
        latencies.append(time.perf_counter() - due)     # counted from the intended time
    return latencies
