"""``python -m bench.peers`` (from the repository root): the full peers benchmark.

Runs wslab against bare Tornado, ``websockets`` and Node ``ws``, prints the
table, and writes ``peers.json``, ``peers.png`` and ``peers.md``.
"""

from __future__ import annotations

import argparse
import sys

from .records import BenchConfig
from .report import save_report
from .runner import DEFAULT_OUT, run_peers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small counts (< 1 min) for CI and tests")
    parser.add_argument("--out", help="folder for peers.json and peers.png (default bench/results)")
    args = parser.parse_args(argv)
    res = run_peers(BenchConfig.quick() if args.quick else BenchConfig.full())
    print(res.table(), flush=True)
    js, png = save_report(res, args.out if args.out is not None else DEFAULT_OUT)
    (js.parent / "peers.md").write_text(res.markdown() + "\n")
    print(f"wrote {js}, {png} and peers.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
