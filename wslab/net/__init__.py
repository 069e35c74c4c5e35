"""Layer 2: the I/O library of wslab.

The lab loop thread, the in-kernel Tornado server (``wslab.net.server``), the
client, the raw socket helper, the wire tap, the fault proxy, the reconnecting
client, TLS, pcap export and the event log.  Experiments that notebooks run
live one layer up, in :mod:`wslab.labs`.
"""

from .client import Client, LogEntry, connect
from .errors import (
    ConnectionClosed,
    ConnectionFailed,
    HandlerNotSendable,
    LabTimeout,
    ServerStartError,
)
from .events import Event, EventList
from .faults import FaultEvent, FaultProxy
from .loop import responsive, stop_all
from .reconnect import QueueFull, ReconnectingClient, backoff_delay
from .server import ClientInfo, Connection, LabServer, ServerLike, serve, servers
from .tap import Tap, TapRecord

__all__ = [
    "Client", "ClientInfo", "Connection", "ConnectionClosed", "ConnectionFailed", "Event",
    "EventList", "FaultEvent", "FaultProxy", "HandlerNotSendable", "LabServer", "LabTimeout",
    "LogEntry",
    "QueueFull", "ReconnectingClient", "ServerLike", "ServerStartError", "Tap", "TapRecord",
    "backoff_delay", "connect", "responsive", "serve", "servers", "stop_all",
]
