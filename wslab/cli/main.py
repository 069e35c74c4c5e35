"""The command line: ``python -m wslab serve | notebooks | conformance | bench``
(and the ``wslab`` script).

Help texts are plain text: argparse prints them as they are.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from .. import __version__
from .serve_options import AUTH_ENV, add_server_options, server_options

DESCRIPTION = ("wslab: learn the WebSocket protocol hands-on. Run the course's server in a "
               "terminal, or copy the course's notebooks into a folder.")
SERVE = ("Run the wslab server in this terminal, as in the notebooks: echo on /echo, a chat "
         "on /chat, channels on /pubsub, exactly-once on /ack, and the browser client page "
         "on /. Every event is printed; Ctrl-C closes the clients with 1001 (going away).")
NOTEBOOKS = ("Copy the course's notebooks into DEST (made if missing). New notebooks are "
             "added and ones you have not changed are updated; a notebook you changed is "
             "never overwritten: the course's version is saved beside it as NAME.new.ipynb. "
             "Safe to run again, at every login for instance.")


def _print_event(event: object) -> None:
    print(str(event), flush=True)


def _banner(server: Any, args: argparse.Namespace) -> str:
    lines = ["wslab server listening (Ctrl-C to stop)",
             f"  echo:   {server.url}",
             f"  chat:   {server.chat_url}",
             f"  page:   {server.page_url}"]
    options = server.options if hasattr(server, "options") else None
    if getattr(server, "ca_file", None):
        lines.append(f"  tls:    clients must trust the CA in {server.ca_file}")
    if options is not None and options.auth is not None:
        lines.append(f"  auth:   a token is required (?{options.auth.query_param}=..., "
                     "Authorization: Bearer ..., or a cookie)")
    if options is not None and options.subprotocols:
        lines.append(f"  subprotocols: {', '.join(options.subprotocols)}")
    if args.process:
        lines.append(f"  process: pid {server.pid}")
    if options is not None and options.backplane:
        lines.append(f"  backplane: {options.backplane}")
    return "\n".join(lines)


def _follow(server: Any, done: threading.Event, *, quiet: bool, polled: bool) -> None:
    """Wait for Ctrl-C, printing events as they come (a process server's are fetched)."""
    if not quiet and not polled:
        server.subscribe(_print_event)
    seen = 0
    while not done.wait(0.5):
        if polled and not quiet:
            fresh = [e for e in server.events if e.t_ns > seen]
            for event in fresh:
                _print_event(event)
            seen = max([seen, *(e.t_ns for e in fresh)])


def _cmd_serve(args: argparse.Namespace) -> int:
    from .. import WSLabError, serve, stop_all

    if args.handler is not None and not args.process:
        print("wslab serve: --handler runs in a server process: add --process",
              file=sys.stderr)
        return 2
    try:
        options = server_options(args)
        server = serve(options, process=args.process, handler=args.handler)
    except (WSLabError, ValueError, TypeError) as exc:
        print(f"wslab serve: {exc}", file=sys.stderr)
        return 2
    print(_banner(server, args), flush=True)
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    _follow(server, done, quiet=args.quiet, polled=args.process)
    print("stopping: closing clients with 1001 (going away)", flush=True)
    stop_all(timeout=5)
    print("stopped", flush=True)
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from ..course import CourseError, deliver

    try:
        report = deliver(args.dest)
    except CourseError as exc:
        print(f"wslab notebooks: {exc}", file=sys.stderr)
        return 2
    print(f"wslab notebooks: {report.dest}: {report.summary()}")
    for line in report.lines():
        print(line)
    return 0


CONFORMANCE = ("Grade any ws:// echo server (yours, the Node primer's, another language's) "
               "with the course's conformance run: text and binary of each length form, "
               "fragments with pings between them, invalid UTF-8, reserved bits and opcodes, "
               "oversize control frames, close codes. Each case is OK, NON-STRICT or FAILED "
               "with what was expected, what came back and the RFC 6455 section. Exit status "
               "0 only when every case is OK.")


def _cmd_conformance(args: argparse.Namespace) -> int:
    from ..labs.conformance import run_conformance

    try:
        report = run_conformance(args.url, cases=args.case or None, timeout=args.timeout)
    except ValueError as exc:
        print(f"wslab conformance: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    """The peers benchmark lives in the repository, not in the installed package."""
    print("wslab: the peers benchmark is not part of the installed package; it needs a clone\n"
          "of the wslab repository: run `python -m bench.peers [--quick]` from its root.\n"
          "Notebook 10's short comparison is wslab.labs.peers.compare_echo().", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m wslab", description=DESCRIPTION)
    top.add_argument("--version", action="version", version=f"wslab {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="run the wslab server in this terminal",
                       description=SERVE, epilog=f"The token may come from ${AUTH_ENV} "
                       "instead of --auth (other users can read a command line in ps). "
                       "An optional limit takes none to turn it off.")
    p.add_argument("--quiet", action="store_true", help="do not print every event")
    scaling = add_server_options(p)["scaling out"]
    scaling.add_argument("--process", action="store_true",
                         help="run the server in a child process (its own interpreter and GIL)")
    scaling.add_argument("--handler", metavar="MODULE:FUNCTION",
                         help="with --process: fn(conn, message) replacing echo, "
                         "e.g. mymod:shout")
    p.set_defaults(func=_cmd_serve)
    n = sub.add_parser("notebooks", help="copy the course's notebooks into a folder",
                       description=NOTEBOOKS)
    n.add_argument("dest", metavar="DEST", help="the folder, e.g. ~/wslab")
    n.set_defaults(func=_cmd_notebooks)
    c = sub.add_parser("conformance", help="grade a ws:// echo server, case by case",
                       description=CONFORMANCE)
    c.add_argument("url", metavar="URL", help="the echo server, e.g. ws://127.0.0.1:8080/")
    c.add_argument("--case", action="append", metavar="ID",
                   help="run only this case or group (e.g. 2 or 7.1); may be repeated")
    c.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for each answer (default 2)")
    c.set_defaults(func=_cmd_conformance)
    b = sub.add_parser("bench", help="needs the repository: python -m bench.peers there")
    b.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # the old options,
    b.add_argument("--out", help=argparse.SUPPRESS)  # accepted so the message below is seen
    b.set_defaults(func=_cmd_bench)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))
