"""A WebSocket server and client on plain sockets, built from a learner's own pieces
(layer 3, labs).

Notebook 02a has the learner write every protocol step of a server: the handshake,
reading a frame, checking it, reassembling messages, answering control frames,
encoding frames.  :class:`OwnServer` is the plain-socket loop that calls those pieces,
one thread per connection, in this order (RFC 6455 sections 4, 5 and 7)::

    request = <the HTTP head, read up to the blank line>
    send(handshake(request))                     # 101, or an HTTP error that ends it
    state = {}
    loop:
        h, payload = read_frame(recv_exactly)    # recv_exactly(n): n bytes of the socket
        check_frame(h)                           # raise Fail(code, reason) to fail
        if h["opcode"] >= 8:                     # control: ping, pong, close
            reply = control(h, payload)
            send(reply) if reply                 # a Pong, or the Close answer
            stop after a Close
        else:
            message = assemble(state, h, payload)    # str, bytes, or None (not yet)
            send(encode_frame(1 or 2, reply(message)))   # the echo by default

A piece raises :class:`Fail` to fail the connection: the loop sends
``encode_frame(8, code + reason)`` (the learner's encoder) and closes.  Anything else a
piece raises is the server's own bug: the loop closes with 1011 (internal error) and
records it in :attr:`OwnServer.errors`.  What the loop itself guards, so that a learner's
server can never wedge the kernel: every socket wait has a timeout, a request head is at
most 16 KiB, a message at most ``max_message`` bytes (1009), at most
``max_connections`` connections, and :meth:`OwnServer.stop` ends every connection.

:class:`OwnClient` is the mirror image for the client part: the learner's upgrade
request, response check and masking encoder on a plain socket.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..i18n import N_, _, later, shown
from ..net import loop as lab
from ..net.errors import ConnectionFailed, ServerStartError
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import WSLabError
from ..protocol.uri import parse_ws_uri

__all__ = ["CLIENT_PIECES", "PIECES", "Fail", "Meeting", "OwnClient", "OwnServer", "PeerGone",
           "meet_clients", "start", "talk"]

HEAD_MAX = 16 * 1024
MESSAGE_MAX = 16 * 1024 * 1024
LOG_MAX = 500
#: the learner's server pieces, in the order the loop calls them
PIECES = ("handshake", "read_frame", "check_frame", "assemble", "control", "encode_frame")


class Fail(WSLabError):  # noqa: N818 - the learner writes `raise Fail(1002, "why")`
    """Raise ``Fail(code, reason)`` in a piece to fail the connection (RFC 6455 7.1.7):
    the server sends a Close with ``code`` and ``reason``, then closes."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"fail the connection with {code} {reason!r}")
        self.code = code
        self.reason = reason


class PeerGone(WSLabError):
    """The peer closed TCP, reset it, or sent nothing within the timeout."""


class _Socket:
    """One accepted socket with bounded reads: what the learner's ``recv_exactly`` reads."""

    def __init__(self, sock: socket.socket, *, timeout: float, max_message: int) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buffer = bytearray()
        self.max_message = max_message
        self.since_message = 0   # payload bytes read since the last whole message

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, OSError) as exc:
            raise PeerGone(f"no more bytes ({type(exc).__name__})") from None
        if not chunk:
            raise PeerGone("the peer closed TCP")
        self.buffer += chunk

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > HEAD_MAX:
                raise PeerGone(f"no end of the HTTP head within {HEAD_MAX} bytes")
            self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return head

    def recv_exactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes from the socket (waiting for them, within the timeout)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"recv_exactly(n) takes an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"recv_exactly({n}): a length is never negative")
        self.since_message += n
        if self.since_message > self.max_message:
            raise Fail(1009, f"message over {self.max_message} bytes")
        while len(self.buffer) < n:
            self._fill()
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def send(self, data: object) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a piece returned {type(data).__name__} where bytes go on the "
                            "wire")
        try:
            self.sock.sendall(bytes(data))
        except (TimeoutError, OSError) as exc:
            raise PeerGone(f"sending failed ({type(exc).__name__})") from None

    def linger(self, seconds: float) -> None:
        """After our Close: stop sending, read what the peer still sends (its Close) until it
        closes or ``seconds`` pass, so closing never resets unread data."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    break

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass(frozen=True)
class _Call:
    """A piece raised something other than Fail: the server's own bug."""

    piece: str
    error: BaseException


