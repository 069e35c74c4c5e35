"""Accepting TCP connections, and backing off when the process runs out of resources
(layer 2, I/O).

Tornado's accept handler re-raises ``EMFILE`` ("too many open files"): the
listening socket stays readable, so the loop calls it again at once, and each
call prints a traceback -- tens of thousands a second, while nothing is served.
:class:`Acceptor` accepts like Tornado (a batch per wake-up, then hands each
socket to the HTTP server), but when ``accept()`` fails for want of a file
descriptor or memory (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``) it stops
listening for a while (50 ms, doubling up to 2 s), reports the episode once
through ``on_exhausted`` and tries again; the waiting connections stay in the
kernel's backlog meanwhile.

With ``fd_reserve``, the last file descriptors of the process's ``RLIMIT_NOFILE``
are kept for the rest of the process (a kernel that must still open files): a
connection whose descriptor falls among them is answered ``503`` and closed at
once.  The kernel hands out the lowest free descriptor, so a new socket's number
reaching ``limit - fd_reserve`` means at most ``fd_reserve`` are left.

Without a reserve, a client never hangs at the limit either: the acceptor holds one
spare descriptor, and when ``accept()`` fails with ``EMFILE``/``ENFILE`` it closes the
spare, accepts the waiting clients one at a time on it, answers each ``503`` and
closes it, then takes its spare back and backs off as above (a client arriving
meanwhile waits at most ``BACKOFF_MAX`` seconds for its 503).  :func:`raise_file_limit`
lifts the process's soft ``RLIMIT_NOFILE`` to the hard one (a server calls it as it
starts, and says so in an event).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import socket
from collections.abc import Callable
from typing import Any

from ...protocol.handshake import build_error_response

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "RESOURCE_ERRNOS", "Acceptor", "describe",
           "fd_ceiling", "raise_file_limit"]

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_NO_FD = frozenset({errno.EMFILE, errno.ENFILE})
BACKOFF_FIRST = 0.05   # seconds without accepting after the first failure ...
BACKOFF_MAX = 2.0      # ... doubling up to this
_BATCH = 128           # connections accepted per wake-up (Tornado's default backlog)


class Acceptor:
    """Accept on ``sockets`` (lab loop only): ``on_connection(sock, address)`` per client.

    ``on_exhausted(exc)`` is called once per episode of failures (not per failure);
    ``refusals`` counts the failed ``accept()`` calls, ``episodes`` the episodes;
    ``fd_refusals`` the connections refused to keep ``fd_reserve`` descriptors free;
    ``on_full(refused_so_far)``, if given, is called on the first such refusal of an
    episode (an episode ends when a connection is accepted again).  ``limit_refusals``
    counts the clients answered 503 on the spare descriptor when none was left.
    """

    def __init__(self, sockets: list[socket.socket],
                 on_connection: Callable[[socket.socket, Any], None],
                 on_exhausted: Callable[[OSError, float], None], *,
                 fd_reserve: int | None = None,
                 on_full: Callable[[int], None] | None = None) -> None:
        self.sockets = list(sockets)
        self._on_connection = on_connection
        self._on_exhausted = on_exhausted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._delay = BACKOFF_FIRST
        self.exhausted = False
        self.refusals = 0
        self.episodes = 0
        self.stopped = False
        self.fd_reserve = fd_reserve
        self.fd_refusals = 0
        self._on_full = on_full
        self._full = False
        self._spare: int | None = None
        self.limit_refusals = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._take_spare()
        for sock in self.sockets:
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(_BATCH):
            try:
                conn, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the backlog
            except OSError as exc:
                if exc.errno in _NO_FD:
                    self._refuse_on_spare(sock)
                self._back_off(sock, exc)
                return
            if self.exhausted:
                self.exhausted, self._delay = False, BACKOFF_FIRST
            if self.fd_reserve is not None and conn.fileno() >= fd_ceiling(self.fd_reserve):
                self._refuse_full(conn)
                continue
            self._full = False
            try:
                self._on_connection(conn, address)
            except OSError:
                conn.close()  # e.g. the client reset before TLS could start

    def _take_spare(self) -> None:
        if self._spare is None:
            try:
                self._spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._spare = None  # none free now; taken again after the next refusal

    def _refuse_on_spare(self, sock: socket.socket) -> None:
        """No descriptor left: answer the waiting clients 503 one at a time on the spare."""
        for _ in range(_BATCH):
            if self._spare is None:
                return
            os.close(self._spare)
            self._spare = None
            try:
                conn, _address = sock.accept()
            except OSError:
                self._take_spare()
                return
            self.limit_refusals += 1
            _answer_503(conn, "server out of file descriptors (RLIMIT_NOFILE); try again later")
            self._take_spare()

    def _refuse_full(self, conn: socket.socket) -> None:
        """Answer 503 (best effort, never blocking) and close: the reserve is reached."""
        self.fd_refusals += 1
        if not self._full:
            self._full = True
            if self._on_full is not None:
                self._on_full(self.fd_refusals)
        _answer_503(conn, "server full: the file descriptors left are kept for the kernel; "
                          "try again later")

    def _back_off(self, sock: socket.socket, exc: OSError) -> None:
        """Stop listening on ``sock`` for a while; report the first failure of an episode."""
        assert self._loop is not None
        self.refusals += 1
        fd = sock.fileno()
        self._loop.remove_reader(fd)
        delay = self._delay
        self._delay = min(BACKOFF_MAX, delay * 2)
        if not self.exhausted:
            self.exhausted = True
            self.episodes += 1
            self._on_exhausted(exc, delay)
        self._timers[fd] = self._loop.call_later(delay, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        self._timers.pop(sock.fileno(), None)
        if not self.stopped and self._loop is not None and sock.fileno() >= 0:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
            self._accept(sock)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets (safe twice)."""
        self.stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for sock in self.sockets:
            if sock.fileno() >= 0:
                if self._loop is not None:
                    self._loop.remove_reader(sock.fileno())
                sock.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None


def _answer_503(conn: socket.socket, reason: str) -> None:
    """Answer 503 with ``reason`` (best effort, never blocking) and close ``conn``."""
    try:
        conn.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            conn.recv(65536)  # unread input would make close() reset the connection
        conn.send(build_error_response(503, reason))
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


def raise_file_limit() -> tuple[int, int] | None:
    """Lift this process's soft ``RLIMIT_NOFILE`` to its hard limit, where it may.

    Returns ``(old, new)`` when it was raised, None when it already was at the hard
    limit or the system refused (the process keeps the limit it had).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    target = hard
    if hard == resource.RLIM_INFINITY:  # Linux caps it at fs.nr_open
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            return None
    if soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        return None
    return soft, target


def fd_ceiling(reserve: int) -> int:
    """The first descriptor number of the reserve: ``RLIMIT_NOFILE``'s soft limit minus
    ``reserve`` (no limit: no ceiling below 2**31)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 31
    return soft - reserve


def describe(exc: OSError) -> str:
    """``EMFILE (Too many open files)`` for an accept error."""
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{name} ({exc.strerror or exc})"
