"""Why a busy cell slows the in-kernel server down, measured (layer 3, labs).

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

While it measures, :func:`gil_experiment` runs the kernel's two threads (the
computing cell and the lab loop) on one CPU (:func:`one_cpu`), as in a kernel
given one CPU (JupyterHub's ``cpu_limit: 1``).  Left to float on a loaded
machine, the cell's thread often waits for a CPU after the server lets go of the
GIL; the GIL then lies free when the next message arrives and about half the
round trips skip the wait, which hides the effect the lesson measures (measured
with two CPU hogs on two cores: the 5 ms median fell to 0.6 ms in half the runs).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from ..net.children import Child, ChildExited, spawn
from ..net.loop import DEFAULT_SWITCH_INTERVAL as DEFAULT_INTERVAL
from ..net.loop import (
    RESPONSIVE_INTERVAL,
    lab_thread_id,
    responsive,  # noqa: F401  (re-exported: the lesson's practical answer)
)

_CLIENT = r"""
import socket, sys, time
from wslab.protocol import frames, handshake
from wslab.protocol.uri import parse_ws_uri
uri = parse_ws_uri(sys.argv[1]); n = int(sys.argv[2])
s = socket.create_connection((uri.host, uri.port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
key = handshake.make_key()
s.sendall(handshake.build_request(host=uri.host_header, path=uri.resource, key=key))
buf = b""
while (cut := handshake.split_head(buf)) is None:
    buf += s.recv(4096)
handshake.check_response(cut[0], key)
frame = frames.encode_frame(frames.Frame.text("x" * 32, mask_key=b"\0\0\0\0"))
reply = len(frames.encode_frame(frames.Frame.text("x" * 32)))  # the echo, unmasked
print("ready", flush=True)
sys.stdin.readline()   # "go": the busy cell (if any) is about to start
time.sleep(0.05)       # ... and now holds the GIL
out = []
for i in range(n + 20):
    t = time.perf_counter_ns(); s.sendall(frame)
    got = b""
    while len(got) < reply:
        got += s.recv(4096)
    if i >= 20: out.append(time.perf_counter_ns() - t)
    # paced like a browser, not back to back: the cell has time to take the GIL again
    time.sleep(0.0073)
print(" ".join(str(x) for x in out))
"""


@dataclass(frozen=True)
class GilRecord:
    label: str
    switch_interval: float
    busy: bool
    samples_s: list[float]
    cpu: int | None = None  # the one CPU the kernel's threads ran on, None if not pinned
    at: float = field(default_factory=time.monotonic)  # when measured (time.monotonic())

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_s) * 1e3


@contextmanager
def one_cpu() -> Iterator[int | None]:
    """Run the calling thread and the lab loop's thread on one CPU (Linux), restoring
    their CPU sets afterwards; yields that CPU, or None where threads cannot be placed
    (not Linux, or the kernel refused).  Layer 3: the GIL lab's controlled condition."""
    saved: dict[int, set[int]] = {}
    cpu = None
    if hasattr(os, "sched_setaffinity"):
        tids = [threading.get_native_id(), lab_thread_id()]
        try:
            saved = {tid: os.sched_getaffinity(tid) for tid in tids}
            cpu = min(saved[tids[0]])
            for tid in tids:
                os.sched_setaffinity(tid, {cpu})
        except OSError:  # not allowed here: measure unpinned, and say so (cpu None)
            cpu = None
    try:
        yield cpu
    finally:
        for tid, cpus in saved.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:  # the thread has ended: nothing to restore
                pass


def _busy(seconds: float, client: Child | None = None) -> int:
    """A cell computing in pure Python: only bytecode between chunks of about 0.1 s, no
    calls that could release the GIL inside a chunk.  Runs ``seconds``, or until ``client``
    (the measuring client) has exited, whichever comes first."""
    chunk = 3_000_000  # about 0.1-0.2 s of bytecode on these machines
    x = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and (client is None or client.running):
        for i in range(chunk):
            x += i
    return x


def _measure(url: str, n: int, busy: bool, seconds: float, *,
             pin: bool = False) -> tuple[list[float], int | None]:
    """Round trips measured by a client process, one every ~7 ms (as a page would send,
    not back to back); with ``busy`` this thread computes for the whole measurement (up
    to ``seconds``), so every sample is taken under load.  With ``pin`` the kernel's
    threads run on one CPU while it measures (:func:`one_cpu`), placed after the client
    has started so that the client does not inherit the placement.  Returns the samples
    and the CPU (None if not pinned).  A client that does not start or answer raises
    :class:`~wslab.net.children.ChildTimeout` or ``ChildExited``."""
    client = spawn([sys.executable, "-c", _CLIENT, url, str(n)], what="the measuring client")
    try:
        ready = client.readline(30)  # connected, handshake checked
        if ready != "ready":
            raise ChildExited(f"the measuring client said {ready[:80]!r}, not 'ready'")
        with one_cpu() if pin else nullcontext() as cpu:
            client.write_line("go")
            if busy:
                _busy(seconds, client)  # the client measures while this runs
            out = client.readline(60)
    finally:
        client.stop(5)
    return [int(v) / 1e9 for v in out.split()], cpu


def _ms(interval: float) -> str:
    return f"switch interval {interval * 1e3:g} ms"


def echo_while_computing(url: str, *, n: int = 100, seconds: float = 20.0,
                         label: str = "cell computing") -> GilRecord:
    """Round trips to any echo-like server at ``url``, measured by a client in another
    process while THIS thread computes in pure Python (up to ``seconds``).

    For the GIL lesson's practical answer: a process server running a handler written
    in the notebook (``@server.on_message``).  The client sends 32 bytes of text and
    waits for 32 bytes back, so the handler must answer with a text of the same length
    (an upper-cased or reversed echo).  The label states the switch interval in force.
    """
    if not isinstance(n, int) or not 10 <= n <= 5000:
        raise ValueError(f"n is an integer 10-5000, got {n!r}")
    if not 0.2 <= seconds <= 60:
        raise ValueError(f"seconds is 0.2-60, got {seconds!r}")
    interval = sys.getswitchinterval()
    samples, _ = _measure(url, n, True, seconds)
    return GilRecord(f"{label}, {_ms(interval)}", interval, True, samples)


def gil_experiment(*, n: int = 200, seconds: float = 20.0,
                   responsive_interval: float = RESPONSIVE_INTERVAL) -> list[GilRecord]:
    """Echo round trips measured by a client in another process, while this thread
    is idle and while it computes in pure Python (for the whole measurement), for:

    * the in-kernel server, cell idle (the switch interval in force);
    * the in-kernel server, cell computing, CPython's default switch interval (5 ms),
      set here on purpose: ``serve()`` in a kernel has already lowered it;
    * the in-kernel server, cell computing, ``responsive_interval`` (what
      :func:`responsive` and ``serve()`` in a kernel set, 0.5 ms);
    * ``serve(process=True)``: the server in a child process with its own GIL, idle
      and computing (default 5 ms switch interval in this process).

    The kernel's threads run on one CPU throughout (:func:`one_cpu`; the record's
    ``cpu``), so the cell's thread is ready to take the GIL back whenever the server
    lets go, as in a one-CPU kernel, also on a loaded machine.  Each record's label
    states the switch interval in force.  Restores the switch interval and the CPU
    sets it found; stops the servers it started.  ``seconds`` bounds each busy run.
    """
    from ..net.server import serve

    if not isinstance(n, int) or not 10 <= n <= 5000:
        raise ValueError(f"n is an integer 10-5000, got {n!r}")
    if not 0.2 <= seconds <= 60:
        raise ValueError(f"seconds is 0.2-60, got {seconds!r}")
    before = sys.getswitchinterval()
    kernel = serve(name="gil-lab")
    child = serve(name="gil-lab-process", process=True)
    records = []

    def run(label: str, url: str, busy: bool, interval: float) -> None:
        sys.setswitchinterval(interval)
        samples, cpu = _measure(url, n, busy, seconds, pin=True)
        records.append(GilRecord(f"{label}, {_ms(interval)}", interval, busy, samples, cpu))

    try:
        run("in-kernel server, cell idle", kernel.url, False, before)
        run("in-kernel server, cell computing", kernel.url, True, DEFAULT_INTERVAL)
        run("in-kernel server, cell computing", kernel.url, True, responsive_interval)
        run("process server, cell idle", child.url, False, before)
        run("process server, cell computing", child.url, True, DEFAULT_INTERVAL)
    finally:
        sys.setswitchinterval(before)
        kernel.stop()
        child.stop()
    return records
