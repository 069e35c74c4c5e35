"""Which close codes end reconnecting? (layer 3, labs; notebook 06).

:func:`close_code_demo` connects one :class:`~wslab.net.reconnect.ReconnectingClient`
per close code to a server's ``/ack`` route, has the server close each connection with
its code, and records what each client did next: connect again, or give up.  The
client's rule: retrying cannot help after 1008 (policy violation) or a private code
4000-4999 whose meaning only the application knows (RFC 6455 7.4.1, 7.4.2); after a
restart, an overload or an unexpected condition a later attempt may well succeed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..i18n import _
from ..net.reconnect import ReconnectingClient
from ..net.server import LabServer
from ..protocol.state import State

__all__ = ["CloseOutcome", "CloseCodeDemo", "close_code_demo"]

REASONS = {1001: "going away", 1008: "policy violation", 1011: "unexpected condition",
           1012: "service restart", 1013: "try again later",
           4000: "session expired", 4003: "token revoked"}  # the last two: an app's own


@dataclass(frozen=True)
class CloseOutcome:
    """What a ReconnectingClient did after the server closed it with ``code``."""

    code: int
    reconnected_after: float | None  # seconds from the close to its next open connection
    gave_up: str | None              # the client's own reason, when it gave up

    def __str__(self) -> str:
        if self.gave_up:  # its reason without the moral ("...: retrying cannot help")
            return _("{code}: gave up ({why})").format(code=self.code,
                                                       why=self.gave_up.split(": ")[0])
        if self.reconnected_after is not None:
            return _("{code}: connected again after {ms:.0f} ms").format(
                code=self.code, ms=self.reconnected_after * 1e3)
        return _("{code}: neither connected again nor gave up in time").format(code=self.code)


@dataclass(frozen=True)
class CloseCodeDemo:
    """The outcome per code, and when the demo began (time.monotonic())."""

    outcomes: tuple[CloseOutcome, ...]
    started_at: float

    def gave_up(self) -> list[int]:
        """The codes after which the client stopped retrying."""
        return [o.code for o in self.outcomes if o.gave_up]

    def __str__(self) -> str:
        return "\n".join(str(o) for o in self.outcomes)


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def _ack_ids(server: LabServer) -> set[int]:
    return {c.id for c in server.clients if c.path == "/ack"}


def close_code_demo(server: LabServer, codes: Iterable[int] = (1001, 1011, 1013, 1008), *,
                    timeout: float = 5.0) -> CloseCodeDemo:
    """Close one ReconnectingClient of ``server``'s ``/ack`` route per code; see what it does.

    Each client retries after 50 ms; the demo waits at most ``timeout`` seconds per
    client for it to connect again or give up, then stops every client it started.
    """
    codes = tuple(codes)
    if not codes or len(codes) > 10:
        raise ValueError(f"codes is 1-10 close codes, got {codes!r}")
    started = time.monotonic()
    outcomes = []
    for code in codes:
        before = _ack_ids(server)
        rc = ReconnectingClient(server.ack_url, initial_delay=0.05, max_delay=0.2, seed=code)
        try:
            if not _wait(lambda rc=rc, b=before: rc.state is State.OPEN
                         and bool(_ack_ids(server) - b), timeout):
                raise TimeoutError(f"the client for {code} did not connect within {timeout:g} s")
            mine = min(_ack_ids(server) - before)
            closed_at = time.monotonic()
            server.close_client(mine, code, REASONS.get(code, "closing"))
            _wait(lambda rc=rc: rc.gave_up is not None or rc.stats.connects >= 2, timeout)
            opened = [e.t for e in rc.events if e.kind == "open" and e.t > closed_at]
            outcomes.append(CloseOutcome(code, opened[0] - closed_at if opened else None,
                                         rc.gave_up))
        finally:
            rc.stop()
    return CloseCodeDemo(tuple(outcomes), started)
