"""Other WebSocket servers next to wslab's, and a short echo comparison (layer 3, labs).

:func:`start_peer` starts a bare Tornado or a ``websockets`` server with an
``/echo`` route and a ``/chat`` route (every message to every chat client) on
the running asyncio loop; each broadcasts with its own library's means.  The
full peers benchmark (``bench/peers`` in the repository) runs these same
servers in child processes.

:func:`compare_echo` is the notebook's short comparison: the in-kernel wslab
server, bare Tornado and ``websockets`` on the lab loop, one client (wslab's,
also on the lab loop) timing 32-byte echo round trips in interleaved rounds
(A B C A B C ...), so that noise hits every server alike.  Everything shares
one loop and one process: the difference between the figures is the servers'
own code.  It needs no file of the repository.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..i18n import _
from ..net import loop as lab
from ..net.client import connect
from ..net.server import serve
from .stats import percentile

__all__ = ["PEER_KINDS", "EchoComparison", "PeerServer", "compare_echo", "start_peer"]

PEER_KINDS = ("tornado", "websockets")


@dataclass(frozen=True)
class PeerServer:
    """A running peer: its port, its own broadcast to the /chat clients, and how to stop it."""

    kind: str
    port: int
    broadcast: Callable[[str | bytes], None]
    aclose: Callable[[], Awaitable[None]]

    @property
    def echo_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/echo"

    @property
    def chat_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat"


async def start_peer(kind: str) -> PeerServer:
    """Start a ``kind`` server (one of :data:`PEER_KINDS`) on 127.0.0.1, any free port,
    on the running asyncio loop."""
    if kind == "tornado":
        return await _start_tornado()
    if kind == "websockets":
        return await _start_websockets()
    raise ValueError(f"unknown peer {kind!r}; choose from {list(PEER_KINDS)}")


async def _start_tornado() -> PeerServer:
    import tornado.httpserver
    import tornado.netutil
    import tornado.web
    import tornado.websocket

    chat: set[tornado.websocket.WebSocketHandler] = set()

    class Echo(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            self.set_nodelay(True)  # as wslab, websockets and Node's ws do

        def on_message(self, message: str | bytes) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    def broadcast(message: str | bytes) -> None:
        # As a careful Tornado user writes it: Tornado has no public way to encode a
        # frame once, so write_message per client (it frames the message each time),
        # over a copy of the set, its Future not awaited (that would serialise the
        # clients), a client closed under us skipped.
        binary = isinstance(message, bytes)
        for c in list(chat):
            try:
                c.write_message(message, binary=binary)
            except tornado.websocket.WebSocketClosedError:
                chat.discard(c)

    class Chat(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            self.set_nodelay(True)
            chat.add(self)

        def on_message(self, message: str | bytes) -> None:
            broadcast(message)

        def on_close(self) -> None:
            chat.discard(self)

    app = tornado.web.Application([(r"/echo", Echo), (r"/chat", Chat)])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    http = tornado.httpserver.HTTPServer(app)
    http.add_sockets(sockets)

    async def aclose() -> None:
        http.stop()
        await http.close_all_connections()

    return PeerServer("tornado", sockets[0].getsockname()[1], broadcast, aclose)


async def _start_websockets() -> PeerServer:
    from websockets.asyncio.server import broadcast as ws_broadcast
    from websockets.asyncio.server import serve as ws_serve

    members: set[Any] = set()

    async def handler(ws: Any) -> None:
        if ws.request.path == "/chat":
            members.add(ws)
            try:
                async for message in ws:
                    ws_broadcast(members, message)
            finally:
                members.discard(ws)
        else:
            async for message in ws:
                await ws.send(message)

    def broadcast(message: str | bytes) -> None:
        ws_broadcast(members, message)

    server = await ws_serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                            max_size=16 << 20)

    async def aclose() -> None:
        server.close()
        await server.wait_closed()

    return PeerServer("websockets", next(iter(server.sockets)).getsockname()[1], broadcast,
                      aclose)


@dataclass
class EchoComparison:
    """Echo round trips (microseconds) per server, and the median of each round."""

    size: int
    n: int
    peers: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    round_p50: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def p50(self, peer: str) -> float:
        return percentile(self.samples[peer], 50)

    def p99(self, peer: str) -> float:
        return percentile(self.samples[peer], 99)

    def ratio(self, peer: str, ref: str = "tornado") -> float | None:
        """The median of ``peer``'s per-round medians over ``ref``'s (None without ``ref``)."""
        if ref not in self.round_p50 or peer not in self.round_p50:
            return None
        rs = [a / b for a, b in zip(self.round_p50[peer], self.round_p50[ref], strict=True)]
        return percentile(rs, 50)

    def table(self) -> str:
        lines = [f"{'server':<12}{'p50 (us)':>10}{'p99 (us)':>10}{'x tornado':>11}"]
        for p in self.peers:
            r = self.ratio(p)
            lines.append(f"{p:<12}{self.p50(p):>10.1f}{self.p99(p):>10.1f}"
                         f"{'-' if r is None else f'{r:.2f}':>11}")
        lines.append(_("{rounds} interleaved rounds of {n} round trips, {size} B, one client on "
                       "the lab loop").format(rounds=len(next(iter(self.round_p50.values()), [])),
                                              n=self.n, size=self.size))
        lines += [_("skipped {peer}: {why}").format(peer=p, why=why)
                  for p, why in self.skipped.items()]
        return "\n".join(lines)


def compare_echo(*, n: int = 300, rounds: int = 4, size: int = 32, warmup: int = 30,
                 timeout: float = 10.0) -> EchoComparison:
    """Time ``rounds`` x ``n`` echo round trips of ``size`` bytes against the in-kernel
    wslab server, bare Tornado and ``websockets`` (skipped when not installed),
    interleaved; every server is stopped before this returns."""
    if not isinstance(n, int) or not 1 <= n <= 100_000:
        raise ValueError(f"n is an integer 1-100,000, got {n!r}")
    if not isinstance(rounds, int) or not 1 <= rounds <= 100:
        raise ValueError(f"rounds is an integer 1-100, got {rounds!r}")
    out = EchoComparison(size=size, n=n)
    started: list[PeerServer] = []
    server = serve(name="peers-compare")
    urls = {"wslab": server.url}
    try:
        for kind in PEER_KINDS:
            try:
                peer = lab.run(start_peer(kind), timeout=timeout, what=f"start {kind}")
            except ImportError as exc:
                out.skipped[kind] = f"not installed ({exc.name})"
                continue
            started.append(peer)
            urls[kind] = peer.echo_url
        out.peers = list(urls)
        clients = {p: connect(u) for p, u in urls.items()}
        try:
            for r in range(rounds):
                for p, c in clients.items():
                    us = [s * 1e6 for s in c.measure_rtt(n, size, warmup=warmup if r == 0 else 5,
                                                         timeout=timeout, progress=False)]
                    out.samples.setdefault(p, []).extend(us)
                    out.round_p50.setdefault(p, []).append(percentile(us, 50))
        finally:
            for c in clients.values():
                c.close()
    finally:
        for peer in started:
            lab.run(peer.aclose(), timeout=timeout, what=f"stop {peer.kind}")
        server.stop()
    return out
