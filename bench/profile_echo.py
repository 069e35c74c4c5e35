"""Python calls per echo in the in-kernel wslab server (cProfile), with the top functions.

Starts ``wslab.serve()`` in this process; the measuring client, in a process of
its own, sends pipelined 32-byte echoes while cProfile watches the lab loop.

    python -m bench.profile_echo [--n 20000]     (from the repository root)
"""

from __future__ import annotations

import argparse

import wslab
from bench.peers.calls import calls_per_echo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    server = wslab.serve(name="profile-echo")
    try:
        got = calls_per_echo(server.url, n=args.n)
    finally:
        wslab.stop_all()
    print(f"{got['calls_per_echo']:.1f} Python calls per echo ({got['calls']} calls, "
          f"{got['echoes']} echoes)")
    for name, per in got["top"]:
        print(f"  {per:6.2f}  {name}")


if __name__ == "__main__":
    main()
