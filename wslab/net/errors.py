"""Errors of the I/O layer (layer 2); all derive from :class:`wslab.WSLabError`."""

from __future__ import annotations

from ..protocol.errors import WSLabError


class ConnectionFailed(WSLabError, ConnectionError):
    """A client could not open a WebSocket connection.

    The message names the URL and the cause (refused, HTTP status, timeout);
    ``status`` is the HTTP status of a refused handshake (403, 404, ...) or None.
    """

    def __init__(self, url: str, cause: str, *, status: int | None = None) -> None:
        super().__init__(f"could not connect to {url}: {cause}")
        self.url = url
        self.cause = cause
        self.status = status


class ServerStartError(WSLabError, OSError):
    """A server, tap or proxy could not start listening (port in use, bad address...)."""


class LabTimeout(WSLabError, TimeoutError):
    """A call into the lab loop did not finish within its timeout."""


class ConnectionClosed(WSLabError):
    """An operation needs an open connection, but it is closing or closed."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class HandlerNotSendable(WSLabError, TypeError):
    """A handler function could not be sent to a process server's child process.

    ``serve(process=True)`` pickles the function with cloudpickle (by value, with
    the globals it uses); this error names what could not cross: a lock, a
    socket, an open file, a generator it closes over, or a module the child
    cannot import.
    """
