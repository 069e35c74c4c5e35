"""Real infrastructure as child processes: Debian's ``redis-server`` and ``nginx`` (layer 2, I/O).

Scaling out (notebook 11) needs a pub/sub backplane and a reverse proxy.  wslab
runs the real programs, never a system service: each is a child process on a
free loopback port, with its configuration, pid file, logs and temporary files
in a temporary directory that is removed when it stops.

* :func:`redis` starts ``redis-server DIR/redis.conf --port P --bind 127.0.0.1 --save ''
  --appendonly no --dir DIR`` (no persistence: the lab's data lives as long as the process;
  redis.conf, mode 0600, holds the password its URL carries).
* :class:`Nginx` starts ``nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`` with a
  configuration you give it (see :mod:`wslab.net.cluster` for the WebSocket one).

Each is a :class:`~wslab.net.children.Child`: its stdout and stderr are drained
by a thread into a bounded buffer (``service.log_tail``), and it dies with the
kernel.  Everything stops with ``wslab.stop_all()`` and when
the interpreter exits.  A missing program raises :class:`ServiceMissing`
naming the Debian package to install.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import time

from ..protocol.errors import WSLabError
from . import loop as lab
from .children import Child, spawn, work_dir
from .errors import ServerStartError

START_TIMEOUT = 10.0
_children: set[ChildService] = set()


class ServiceMissing(WSLabError, FileNotFoundError):
    """A program wslab runs as a child (redis-server, nginx) is not installed."""


def find_program(name: str, *, package: str,
                 extra_dirs: tuple[str, ...] = ("/usr/sbin", "/sbin")) -> str:
    """The path of ``name`` on PATH or in ``extra_dirs``; else :class:`ServiceMissing`.

    ``nginx`` lives in /usr/sbin, which is not on every user's PATH.
    """
    path = shutil.which(name)
    if path is None:
        for d in extra_dirs:
            candidate = os.path.join(d, name)
            if os.access(candidate, os.X_OK):
                path = candidate
                break
    if path is None:
        raise ServiceMissing(
            f"{name} is not installed; on Debian/Ubuntu install it with "
            f"`sudo apt-get install {package}` (wslab runs it as a child process, "
            f"never as a system service)")
    return path


#: where :func:`free_port` looks when the kernel's ephemeral range cannot be read
_FALLBACK_EPHEMERAL_LOW = 32768
_PICK_SPAN = 12000  # ports below the ephemeral range to pick from
_PICK_TRIES = 200


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_LOW


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now, for a child to bind next.

    The port is picked below the kernel's ephemeral range (``ip_local_port_range``), never
    inside it: every outgoing connection and every ``bind(port 0)`` takes its port from that
    range, so a port found free there can be taken again before the child binds it (a busy
    machine with many clients does, and the child then fails with "Address already in use").
    Below the range only another explicit choice can take it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = _ephemeral_low()
    first = max(1024, low - _PICK_SPAN)
    rng = secrets.SystemRandom()
    for _ in range(_PICK_TRIES):
        port = rng.randrange(first, low)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family, socket.SOCK_STREAM) as s:  # everything below is taken
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ChildService:
    """A program running as our child process on a loopback port (layer 2)."""

    _stop_order = 3  # after servers (2): they talk to it while they stop
    program = "service"

    def __init__(self, argv: list[str], *, port: int, workdir: str, host: str = "127.0.0.1",
                 own_workdir: bool = True, timeout: float = START_TIMEOUT) -> None:
        self.argv = list(argv)
        self.host = host
        self.port = port
        self.workdir = workdir
        self._own_workdir = own_workdir
        self._child: Child | None = None
        self._start(timeout)
        lab.register(self)
        _children.add(self)

    # --- life cycle ---------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        child = self._child = spawn(self.argv, what=self.program, cwd=self.workdir,
                                    stdin=False, merge_stderr=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if not child.running:
                child.stop(2.0)
                raise ServerStartError(
                    f"{self.program} exited with status {child.returncode} before "
                    f"listening on {self.host}:{self.port}; its last output:\n  "
                    + "\n  ".join(self.log_tail[-10:] or ["(none)"]))
            if time.monotonic() > deadline:
                child.stop(2.0)
                raise ServerStartError(f"{self.program} did not listen on {self.host}:{self.port} "
                                       f"within {timeout} s")
            time.sleep(0.01)

    @property
    def log_tail(self) -> list[str]:
        """The last lines the program printed (stdout and stderr, bounded in bytes)."""
        return self._child.tail_lines(200) if self._child is not None else []

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the program if it runs (nginx: SIGHUP reloads its configuration)."""
        if self._child is not None:
            self._child.signal(sig)

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash looks like to its clients.  ``start()`` again."""
        if self._child is not None:
            self._child.kill()

    def restart(self, *, timeout: float = START_TIMEOUT) -> None:
        """Stop (if running) and start again on the same port with the same files."""
        if self._child is not None:
            self._child.stop(5.0, close_stdin=False)
        self._start(timeout)
        lab.register(self)
        _children.add(self)

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """End the process (SIGTERM, then SIGKILL) and remove its temporary directory.
        Safe to call twice."""
        if self._child is not None:
            self._child.stop(min(timeout, 5.0), close_stdin=False)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        lab.unregister(self)
        _children.discard(self)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} pid={self.pid} {state} {self.host}:{self.port}>"


#: the child redis-server's memory bound in bytes (``maxmemory``, policy ``noeviction``)
MAXMEMORY = 256 << 20


class RedisServer(ChildService):
    """Debian's ``redis-server`` on a loopback port, without persistence (layer 2)."""

    program = "redis-server"

    def __init__(self, *, port: int = 0, timeout: float = START_TIMEOUT) -> None:
        exe = find_program("redis-server", package="redis-server")
        port = port or free_port()
        workdir = work_dir("wslab-redis")  # mode 0700: only we read it
        # one password and one bus key per Redis; the password goes in a config file
        # (0600), never on a command line that ``ps`` shows
        self.password = secrets.token_urlsafe(24)
        self.bus_key = secrets.token_hex(32)
        conf = os.path.join(workdir, "redis.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {self.password}\n")
        argv = [exe, conf, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", workdir, "--protected-mode", "yes",
                "--loglevel", "warning",
                # bounded, and never evicting /ack state silently: writes fail loudly instead
                "--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "noeviction"]
        super().__init__(argv, port=port, workdir=workdir, timeout=timeout)

    @property
    def url(self) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/0#key=HEX``, what ``serve(backplane=...)`` takes.

        The fragment is the bus key servers sign envelopes with (Redis never sees it);
        the URL is a secret: a process server gets it over its stdin.
        """
        return f"redis://:{self.password}@{self.host}:{self.port}/0#key={self.bus_key}"


def redis(*, port: int = 0, timeout: float = START_TIMEOUT) -> RedisServer:
    """Start ``redis-server`` as a child process on a free loopback port."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port is an integer 0-65535 (0 = any free port), got {port!r}")
    return RedisServer(port=port, timeout=timeout)


TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_preamble(workdir: str) -> str:
    """The part of nginx.conf that keeps nginx inside ``workdir``: pid, logs, temp paths."""
    user = ""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root nginx would switch its workers to an unprivileged user that cannot
        # enter our private temporary directory; a lab on loopback keeps them as root.
        user = "user root root;  # started as root: workers stay root (a lab on loopback only)\n"
    return (f"{user}"
            "worker_processes 1;\n"
            f"pid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/error.log warn;\n")


def nginx_temp_paths(workdir: str, indent: str = "    ") -> str:
    """Every *_temp_path inside ``workdir`` (nginx's defaults point into /var/lib/nginx)."""
    return "".join(f"{indent}{name}_temp_path {workdir}/{name}_temp;\n" for name in TEMP_PATHS)


class Nginx(ChildService):
    """Debian's ``nginx`` with a generated configuration, in the foreground (layer 2).

    ``config`` is the text of nginx.conf; ``{workdir}`` in it is replaced by the
    temporary directory (use :func:`nginx_preamble` and :func:`nginx_temp_paths`).
    """

    program = "nginx"

    def __init__(self, config: str, *, port: int, timeout: float = START_TIMEOUT) -> None:
        exe = find_program("nginx", package="nginx")
        workdir = work_dir("wslab-nginx")
        self.config_path = os.path.join(workdir, "nginx.conf")
        self.config = config.replace("{workdir}", workdir)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config)
        # -e: the error log before the configuration is read (else /var/log/nginx/error.log)
        argv = [exe, "-p", workdir, "-c", self.config_path, "-e", f"{workdir}/error.log",
                "-g", "daemon off;"]
        try:
            super().__init__(argv, port=port, workdir=workdir, timeout=timeout)
        except ServerStartError as exc:
            log = self.error_log()
            shutil.rmtree(workdir, ignore_errors=True)
            raise ServerStartError(f"{exc}\nnginx error.log:\n{log[-2000:]}") from None

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.workdir, "error.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def reload(self, config: str | None = None) -> None:
        """Write a new configuration (optional) and tell nginx to load it (SIGHUP)."""
        if config is not None:
            self.config = config.replace("{workdir}", self.workdir)
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(self.config)
        self.signal(signal.SIGHUP)


def stop_children() -> None:
    """Kill every child service still running (the interpreter is exiting)."""
    for child in list(_children):
        try:
            child.stop(timeout=2)
        except Exception:  # noqa: BLE001 - at exit, try them all
            pass


atexit.register(stop_children)