def _short_reason(text: str) -> str:
    data = text.encode("utf-8")[:123]
    return data.decode("utf-8", "ignore")


class OwnServer:
    """A WebSocket server on a plain socket whose every protocol step is a learner's piece.

    ``pieces`` maps each name of :data:`PIECES` to a function.  ``reply(message)`` makes
    the answer to a message (None: the echo); it may return None to answer nothing.
    Stop it with :meth:`stop` (``wslab.stop_all()`` stops it too).
    """

    _stop_order = 2

    def __init__(self, pieces: dict[str, Callable[..., Any]], *, name: str = "own",
                 host: str = "127.0.0.1", port: int = 0,
                 reply: Callable[[str | bytes], str | bytes | None] | None = None,
                 timeout: float = 120.0, max_connections: int = 16,
                 max_message: int = MESSAGE_MAX) -> None:
        missing = [p for p in PIECES if not callable(pieces.get(p))]
        if missing:
            raise ValueError(f"the server needs a function for each piece; missing or not a "
                             f"function: {', '.join(missing)}")
        self.pieces = {p: pieces[p] for p in PIECES}
        self.name = name
        self.reply = reply
        self.timeout = timeout
        self.max_connections = max_connections
        self.max_message = max_message
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_MAX)
        self.errors: list[_Call] = []
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._conns: dict[int, _Socket] = {}
        self._threads: list[threading.Thread] = []
        self._next_id = 0
        self._stopping = threading.Event()
        try:
            self._listener: socket.socket | None = socket.create_server((host, port))
        except OSError as exc:
            raise ServerStartError(f"cannot listen on {host}:{port}: {exc}") from None
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"wslab-own-{name}-accept")
        self._accepter.start()
        lab.register(self)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def _note(self, text: str) -> None:
        self.log.append(f"{(time.monotonic() - self._t0) * 1000:9.1f} ms  {text}")

    # --- connections ---------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                full = len(self._conns) >= self.max_connections
                self._next_id += 1
                cid = self._next_id
                if not full:
                    self._conns[cid] = _Socket(sock, timeout=self.timeout,
                                               max_message=self.max_message)
                    self._threads = [t for t in self._threads if t.is_alive()]
            if full:
                self._note(f"#{cid} refused: already {self.max_connections} connections")
                sock.close()
                continue
            t = threading.Thread(target=self._serve, args=(cid, addr), daemon=True,
                                 name=f"wslab-own-{self.name}-{cid}")
            with self._lock:
                self._threads.append(t)
            t.start()

    def _call(self, piece: str, *args: Any) -> Any:
        try:
            return self.pieces[piece](*args)
        except (Fail, PeerGone):
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's bug becomes a 1011 close
            raise _PieceError(_Call(piece, exc)) from None

    def _serve(self, cid: int, addr: tuple[Any, ...]) -> None:
        conn = self._conns[cid]
        upgraded = False
        try:
            upgraded = self._handshake(cid, conn, addr)
            if upgraded:
                self._frames(cid, conn)
        except PeerGone as exc:
            self._note(f"#{cid} gone: {exc}")
        except Fail as exc:
            self._fail(cid, conn, exc, upgraded)
        except _PieceError as exc:
            self._crash(cid, conn, exc.call, upgraded)
        except Exception as exc:  # noqa: BLE001 - a thread must never print a traceback
            self._crash(cid, conn, _Call("the server loop", exc), upgraded)
        finally:
            conn.close()
            with self._lock:
                self._conns.pop(cid, None)

    def _handshake(self, cid: int, conn: _Socket, addr: tuple[Any, ...]) -> bool:
        request = conn.read_head()
        self._note(f"#{cid} {addr[0]}:{addr[1]} < {_first_line(request)}")
        response = self._call("handshake", request)
        conn.send(response)
        self._note(f"#{cid} > {_first_line(response)}")
        return hs.status_of(bytes(response)) == 101

    def _frames(self, cid: int, conn: _Socket) -> None:
        state: dict[str, Any] = {}
        while not self._stopping.is_set():
            h, payload = _frame_of(self._call("read_frame", conn.recv_exactly))
            self._call("check_frame", h)
            op = h["opcode"]
            self._note(f"#{cid} < opcode {op} {_preview(payload, binary=op not in (0, 1))}"
                       + ("" if h.get("fin", True) else " (FIN=0)"))
            if op >= 8:
                answer = self._call("control", h, payload)
                if answer:
                    conn.send(answer)
                    self._note(f"#{cid} > {_preview(bytes(answer), binary=True)}")
                if op == 8:
                    self._note(f"#{cid} closing handshake done: TCP closed")
                    return
                continue
            message = self._call("assemble", state, h, payload)
            if message is not None:
                conn.since_message = 0
                self._deliver(cid, conn, message)

    def _deliver(self, cid: int, conn: _Socket, message: object) -> None:
        if not isinstance(message, (str, bytes)):
            raise _PieceError(_Call("assemble", TypeError(
                f"assemble returned {type(message).__name__}; a message is str (text) or "
                "bytes (binary), None while it is incomplete")))
        answer = message if self.reply is None else self.reply(message)
        if answer is None:
            return
        opcode, data = (1, answer.encode("utf-8")) if isinstance(answer, str) else (2, answer)
        conn.send(self._call("encode_frame", opcode, data))
        self._note(f"#{cid} > {'TEXT' if opcode == 1 else 'BINARY'} "
                   f"{_preview(data, binary=opcode == 2)}")

    def _fail(self, cid: int, conn: _Socket, exc: Fail, upgraded: bool) -> None:
        self._note(f"#{cid} fail: {exc.code} {exc.reason!r}")
        reason = _short_reason(str(exc.reason))
        with contextlib.suppress(PeerGone):
            if not upgraded:  # no WebSocket yet: an HTTP refusal
                conn.send(hs.build_error_response(400, reason))
                return
            code = exc.code if isinstance(exc.code, int) and 0 <= exc.code < 65536 else 1011
            try:
                conn.send(self._call("encode_frame", 8, code.to_bytes(2, "big")
                                     + reason.encode("utf-8")))
            except (Fail, _PieceError) as err:
                bug = err.call if isinstance(err, _PieceError) else _Call("encode_frame", err)
                self._crash(cid, conn, bug, upgraded)
                return
            conn.linger(1.0)

    def _crash(self, cid: int, conn: _Socket, call: _Call, upgraded: bool) -> None:
        self.errors.append(call)
        what = f"{call.piece} raised {type(call.error).__name__}"
        detail = f": {call.error}" if str(call.error) else ""
        self._note(f"#{cid} error: {what}{detail}")
        with contextlib.suppress(PeerGone):
            if not upgraded:
                conn.send(hs.build_error_response(500, _short_reason(what + detail)))
                return
            conn.send(fr.encode_frame(fr.Frame.close(1011, _short_reason(what + detail))))
            conn.linger(1.0)

    # --- life cycle ----------------------------------------------------------------------
    def stop(self, *, timeout: float = 5.0) -> list[str]:
        """Close the listening socket and every connection; returns the names of threads
        still running a piece after ``timeout`` (a piece stuck in a loop), usually []."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            conns = list(self._conns.values())
            threads = [*self._threads, self._accepter]
        for c in conns:
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for t in threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        lab.unregister(self)
        if _RUNNING.get(self.name) is self:
            del _RUNNING[self.name]
        return [t.name for t in threads if t.is_alive()]

    def __repr__(self) -> str:
        state = "stopped" if self._stopping.is_set() else f"{self.connections} connection(s)"
        return f"<OwnServer {self.name!r} {self.url} {state}, {len(self.errors)} error(s)>"


class _PieceError(Exception):
    def __init__(self, call: _Call) -> None:
        super().__init__(call.piece)
        self.call = call


def _frame_of(result: object) -> tuple[dict[str, Any], bytes]:
    """Check what read_frame returned: (header dict with an int opcode, payload bytes)."""
    ok = (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)
          and isinstance(result[0].get("opcode"), int)
          and isinstance(result[1], (bytes, bytearray)))
    if not ok:
        raise _PieceError(_Call("read_frame", TypeError(
            "read_frame returns (h, payload): the header dict of parse_header and the "
            f"unmasked payload bytes; got {type(result).__name__}")))
    pair = cast(tuple[dict[str, Any], bytes], result)
    return pair[0], bytes(pair[1])


def _first_line(data: object) -> str:
    if not isinstance(data, (bytes, bytearray)):
        return f"({type(data).__name__}, not bytes)"
    return bytes(data).split(b"\r\n", 1)[0].decode("latin-1")


def _preview(data: bytes, *, binary: bool = False) -> str:
    if binary:
        return f"{data[:16].hex(' ')}{' ...' if len(data) > 16 else ''} [{len(data)} bytes]"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{data[:16].hex(' ')}{' ...' if len(data) > 16 else ''} [{len(data)} bytes]"
    return (repr(text) if len(text) <= 40 else repr(text[:37]) + "...") + f" [{len(data)} bytes]"


_RUNNING: dict[str, OwnServer] = {}


def start(*, name: str = "own", port: int = 0,
          reply: Callable[[str | bytes], str | bytes | None] | None = None,
          **pieces: Callable[..., Any]) -> OwnServer:
    """Start (or restart: the same ``name`` replaces the old one) a server from the pieces
    ``handshake``, ``read_frame``, ``check_frame``, ``assemble``, ``control`` and
    ``encode_frame`` (keyword arguments)."""
    unknown = sorted(set(pieces) - set(PIECES))
    if unknown:
        raise ValueError(f"unknown piece(s) {unknown}; the pieces are {list(PIECES)}")
    old = _RUNNING.pop(name, None)
    if old is not None:
        old.stop()
    server = OwnServer(pieces, name=name, port=port, reply=reply)
    _RUNNING[name] = server
    return server


# --- the client part --------------------------------------------------------------------------

#: the learner's client pieces
CLIENT_PIECES = ("upgrade_request", "check_upgrade", "client_frame", "read_frame", "assemble")


class OwnClient:
    """A client on a plain socket from the learner's pieces (RFC 6455 4.1, 5.1-5.5).

    ``upgrade_request(host, port, path, key)`` builds the request (notebook 01),
    ``check_upgrade(response, key)`` says whether the answer is a valid 101,
    ``client_frame(opcode, payload, key)`` builds a masked frame, ``read_frame`` and
    ``assemble`` read the server's frames (the server part's pieces).  A Ping is answered
    with the learner's masked Pong.  Every wait has ``timeout``.
    """

    def __init__(self, url: str, pieces: dict[str, Callable[..., Any]], *,
                 timeout: float = 5.0) -> None:
        missing = [p for p in CLIENT_PIECES if not callable(pieces.get(p))]
        if missing:
            raise ValueError(f"the client needs a function for each piece; missing or not a "
                             f"function: {', '.join(missing)}")
        self.url = url
        self.pieces = pieces
        self.log: list[str] = []
        self.close_code: int | None = None
        uri = parse_ws_uri(url, schemes=("ws",))
        try:
            sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
        except OSError as exc:
            raise ConnectionFailed(url, f"TCP connection failed ({exc})") from None
        self._sock = _Socket(sock, timeout=timeout, max_message=MESSAGE_MAX)
        self._state: dict[str, Any] = {}
        try:
            self._upgrade(uri.host, uri.port, uri.resource)
        except BaseException:
            self._sock.close()
            raise

    def _piece(self, name: str, *args: Any) -> Any:
        try:
            return self.pieces[name](*args)
        except (PeerGone, ConnectionFailed):
            raise
        except Exception as exc:  # noqa: BLE001 - named, then reported by talk()
            detail = f": {exc}" if str(exc) else ""
            if isinstance(exc, NotImplementedError):
                detail = " (not written yet)"
            raise ClientPieceError(f"{name} raised {type(exc).__name__}{detail}") from exc

    def _upgrade(self, host: str, port: int, path: str) -> None:
        key = hs.make_key()
        request = self._piece("upgrade_request", host, port, path, key)
        self._sock.send(request)
        self.log.append(f"> {_first_line(request)}")
        response = self._sock.read_head()
        self.log.append(f"< {_first_line(response)}")
        if not self._piece("check_upgrade", response, key):
            raise ConnectionFailed(self.url, "check_upgrade refused the server's answer: "
                                   + _first_line(response))

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        frame = self._piece("client_frame", opcode, payload, os.urandom(4))
        if not isinstance(frame, (bytes, bytearray)):
            raise ClientPieceError(f"client_frame returned {type(frame).__name__}, not bytes")
        return bytes(frame)

    def send(self, message: str | bytes) -> None:
        """A text (str) or binary (bytes) message in one masked frame."""
        opcode, data = ((1, message.encode("utf-8")) if isinstance(message, str)
                        else (2, bytes(message)))
        self._sock.send(self._frame(opcode, data))
        self.log.append(f"> {'TEXT' if opcode == 1 else 'BINARY'} "
                        f"{_preview(data, binary=opcode == 2)}")

    def recv(self) -> str | bytes | None:
        """The next message (answering pings meanwhile); None once the server closed."""
        while True:
            h, payload = _frame_of_client(self._piece("read_frame", self._sock.recv_exactly))
            op = h["opcode"]
            if h.get("masked"):
                raise ConnectionFailed(self.url, "the server masked a frame (RFC 6455 5.1)")
            if op == 9:
                self._sock.send(self._frame(10, payload))
                self.log.append(f"< PING {_preview(payload)}, > PONG")
            elif op == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                reason = payload[2:].decode("utf-8", "replace")
                self.log.append(f"< CLOSE {self.close_code}" + (f" {reason!r}" if reason else ""))
                self._sock.send(self._frame(8, payload[:2]))
                return None
            elif op < 8:
                message = self._piece("assemble", self._state, h, payload)
                if message is not None:
                    binary = isinstance(message, bytes)
                    self.log.append(f"< {'BINARY' if binary else 'TEXT'} "
                                    f"{_preview(_as_bytes(message), binary=binary)}")
                    return message

    def close(self, code: int = 1000) -> int | None:
        """Send a Close, read until the server's Close; returns the code it answered."""
        with contextlib.suppress(PeerGone):
            self._sock.send(self._frame(8, code.to_bytes(2, "big")))
            self.log.append(f"> CLOSE {code}")
            while self.close_code is None and self.recv() is not None:
                pass
        self._sock.close()
        return self.close_code


