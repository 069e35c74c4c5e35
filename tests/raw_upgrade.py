"""A plain TCP socket that has made the WebSocket opening handshake (for tests that count
what the server writes, byte by byte, without any client library in between)."""

from __future__ import annotations

import socket

from wslab.protocol.handshake import build_request, make_key


def upgraded(port: int, path: str = "/echo", *, extensions: tuple[str, ...] | list[str] = (),
             origin: str | None = None, headers: dict[str, str] | None = None,
             nodelay: bool = False, timeout: float = 10.0) -> tuple[socket.socket, bytes]:
    """(socket, the server's answer head) after sending an upgrade request to ``path``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(build_request(host=f"127.0.0.1:{port}", path=path, key=make_key(),
                               extensions=extensions, origin=origin, headers=headers))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head[:80]
    return sock, head
