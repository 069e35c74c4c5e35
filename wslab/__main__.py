"""``python -m wslab``: the command line (``serve``: the server standalone).

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
    """The peers benchmark lives in the repository, not in the installed package."""
    print("wslab: the peers benchmark is not part of the installed package; it needs a clone\n"
          "of the wslab repository: run `python -m bench.peers [--quick]` from its root.\n"
          "Notebook 10's short comparison is wslab.labs.peers.compare_echo().", file=sys.stderr)
    return 2


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
    b = sub.add_parser("bench", help="needs the repository: python -m bench.peers there")
    b.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # the old options,
    b.add_argument("--out", help=argparse.SUPPRESS)  # accepted so the message below is seen
    b.set_defaults(func=_cmd_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
