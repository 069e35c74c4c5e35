"""Where an opening handshake's time goes in the in-kernel server (issue 26).

``python -m bench.profile_handshake [N]`` (from the repository root) starts ``serve()``
on this process's lab loop, has the measuring client's process (:mod:`bench.peers.meter`)
make ``N`` opening handshakes against it (8 in flight, a new TCP connection each, reset
after the 101), profiles the lab loop thread with cProfile meanwhile, and prints the
Python calls per handshake and the functions with the most own time.  Bounded: the
meter's per-step timeout, one run.
"""

from __future__ import annotations

import cProfile
import pstats
import sys

from wslab.net import loop as lab
from wslab.net.server import serve

from .peers.targets import _Meter


def profile(n: int = 3000, *, top: int = 25, timeout: float = 60.0) -> None:
    server = serve(name="profile-handshake")
    meter = _Meter(timeout)
    prof = cProfile.Profile()
    try:
        meter.ask("handshakes", server.url, timeout * 3 + 20, n=300, workers=8)  # warm-up
        lab.call(prof.enable, what="start profiling the lab loop")
        try:
            got = meter.ask("handshakes", server.url, timeout * 3 + 20, n=n, workers=8)
        finally:
            lab.call(prof.disable, what="stop profiling the lab loop")
    finally:
        meter.close()
        server.stop()
    stats = pstats.Stats(prof)
    total = stats.total_calls  # type: ignore[attr-defined]
    print(f"{n} handshakes ({got['failed']} failed), {got['per_s']:.0f}/s under the profiler; "
          f"{total / n:.0f} Python calls per handshake")
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    profile(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
