"""Why a busy cell slows the in-kernel server down, measured (layer 2, I/O).

The lab server runs in a thread of the kernel's own process.  Python lets one
thread run Python code at a time (the GIL).  While a cell computes in pure
Python, the server's thread gets the GIL only when the cell's thread is asked
to let go, after at most ``sys.getswitchinterval()`` (5 ms by default); a round
trip needs several such hand-overs, so latency jumps from a fraction of a
millisecond to many milliseconds.  Lowering the switch interval while the lab
runs (:func:`responsive`) makes the hand-over fast, at a small cost in
throughput for the computing cell.

The round trips are measured by a client in a *separate process* (like a
browser), so the measuring code does not itself compete for the GIL.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from ..net.loop import DEFAULT_SWITCH_INTERVAL as DEFAULT_INTERVAL
from ..net.loop import responsive  # noqa: F401  (re-exported: the lesson's practical answer)

_CLIENT = r"""
import socket, sys, time
from wslab.protocol import frames, handshake
from wslab.protocol.uri import parse_ws_uri
uri = parse_ws_uri(sys.argv[1]); n = int(sys.argv[2])
s = socket.create_connection((uri.host, uri.port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
key = handshake.make_key()
s.sendall(handshake.build_request(host=uri.host_header, path=uri.resource, key=key))
buf = b""
while (cut := handshake.split_head(buf)) is None:
    buf += s.recv(4096)
handshake.check_response(cut[0], key)
frame = frames.encode_frame(frames.Frame.text("x" * 32, mask_key=b"\0\0\0\0"))
reply = len(frames.encode_frame(frames.Frame.text("x" * 32)))  # the echo, unmasked
print("ready", flush=True)
out = []
for i in range(n + 20):
    t = time.perf_counter_ns(); s.sendall(frame)
    got = b""
    while len(got) < reply:
        got += s.recv(4096)
    if i >= 20: out.append(time.perf_counter_ns() - t)
print(" ".join(str(x) for x in out))
"""


@dataclass(frozen=True)
class GilRecord:
    label: str
    switch_interval: float
    busy: bool
    samples_s: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_s) * 1e3


def _busy(seconds: float) -> int:
    """A cell computing in pure Python: only bytecode, no calls that could release the
    GIL (even a clock read between chunks would hand it over and hide the effect)."""
    chunk = 3_000_000  # about 0.1-0.2 s of bytecode on these machines
    x = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for i in range(chunk):
            x += i
    return x


def _measure(url: str, n: int, busy: bool, seconds: float) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-c", _CLIENT, url, str(n)],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline().strip()  # connected, handshake checked
        if ready != "ready":
            raise RuntimeError(f"the measuring client did not start (exit code {proc.poll()})")
        if busy:
            _busy(seconds)  # the client measures while this runs
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return [int(v) / 1e9 for v in out.split()]


def gil_experiment(*, n: int = 200, seconds: float = 2.0,
                   responsive_interval: float = 0.00005) -> list[GilRecord]:
    """Echo round trips measured by a client in another process, while this thread
    is idle and while it computes in pure Python, for three set-ups:

    * the in-kernel server, default switch interval (5 ms);
    * the in-kernel server with :func:`responsive` (``responsive_interval``);
    * ``serve(process=True)``: the server in a child process with its own GIL.

    Restores the switch interval it found; stops the servers it started.
    """
    from ..net.server import serve

    if not isinstance(n, int) or not 10 <= n <= 5000:
        raise ValueError(f"n is an integer 10-5000, got {n!r}")
    if not 0.2 <= seconds <= 30:
        raise ValueError(f"seconds is 0.2-30, got {seconds!r}")
    before = sys.getswitchinterval()
    kernel = serve(name="gil-lab")
    child = serve(name="gil-lab-process", process=True)
    records = []
    try:
        records.append(GilRecord("in-kernel server, idle cell", before, False,
                                 _measure(kernel.url, n, False, 0)))
        sys.setswitchinterval(DEFAULT_INTERVAL)
        records.append(GilRecord("in-kernel server, cell computing", DEFAULT_INTERVAL, True,
                                 _measure(kernel.url, n, True, seconds)))
        sys.setswitchinterval(responsive_interval)
        records.append(GilRecord(f"in-kernel, computing, switch interval "
                                 f"{responsive_interval * 1e3:g} ms", responsive_interval, True,
                                 _measure(kernel.url, n, True, seconds)))
        sys.setswitchinterval(before)
        records.append(GilRecord("process server, idle cell", before, False,
                                 _measure(child.url, n, False, 0)))
        records.append(GilRecord("process server, cell computing", before, True,
                                 _measure(child.url, n, True, seconds)))
    finally:
        sys.setswitchinterval(before)
        kernel.stop()
        child.stop()
    return records
