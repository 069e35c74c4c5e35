"""Layer 2: the only I/O in wslab.

The lab loop thread, the in-kernel Tornado server, the client, and (in later
modules) the wire tap, fault proxy, reconnecting client and benchmarks.
"""

from .by_hand import Transcript, handshake_by_hand
from .client import Client, LogEntry, connect
from .errors import ConnectionClosed, ConnectionFailed, LabTimeout, ServerStartError
from .events import Event, EventList
from .faults import FaultEvent, FaultProxy
from .gil_lab import responsive
from .loop import stop_all
from .reconnect import QueueFull, ReconnectingClient, backoff_delay
from .server import ClientInfo, Connection, LabServer, serve, servers
from .tap import Tap, TapRecord

__all__ = [
    "Client", "ClientInfo", "Connection", "ConnectionClosed", "ConnectionFailed", "Event",
    "EventList", "FaultEvent", "FaultProxy", "LabServer", "LabTimeout", "LogEntry", "ServerStartError", "connect", "serve",
    "servers", "stop_all", "responsive", "QueueFull", "ReconnectingClient", "backoff_delay", "Tap", "TapRecord", "Transcript", "handshake_by_hand",
]
