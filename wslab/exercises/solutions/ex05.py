"""Model solutions for 05_heartbeat.ipynb (shown by ``ex05.solution(name)``)."""

from __future__ import annotations

import time

import wslab


def heartbeat(client, interval, timeout):
    while client.state == wslab.State.OPEN:
        time.sleep(interval)
        try:
            client.ping(timeout=timeout)          # the pong must be back within `timeout`
        except TimeoutError:
            # a miss: the peer is unreachable; start the close (a dead peer never answers
            # it, so do not wait long) and stop pinging
            client.close(1011, "keepalive timeout", timeout=0.5)
            return
