"""Layer 3: ipywidgets panels and matplotlib plots (presentation only).

They read events from layer 2 (``wslab.net``) and never open sockets themselves.
"""

from . import plots
from .browser_client import BrowserClient
from .chat_panel import ChatPanel
from .client_panel import ClientPanel, side_by_side
from .fault_panel import FaultPanel
from .frame_builder import FrameBuilder
from .server_panel import ServerPanel

__all__ = ["BrowserClient", "ChatPanel", "ClientPanel", "FaultPanel", "FrameBuilder", "ServerPanel",
           "plots", "side_by_side"]
