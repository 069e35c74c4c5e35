"""The servers the benchmark measures and the child processes it runs.

:class:`Target` names one server under test (echo URL, chat URL, process id).
The peers of :func:`~bench.peers.runner.run_peers` run in child
processes (:func:`_serve_child`: wslab, bare Tornado, ``websockets``; and Node
``ws`` through ``bench/node_ws_server.js``), each printing its port and
stopping when its stdin closes.  :class:`_Fanout` drives a receiver child of
:mod:`.wire`; :func:`rss_kib` reads a process's memory.  Nothing here installs
anything: the Node peer needs ``node`` and the ``ws`` package in
:data:`NODE_CACHE` (``.ci/run`` installs it); without them it is skipped and
the report says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wslab.labs.peers import start_peer
from wslab.net import loop as lab
from wslab.net.children import ChildExited, ChildTimeout, spawn

from .records import NODE, PEERS, Say

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = ROOT / "bench" / "node_ws_server.js"
#: bare Tornado in a plain process that imports nothing of wslab (the memory baseline)
TORNADO_SCRIPT = ROOT / "bench" / "tornado_plain_server.py"
NODE_CACHE = ROOT / ".cache" / "node"  # npm install --prefix .cache/node ws@8 (git-ignored)


class _Fanout:
    """A receiver child holding N clients on one server's chat route (parent side).

    :meth:`rep` times one broadcast made by the server itself: ``trigger(text)``
    asks the server to broadcast ``text`` and returns ``perf_counter_ns()`` taken
    just before the server's broadcast call (in the server's process; the clock,
    ``CLOCK_MONOTONIC``, is the same in every process of the machine); the
    receiver child reports when the LAST client had it.  :meth:`relay` times a
    message one client sends to ``/chat``, for a server known only by its URLs.
    """

    def __init__(self, url: str, n: int, timeout: float,
                 trigger: Callable[[str], int] | None = None) -> None:
        self.n, self.timeout, self.trigger = n, timeout, trigger
        self.child = _py_child(f"{n} clients on {url}", "wire", "_fanout_child", url, n, timeout,
                               trigger is None)
        try:
            line = self.child.ready_line(timeout + 120)
            if line != f"READY {n}":
                raise RuntimeError(f"fan-out clients: {line}")
            if trigger is not None:  # some servers register a client a loop turn late
                for k in range(20):
                    if self.rep(f"warm{k}", 2.0)[0] is not None:
                        break
                else:
                    raise RuntimeError(f"{url}: no warm-up broadcast reached all {n} clients")
        except BaseException:
            self.child.stop()
            raise

    def _line(self, text: str, timeout: float) -> str:
        self.child.write_line(text)
        return self.child.ready_line(timeout)

    def rep(self, tag: str, limit: float | None = None) -> tuple[int | None, int]:
        """One broadcast: (ns to the last receipt or None if incomplete, receipts)."""
        limit = self.timeout if limit is None else limit
        if self.trigger is None:
            ns, count = map(int, self._line(f"rep {tag}", limit + 10).split())
            return (ns if ns >= 0 else None), count
        if self._line(f"arm {tag} {limit}", 10) != "ARMED":
            raise RuntimeError("fan-out clients: not armed")
        t0 = self.trigger(broadcast_text(tag))
        t_last, count = map(int, self.child.ready_line(limit + 10).split())
        return (t_last - t0 if t_last >= 0 else None), count

    def close(self) -> None:
        self.child.stop(timeout=10)


def broadcast_text(tag: str) -> str:
    """The 32-byte text of one timed broadcast (what the receiver child waits for)."""
    return f"bcast:{tag}:".ljust(32, ".")


# ---------------------------------------------------------------------------


# Child processes: servers and idle clients


_spawned: list[int] = []  # every child process started, for BenchResults.child_pids


class _Child:
    """A child process that prints one line when ready and exits when its stdin closes
    (a :class:`wslab.net.children.Child` with the repository on its PYTHONPATH)."""

    def __init__(self, what: str, argv: list[str], cwd: str | None = None,
                 env_extra: dict[str, str] | None = None) -> None:
        self.what = what
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(env_extra or {})
        self.child = spawn(argv, what=what, cwd=cwd, env=env)
        self.pid = self.child.pid
        _spawned.append(self.pid)

    def write_line(self, text: str) -> None:
        self.child.write_line(text)

    def ready_line(self, timeout: float) -> str:
        try:
            return self.child.readline(timeout).strip()
        except (ChildTimeout, ChildExited) as exc:
            raise RuntimeError(str(exc)) from None

    def stop(self, timeout: float = 5.0) -> None:
        self.child.stop(timeout)


def _py_child(what: str, module: str, fn: str, *args: Any) -> _Child:
    """A Python child running ``bench.peers.<module>.<fn>(*args)``."""
    call = f"from bench.peers.{module} import {fn}; {fn}({', '.join(map(repr, args))})"
    return _Child(what, [sys.executable, "-c", call])


def _serve_child(kind: str) -> None:
    """Child-process entry: serve /echo and /chat with ``kind``, print the port, run until
    stdin closes.  Each stdin line ``bcast TEXT`` makes the server broadcast TEXT to its
    /chat clients with its own broadcast call and print ``perf_counter_ns()`` taken just
    before that call."""
    if kind == "wslab":
        from wslab.net.server import serve
        server = serve(name="bench-child")
        print(server.port, flush=True)
        for line in sys.stdin:
            cmd, _, text = line.rstrip("\n").partition(" ")
            if cmd == "bcast":  # from this (main) thread, as a notebook cell calls it
                t0 = time.perf_counter_ns()
                server.broadcast(text, path="/chat")
                print(t0, flush=True)
        lab.stop_all(timeout=2)
        return
    asyncio.run(_serve_async(kind))


async def _serve_async(kind: str) -> None:
    """Serve a peer of :mod:`wslab.labs.peers` until stdin closes; ``bcast TEXT`` lines
    make it broadcast with its own library's means."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    pending = bytearray()
    peer = await start_peer(kind)

    def on_stdin() -> None:
        data = os.read(0, 4096)
        if not data:
            loop.remove_reader(0)
            if not stop.done():
                stop.set_result(None)
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            cmd, _, text = line.decode().partition(" ")
            if cmd == "bcast":
                t0 = time.perf_counter_ns()
                peer.broadcast(text)
                print(t0, flush=True)

    print(peer.port, flush=True)
    loop.add_reader(0, on_stdin)
    try:
        await stop
    finally:
        await peer.aclose()


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` in ``/proc/PID/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS for pid {pid}")


def _raise_fd_limit(needed: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# ---------------------------------------------------------------------------


# Targets: the servers measured


@dataclass
class Target:
    """One server under test: its echo and chat URLs and the process it lives in.

    ``broadcast(text)`` makes the server itself broadcast ``text`` to its /chat
    clients and returns ``perf_counter_ns()`` taken just before its broadcast
    call; None: the fan-out figure times a message relayed by ``/chat``.
    """

    name: str
    echo_url: str
    chat_url: str | None = None
    pid: int | None = None  # for the memory figure; os.getpid() for the in-kernel server
    broadcast: Callable[[str], int] | None = None


class _Meter:
    """The measuring client's process (:mod:`.meter`), parent side: one command, one answer."""

    def __init__(self, timeout: float) -> None:
        self.child = _py_child("measuring client", "meter", "_meter_child")
        self.timeout = timeout
        try:
            if self.child.ready_line(60) != "READY":
                raise RuntimeError("the measuring client did not start")
        except BaseException:
            self.child.stop()
            raise

    def ask(self, op: str, url: str, limit: float, **args: Any) -> Any:
        self.child.write_line(json.dumps({"op": op, "url": url, "timeout": self.timeout,
                                          **args}))
        reply = json.loads(self.child.ready_line(limit))
        if "error" in reply:
            raise RuntimeError(f"measuring client, {op} on {url}: {reply['error']}")
        return reply["ok"]

    def close(self) -> None:
        self.child.stop(timeout=10)


def _in_process_trigger(server: Any) -> Callable[[str], int]:
    def trigger(text: str) -> int:
        t0 = time.perf_counter_ns()
        server.broadcast(text, path="/chat")
        return t0
    return trigger


def _child_trigger(child: _Child) -> Callable[[str], int]:
    def trigger(text: str) -> int:
        child.write_line(f"bcast {text}")
        return int(child.ready_line(30))
    return trigger


def node_peer() -> tuple[list[str], dict[str, str]] | str:
    """How to start the Node ``ws`` peer: ``(argv, extra environment)``, or why it cannot run.

    Nothing is installed at run time: ``.ci/run`` (or ``npm install --prefix
    .cache/node ws@8`` by hand) puts the ``ws`` package into :data:`NODE_CACHE`.
    """
    node = shutil.which("node")
    if node is None:
        return "node is not on the PATH"
    if not NODE_SCRIPT.exists():
        return f"{NODE_SCRIPT} is missing (run from a clone of the repository)"
    modules = NODE_CACHE / "node_modules"
    if not (modules / "ws").is_dir():
        return (f"the ws npm package is not in {NODE_CACHE} (install it once with "
                f"'npm install --prefix {NODE_CACHE} ws@8'; .ci/run does)")
    return [node, str(NODE_SCRIPT), "0"], {"NODE_PATH": str(modules)}


class _Peers:
    """Starts the requested peers; :meth:`close` stops every child and server it started."""

    def __init__(self, names: Sequence[str], say: Say) -> None:
        self.targets: list[Target] = []
        self.skipped: dict[str, str] = {}
        self.children: list[_Child] = []
        self._server: Any = None
        self._process: Any = None
        unknown = [n for n in names if n not in PEERS]
        if unknown:
            raise ValueError(f"unknown peers {unknown}; choose from {list(PEERS)}")
        try:
            for name in names:
                self._start(name, say)
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, say: Say) -> None:
        if name == "wslab":
            from wslab.net.server import serve
            self._server = serve(name="bench")
            self.targets.append(Target(name, self._server.url, self._server.chat_url,
                                       os.getpid(), _in_process_trigger(self._server)))
            return
        if name == "wslab-process":  # as users run it: serve(process=True), called from here
            from wslab.net.server import serve as serve_process
            proc = serve_process(name="bench-process", process=True)
            self._process = proc

            def trigger(text: str) -> int:
                t0 = time.perf_counter_ns()
                proc.broadcast(text)  # the pipe hop to the child is part of the figure
                return t0

            self.targets.append(Target(name, proc.url, proc.chat_url, proc.pid, trigger))
            return
        if name == "websockets":
            try:
                import websockets.asyncio.server  # noqa: F401
            except ImportError:
                self.skipped[name] = ("the websockets package is not installed "
                                      "(pip install websockets)")
                say(f"skipping {name}: {self.skipped[name]}")
                return
        if name == NODE:
            how = node_peer()
            if isinstance(how, str):
                self.skipped[name] = how
                say(f"skipping {name}: {how}")
                return
            argv, env = how
            child = _Child(name, argv, env_extra=env)
        elif name == "tornado":  # -I: no PYTHONPATH, nothing of wslab on the way in
            child = _Child(name, [sys.executable, "-I", str(TORNADO_SCRIPT)])
        else:
            child = _py_child(name, "targets", "_serve_child", name)
        self.children.append(child)
        try:
            port = int(child.ready_line(60))
        except (RuntimeError, ValueError) as exc:
            self.skipped[name] = f"did not start: {exc}"
            say(f"skipping {name}: {self.skipped[name]}")
            return
        base = f"ws://127.0.0.1:{port}"
        self.targets.append(Target(name, f"{base}/echo", f"{base}/chat", child.pid,
                                   _child_trigger(child)))

    def close(self) -> None:
        for child in self.children:
            child.stop()
        self.children = []
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._process is not None:
            self._process.stop()
            self._process = None
