"""wslab: learn the WebSocket protocol hands-on in JupyterLab.

A Tornado WebSocket server runs inside the kernel (on its own "lab loop"
thread); clients, taps and proxies run there too, so ordinary blocking cells
and widget buttons just work::

    import wslab
    server = wslab.serve()                 # listening on 127.0.0.1, free port
    client = wslab.connect(server.url)     # ws://127.0.0.1:PORT/echo
    client.send("hello"); client.recv()    # 'hello'
    wslab.stop_all()

Layers (imports point down only): ``wslab.protocol`` (sans-I/O bytes and
rules), ``wslab.net`` (the I/O library), ``wslab.labs`` (the experiments),
``wslab.ui`` (widgets and plots) and ``wslab.exercises`` (checks).
"""

try:
    from . import classroom
    from .classroom import Classroom
    from .i18n import language, set_language
    from .labs import Transcript, handshake_by_hand
    from .net import (
        Client,
        ClientInfo,
        Connection,
        ConnectionClosed,
        ConnectionFailed,
        Event,
        FaultProxy,
        HandlerNotSendable,
        LabServer,
        LabTimeout,
        QueueFull,
        ReconnectingClient,
        ServerStartError,
        Tap,
        connect,
        responsive,
        serve,
        servers,
        stop_all,
    )
    from .net.cluster import cluster
    from .net.public_url import set_public_url
    from .protocol import HandshakeError, NeedMoreData, ProtocolError, WSLabError
    from .protocol.state import State
except ModuleNotFoundError as _missing:  # `python -m wslab` in a Python without tornado...
    from .cli.env import missing_dependency

    missing_dependency(_missing)  # one line and exit 2 on the command line
    raise

__version__ = "0.1.0"


def _register_html_views() -> None:
    """In IPython, show TapTable, Transcript and PushComparison as HTML tables.

    The objects belong to the I/O layer and print as text; their HTML lives in
    :mod:`wslab.ui.views`, imported only when an object is first displayed.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyterlab
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/html"]
    for module, name, view in (("wslab.net.tap", "TapTable", "tap_table_html"),
                               ("wslab.labs.by_hand", "Transcript", "transcript_html"),
                               ("wslab.labs.push_compare", "PushComparison", "push_table_html")):
        formatter.for_type_by_name(module, name, _lazy_view(view))


def _lazy_view(name: str):  # noqa: ANN202
    def render(obj: object) -> str:
        from .ui import views
        return getattr(views, name)(obj)
    return render


_register_html_views()

__all__ = [
    "Classroom", "classroom", "cluster", "Client", "ClientInfo", "Connection", "ConnectionClosed",
    "ConnectionFailed", "Event",
    "FaultProxy", "HandlerNotSendable", "HandshakeError", "LabServer", "LabTimeout", "NeedMoreData",
    "ProtocolError", "QueueFull",
    "ReconnectingClient",
    "ServerStartError", "State", "Tap", "Transcript", "WSLabError", "connect", "handshake_by_hand",
    "responsive", "serve",
    "servers", "set_public_url", "stop_all", "set_language", "language",
]
