"""Bare Tornado, as a Tornado user writes it, in a plain process: the benchmark's baseline.

It imports Tornado and the standard library only, never wslab, so the memory per
connection measured in this process is Tornado's own (a process that imports wslab
first carries wslab's modules, which makes the baseline look smaller per connection).
``/echo`` sends every message back; ``/chat`` writes every message to every member
with ``write_message`` over a copy of the set (Tornado has no public way to encode a
frame once).  TCP_NODELAY is on, as wslab, ``websockets`` and Node's ``ws`` set it;
compression is off (Tornado's default).

Run: ``python bench/tornado_plain_server.py``; it prints its port, then each stdin line
``bcast TEXT`` broadcasts TEXT to the /chat members and prints ``perf_counter_ns()``
taken just before the loop; EOF on stdin stops it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

MEMBERS: set[tornado.websocket.WebSocketHandler] = set()


def _send(handler: tornado.websocket.WebSocketHandler, message: str | bytes) -> None:
    try:
        handler.write_message(message, binary=isinstance(message, bytes))
    except tornado.websocket.WebSocketClosedError:
        pass  # it closed meanwhile; on_close removes it


class Echo(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        self.set_nodelay(True)

    def on_message(self, message: str | bytes) -> None:
        _send(self, message)


class Chat(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        self.set_nodelay(True)
        MEMBERS.add(self)

    def on_close(self) -> None:
        MEMBERS.discard(self)

    def on_message(self, message: str | bytes) -> None:
        broadcast(message)


def broadcast(message: str | bytes) -> None:
    for handler in list(MEMBERS):
        _send(handler, message)


async def main() -> None:
    loop = asyncio.get_running_loop()
    sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/echo", Echo),
                                                                   (r"/chat", Chat)]))
    server.add_sockets(sockets)
    stop = loop.create_future()
    pending = bytearray()

    def on_stdin() -> None:
        data = os.read(0, 65536)
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
                broadcast(text)
                print(t0, flush=True)

    print(sockets[0].getsockname()[1], flush=True)
    loop.add_reader(0, on_stdin)
    await stop
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
