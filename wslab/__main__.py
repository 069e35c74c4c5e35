"""``python -m wslab``: the command line (``serve`` standalone, ``bench`` the peers).

``python -m wslab serve --port 8080`` is the classic ``node server.js`` of
WebSocket tutorials: the same LabServer as in the notebooks, in a terminal.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def _cmd_serve(args: argparse.Namespace) -> int:
    from . import serve, stop_all
    from .net.errors import ServerStartError

    try:
        server = serve(host=args.host, port=args.port, origins=args.origin or (),
                       name="cli")
    except (ServerStartError, ValueError) as exc:
        print(f"wslab: {exc}", file=sys.stderr)
        return 2
    print(f"wslab server listening (Ctrl-C to stop)\n"
          f"  echo:   {server.url}\n"
          f"  chat:   {server.chat_url}\n"
          f"  page:   {server.page_url}", flush=True)
    if not args.quiet:
        server.subscribe(lambda ev: print(str(ev), flush=True))
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not done.wait(0.5):
        pass
    print("stopping: closing clients with 1001 (going away)", flush=True)
    stop_all(timeout=5)
    print("stopped", flush=True)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    """Run the peers benchmark, print the table, save peers.json and peers.png."""
    from .labs.bench import DEFAULT_OUT, BenchConfig, run_peers
    from .ui.bench_plots import save_report

    res = run_peers(BenchConfig.quick() if args.quick else BenchConfig.full())
    print(res.table(), flush=True)
    js, png = save_report(res, args.out if args.out is not None else DEFAULT_OUT)
    (js.parent / "peers.md").write_text(res.markdown() + "\n")
    print(f"wrote {js}, {png} and peers.md", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wslab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the wslab server standalone (echo, chat, browser page)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; others only when asked)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080, 0 = any free)")
    p.add_argument("--origin", action="append",
                   help="extra allowed page origin, e.g. http://localhost:8888 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="do not print every event")
    p.set_defaults(func=_cmd_serve)
    b = sub.add_parser("bench", help="measure wslab against Tornado, websockets and Node ws")
    b.add_argument("--quick", action="store_true", help="small counts (< 1 min) for CI/notebooks")
    b.add_argument("--out", help="folder for peers.json and peers.png (default bench/results)")
    b.set_defaults(func=_cmd_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