class ClientPieceError(WSLabError):
    """One of the client's pieces raised; the message names it."""


def _frame_of_client(result: object) -> tuple[dict[str, Any], bytes]:
    try:
        return _frame_of(result)
    except _PieceError as exc:
        raise ClientPieceError(str(exc.call.error)) from None


def _as_bytes(message: str | bytes) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else message


@dataclass
class Talk:
    """What :func:`talk` did: each line sent and received, and how it ended."""

    url: str
    lines: list[str]
    received: list[str | bytes]
    close_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.close_code is not None

    def __str__(self) -> str:
        end = (_("error: {error}").format(error=shown(self.error)) if self.error
               else _("closed with {code}").format(code=self.close_code))
        return "\n".join([f"{self.url}", *(f"  {ln}" for ln in self.lines), f"  {end}"])

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


def talk(url: str, pieces: dict[str, Callable[..., Any]],
         messages: Sequence[str | bytes] = ("hello", b"\x00\x01\x02"), *,
         timeout: float = 5.0) -> Talk:
    """Connect with :class:`OwnClient`, send each message, read one answer each, close.
    Never raises: what went wrong is in ``Talk.error``."""
    received: list[str | bytes] = []
    client = None
    if not isinstance(url, str) or not url:
        return Talk(str(url), [], [], None, N_("no server to talk to (is it running?)"))
    try:
        client = OwnClient(url, pieces, timeout=timeout)
        for m in messages:
            client.send(m)
            answer = client.recv()
            if answer is None:
                break
            received.append(answer)
        code = client.close()
        return Talk(url, client.log, received, code)
    except Exception as exc:  # noqa: BLE001 - reported, the notebook goes on
        lines = client.log if client is not None else []
        what = str(exc) if isinstance(exc, WSLabError) else f"{type(exc).__name__}: {exc}"
        return Talk(url, lines, received, None, what)


