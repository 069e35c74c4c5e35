"""The wire-level clients of the benchmark: bytes in, bytes out.

Two minimal WebSocket clients, the same for every server measured so that the
client's cost is a constant: :class:`_Wire`, an asyncio protocol that writes
pre-encoded masked frames and counts the data frames that come back
(pipelined and paced runs), and :func:`_fanout_child`, a child process holding
N blocking sockets read with ``epoll`` (broadcast fan-out and idle clients for
the memory figure).  Every byte is built and read by :mod:`wslab.protocol`:
the opening handshake by :mod:`~wslab.protocol.handshake` (``build_request``,
``split_head``, ``check_response``), URLs by :func:`~wslab.protocol.uri.parse_ws_uri`,
frames by :mod:`~wslab.protocol.frames` (``encode_frame``, ``split_frames``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from wslab.protocol import frames, handshake
from wslab.protocol.errors import HandshakeError, ProtocolError
from wslab.protocol.uri import WsUri, parse_ws_uri

MAX_HEAD = 64 * 1024  # bytes of a handshake answer at most


def _client_frame(payload: bytes, opcode: frames.Opcode = frames.Opcode.TEXT) -> bytes:
    return frames.encode_frame(frames.Frame(opcode, payload, mask_key=os.urandom(4)))


class _Wire(asyncio.Protocol):
    """Handshake, then pre-encoded masked frames out and data frames counted in.

    It reads server frames with :func:`wslab.protocol.frames.split_frames` (no
    Frame objects; the header rules still checked), answers
    pings and closes, and calls ``on_frame(wire, payload, t_ns)`` per data frame
    with ONE timestamp per chunk read from the socket (those frames arrived
    together).  ``on_chunk(wire)`` runs after each chunk.  Cheap on purpose: the
    same few microseconds per message for every server measured.
    """

    def __init__(self, uri: WsUri,
                 on_frame: Callable[[_Wire, bytes, int], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.target = uri.url
        self._request, self._key = _upgrade_request(uri)
        self.on_frame = on_frame
        self.on_chunk: Callable[[_Wire], None] | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.frames_in = 0
        self._head = b""
        self._buf = b""
        self._open = False
        self._close_sent = False

    # asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self._open:
            self._head += data
            try:
                rest = _upgrade_answer(self._head, self._key)
            except ConnectionError as exc:
                self._fail(str(exc))
                return
            if rest is None:
                return
            data, self._head = rest, b""
            self._open = True
            if not self.opened.done():
                self.opened.set_result(None)
            if not data:
                return
        self._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"{self.target}: closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    # frames -------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        t = time.perf_counter_ns()
        try:
            got, self._buf = frames.split_frames(self._buf + data if self._buf else data)
        except ProtocolError as exc:
            self._fail(f"the server broke a frame rule: {exc.rule}")
            return
        on_frame = self.on_frame
        for op, payload in got:
            if op <= 2:
                self.frames_in += 1
                if on_frame is not None:
                    on_frame(self, payload, t)
            elif op == 9:
                self.write(_client_frame(payload, frames.Opcode.PONG))
            elif op == 8:
                self._send_close()
                if self.transport is not None:
                    self.transport.close()
                return
        if self.on_chunk is not None:
            self.on_chunk(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _send_close(self) -> None:
        if not self._close_sent and self.transport is not None \
                and not self.transport.is_closing():
            self._close_sent = True
            self.transport.write(frames.encode_frame(frames.Frame.close(1000,
                                                                        mask_key=os.urandom(4))))

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"{self.target}: {why}"))
        if self.transport is not None:
            self.transport.abort()

    async def aclose(self, timeout: float = 2.0) -> None:
        """Closing handshake, then drop TCP if the server has not within ``timeout``."""
        if self._open:
            self._send_close()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            pass
        if self.transport is not None and not self.closed.done():
            self.transport.abort()


def _ws_uri(url: str) -> WsUri:
    uri = parse_ws_uri(url)
    if uri.secure:
        raise ValueError(f"the benchmark needs a ws:// URL (no TLS), got {url!r}")
    return uri


def _upgrade_request(uri: WsUri) -> tuple[bytes, str]:
    """The opening handshake for ``uri`` and its key (RFC 6455 section 4.1)."""
    key = handshake.make_key()
    return handshake.build_request(host=uri.host_header, path=uri.resource, key=key), key


def _upgrade_answer(buf: bytes, key: str) -> bytes | None:
    """The bytes after a checked 101 answer in ``buf``, None while its head is incomplete;
    ConnectionError naming the broken rule otherwise (RFC 6455 section 4.1)."""
    try:
        cut = handshake.split_head(buf, limit=MAX_HEAD)
        if cut is None:
            return None
        handshake.check_response(cut[0], key)
    except HandshakeError as exc:
        raise ConnectionError(f"bad handshake answer: {exc.rule} ({exc})") from None
    return cut[1]


async def _wire_connect(url: str, on_frame: Callable[[_Wire, bytes, int], None] | None = None,
                        timeout: float = 10.0) -> _Wire:
    uri = _ws_uri(url)
    loop = asyncio.get_running_loop()
    proto = _Wire(uri, on_frame)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: proto, uri.host, uri.port), timeout)
        await asyncio.wait_for(asyncio.shield(proto.opened), timeout)
    except BaseException:
        if proto.transport is not None:
            proto.transport.abort()
        raise
    return proto


# ---------------------------------------------------------------------------


def _blocking_connect(url: str, timeout: float) -> tuple[Any, bytes]:
    """A plain blocking socket after a checked opening handshake; (socket, bytes after it)."""
    import socket

    uri = _ws_uri(url)
    request, key = _upgrade_request(uri)
    sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        head = b""
        rest = None
        while rest is None:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{url}: no complete handshake answer")
            head += chunk
            rest = _upgrade_answer(head, key)
    except BaseException:
        sock.close()
        raise
    return sock, rest


class _Receivers:
    """``n`` blocking-connected clients read with one ``epoll`` (the fan-out child's side)."""

    def __init__(self, url: str, n: int) -> None:
        import select

        deadline = time.monotonic() + 120
        self.n = n
        self.socks: list[Any] = []
        self.bufs: list[bytes] = []
        for _ in range(n):
            sock, rest = _blocking_connect(url, max(0.5, deadline - time.monotonic()))
            self.socks.append(sock)
            self.bufs.append(rest)
        self.by_fd = {s.fileno(): i for i, s in enumerate(self.socks)}
        self.ep = select.epoll()
        for s in self.socks:
            s.setblocking(False)
            self.ep.register(s.fileno(), select.EPOLLIN)
        self.seen = [b""] * n
        self.live = set(self.by_fd)

    def _recv(self, fd: int) -> bytes | None:
        """What one socket has (None: nothing yet); b"" (and forgotten) once it closed."""
        try:
            data = self.socks[self.by_fd[fd]].recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.ep.unregister(fd)
            self.live.discard(fd)
        return data

    def _receipts(self, fd: int, expect: bytes) -> int:
        """Read one socket: answer pings, count 1 if ``expect`` arrived there first now."""
        data = self._recv(fd)
        if not data:
            return 0
        i = self.by_fd[fd]
        got, self.bufs[i] = frames.split_frames(self.bufs[i] + data)
        new = 0
        for op, payload in got:
            if op == frames.Opcode.PING:
                self.socks[i].send(_client_frame(payload, frames.Opcode.PONG))
            elif op <= frames.Opcode.BINARY and payload == expect and self.seen[i] != expect:
                self.seen[i] = expect
                new += 1
        return new

    def rep(self, tag: str, limit: float, send: bool = True) -> tuple[int, int]:
        """(ns from the trigger to the last receipt, receipts); without ``send`` the
        server broadcasts by itself and the first figure is the last receipt's
        ``perf_counter_ns()`` (-1 if incomplete)."""
        expect = f"bcast:{tag}:".encode().ljust(32, b".")
        count, t_last, t0 = 0, 0, 0
        end = time.monotonic() + limit
        if send:
            frame = _client_frame(expect)
            t0 = time.perf_counter_ns()
            self.socks[0].send(frame)
        else:
            print("ARMED", flush=True)
        while count < self.n:
            left = end - time.monotonic()
            if left <= 0:
                return -1, count
            events = self.ep.poll(left)
            t = time.perf_counter_ns()
            for fd, _ in events:
                new = self._receipts(fd, expect)
                if new:
                    count, t_last = count + new, t
        return t_last - t0, count

    def close(self) -> None:
        """Close frames to all, a short wait for each server's Close and FIN, then close."""
        close = frames.encode_frame(frames.Frame.close(1000, mask_key=b"wslb"))
        for s in self.socks:
            try:
                s.send(close)
            except OSError:
                pass
        end = time.monotonic() + 2
        while self.live and time.monotonic() < end:
            for fd, _ in self.ep.poll(max(0.0, end - time.monotonic())):
                self._recv(fd)
        for s in self.socks:
            s.close()
        self.ep.close()


def _fanout_child(url: str, n: int, timeout: float, warm: bool) -> None:
    """Child-process entry: ``n`` clients on ``url``, driven by lines on stdin.

    Prints ``READY n`` once connected (and, with ``warm``, once a warm-up
    broadcast reached all of them: some servers register a client a loop turn
    after its handshake).  Then each ``rep TAG`` line makes client 0 send a
    trigger and prints ``NS COUNT``: nanoseconds from writing the trigger to the
    LAST client's receipt (-1 if incomplete within ``timeout``) and how many
    clients received it.  An ``arm TAG LIMIT`` line prints ``ARMED`` and waits
    for a broadcast the server makes by itself, then prints ``T_NS COUNT`` with
    T_NS the ``perf_counter_ns()`` of the last receipt.  A raw ``epoll`` loop reads the
    sockets, so receiving costs a few microseconds per client; the timestamp is taken when ``poll``
    returns, after which that batch of receipts had already arrived.  EOF on
    stdin closes every connection (Close frame, short wait) and exits.
    """
    clients = _Receivers(url, n)
    if warm:
        for k in range(20):
            ns, count = clients.rep(f"warm{k}", 2.0)
            if ns >= 0:
                break
        else:
            raise ConnectionError(f"{url}: no warm-up broadcast reached all {n} clients "
                                  f"(last: {count})")
    print(f"READY {n}", flush=True)
    for line in sys.stdin:
        cmd, _, tag = line.strip().partition(" ")
        if cmd == "rep":
            ns, count = clients.rep(tag, timeout)
        elif cmd == "arm":  # "arm TAG LIMIT": the server is about to broadcast
            tag, _, limit = tag.partition(" ")
            ns, count = clients.rep(tag, float(limit), send=False)
        else:
            break
        print(f"{ns} {count}", flush=True)
    clients.close()
