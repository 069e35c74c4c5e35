"""The server's send path when the client's TCP connection was just reset.

Regression (seen under load in notebook 06): a send to a client whose
connection had been reset raised ``TypeError: object of type 'NoneType' has no
len()`` on the lab loop (Tornado sets ``IOStream._write_buffer`` to None when a
write meets the reset and closes the stream).  Now the message is dropped, as
any send to a closed connection is, and nothing reaches the loop's exception
handler or stderr.
"""

from __future__ import annotations

import socket
import struct

import pytest

import wslab
from wslab.net import loop as lab

from .conftest import wait_until
from .raw_upgrade import upgraded

ROUNDS = 20  # each round hits the window deterministically; repeated for the timing variants


def _raw_client(port: int, *, compression: bool) -> socket.socket:
    sock, head = upgraded(port, extensions=["permessage-deflate"] if compression else (),
                          timeout=5)
    assert (b"permessage-deflate" in head) == compression
    return sock


def _reset_then_send(server, how: str, compression: bool) -> None:
    """Open a raw client, reset its TCP connection and send to it before the server noticed."""
    loop = lab.get_loop()
    known = {c.id for c in server.clients}
    sock = _raw_client(server.port, compression=compression)
    wait_until(lambda: {c.id for c in server.clients} - known, what="the open")
    cid = max({c.id for c in server.clients} - known)
    conn = server.connection(cid)
    seen = len(server.events)

    def on_loop():
        # SO_LINGER 0: close() sends RST.  On loopback the server's socket has it at
        # once; the sends queued here run before the loop next polls, so the server
        # learns of the reset from the write itself.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        for i in range(3):
            if how == "send":
                loop.call_soon(conn.send, f"to a reset peer {i}" * 10)
            else:
                loop.call_soon(server.broadcast, f"to a reset peer {i}" * 10)

    lab.call(on_loop)
    wait_until(lambda: cid not in {c.id for c in server.clients}, what="the close")
    after = server.events[seen:]
    closes = [e for e in after if e.kind == "close" and e.client_id == cid]
    assert closes and closes[-1].code == 1006  # no Close frame: abnormal closure
    sent = [e for e in after if e.kind == "message" and e.client_id == cid
            and e.direction == "out"]
    assert not sent, "a message to a reset connection was counted as sent"


@pytest.mark.parametrize(("how", "compression"), [
    ("send", False),        # Tornado framing path (write_frame)
    ("send", True),         # compressed per client
    ("broadcast", False),   # the pre-encoded frame, straight to the kernel
])
def test_send_to_a_just_reset_client_raises_nothing(how, compression, capfd):
    loop = lab.get_loop()
    caught: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: caught.append(context))
    try:
        with wslab.serve(name="send-path", compression=compression) as server:
            for _ in range(ROUNDS):
                _reset_then_send(server, how, compression)
    finally:
        loop.set_exception_handler(previous)
    assert not caught, [c.get("message") for c in caught] + [repr(c.get("exception"))
                                                             for c in caught]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