# --- real clients meet a server -----------------------------------------------------------------

@dataclass(frozen=True)
class Meeting:
    """What one real client did with a server."""

    client: str
    ok: bool
    what: str

    def __str__(self) -> str:
        mark = "OK" if self.ok else _("NOT YET")
        return f"{self.client:<22} {mark:<8} {shown(self.what)}"


class Meetings(list[Meeting]):
    """The clients' results; prints as one line per client."""

    def __str__(self) -> str:
        return "\n".join(str(m) for m in self)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


def _meet_wslab(url: str, timeout: float) -> Meeting:
    from ..net import connect
    name = "wslab.connect"
    try:
        client = connect(url)
    except WSLabError as exc:
        return Meeting(name, False, str(exc))
    try:
        client.send("hello from wslab")
        text = client.recv(timeout=timeout)
        client.send(b"\x00\x01\xff")
        data = client.recv(timeout=timeout)
        rtt = client.ping(timeout=timeout)
        client.close(1000, "bye", timeout=timeout)
    except (WSLabError, TimeoutError) as exc:
        client.stop()
        return Meeting(name, False, f"{type(exc).__name__}: {exc}")
    ok = text == "hello from wslab" and data == b"\x00\x01\xff" and client.close_code == 1000
    return Meeting(name, ok, later(N_("echoed {text!r} and {data!r}, ping answered in "
                                      "{ms:.1f} ms, closed with {code}"),
                                   text=text, data=data, ms=rtt * 1000, code=client.close_code))


