"""Checks for 03_echo_server_and_client.ipynb."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..net.client import connect
from ..net.errors import WSLabError
from ..net.server import LabServer
from ._result import Result, hint, passed


def shout_handler(server: LabServer) -> Result:
    """Exercise 1: the server answers every message in upper case."""
    name = "Exercise 1 (shout)"
    try:
        with connect(server.url) as client:
            client.send("Hello WebSocket")
            reply = client.recv(timeout=2)
    except TimeoutError:
        return hint(name, "no reply within 2 s: does your handler call conn.send(...)?")
    except WSLabError as exc:
        return hint(name, f"the server closed the connection ({exc}); look at "
                          "server.events.of('error') for your handler's traceback")
    if reply == "Hello WebSocket":
        return hint(name, "the server still echoes unchanged: decorate your function with "
                          "@server.on_message and reply with message.upper()")
    if reply != "HELLO WEBSOCKET":
        return hint(name, f"the reply was {reply!r}; expected 'HELLO WEBSOCKET'")
    return passed(name, "your handler replaced the echo for every client")


def clients_connected(answer: object, server: LabServer) -> Result:
    """Exercise 2: how many clients does the server have right now?"""
    name = "Exercise 2 (clients)"
    actual = len(server.clients)
    if not isinstance(answer, int):
        return hint(name, "answer with a whole number; server.clients lists the clients")
    if answer != actual:
        return hint(name, f"{answer} is not it; len(server.clients) counts them "
                          "(panels, the browser tab and cell clients all count)")
    return passed(name, f"{actual} client(s) are connected")


def median_ms(answer: object, samples: Sequence[float]) -> Result:
    """Exercise 3: the median round trip in milliseconds."""
    name = "Exercise 3 (median)"
    truth = statistics.median(samples) * 1e3
    if not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    if abs(answer - truth * 1e-3) < truth * 1e-5:
        return hint(name, "that looks like seconds: multiply by 1000 for milliseconds")
    if abs(answer - statistics.mean(samples) * 1e3) < 1e-9 and abs(answer - truth) > 1e-9:
        return hint(name, "that is the mean; the median is the middle value "
                          "(statistics.median), far less sensitive to rare slow outliers")
    if abs(answer - truth) > max(truth * 0.01, 1e-6):
        return hint(name, f"{answer:.4f} ms is not the median of these samples")
    return passed(name, f"median {truth:.3f} ms")