def _meet_websockets(url: str, timeout: float) -> Meeting:
    try:
        import websockets
        from websockets.sync.client import connect as ws_connect
    except ImportError:
        return Meeting("websockets", False, N_("the websockets library is not installed "
                                               "(pip install websockets)"))
    name = f"websockets {websockets.__version__}"
    try:
        with ws_connect(url, open_timeout=timeout, close_timeout=timeout) as ws:
            ws.send("hello from websockets")
            text = ws.recv(timeout=timeout)
            ws.send(b"\x00\x01\xff")
            data = ws.recv(timeout=timeout)
            t0 = time.perf_counter()
            answered = ws.ping(b"are you there?").wait(timeout)
            rtt = time.perf_counter() - t0
        code = ws.close_code
    except Exception as exc:  # noqa: BLE001 - the library's errors, reported as a line
        return Meeting(name, False, f"{type(exc).__name__}: {exc}")
    ok = text == "hello from websockets" and data == b"\x00\x01\xff" and answered
    what = (later(N_("echoed {text!r} and {data!r}, ping answered in {ms:.1f} ms, closed "
                     "with {code}"), text=text, data=data, ms=rtt * 1000, code=code)
            if answered else
            later(N_("echoed {text!r} and {data!r}, ping not answered, closed with {code}"),
                  text=text, data=data, code=code))
    return Meeting(name, ok and code == 1000, what)


def meet_clients(url: str, *, timeout: float = 5.0) -> Meetings:
    """wslab's client and the ``websockets`` library each connect to ``url``, send a text
    and a binary message, ping, and close.  Never raises: each line says what happened."""
    return Meetings([_meet_wslab(url, timeout), _meet_websockets(url, timeout)])
