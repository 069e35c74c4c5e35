"""wslab's hop inside a real Jupyter server (with a token), driven without a browser.

One Jupyter server with the extension enabled, one kernel it started (its code run
through jupyter_client, as a notebook cell would), wslab servers in that kernel.
Checked: the Jupyter server's authentication and origin rules come first, only ports the
kernel listed and holds are reached (no open proxy), close codes, reasons, subprotocol
and permessage-deflate are the two ends' own, the kernel's server never sees Jupyter's
credentials, and a reader that stops reading cannot make the hop buffer grow.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import urllib.error
import urllib.request

import pytest
from jupyter_client import BlockingKernelClient
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.conftest import wait_until
from tests.jupyterlab import HOP_EXTENSION, jupyterlab
from wslab.net.hop_relay import CHUNK
from wslab.protocol import handshake as hs

TOKEN = "hop-test-token-0123456789"
AUTH = {"Authorization": f"token {TOKEN}"}


class Kernel:
    """A kernel the Jupyter server started; ``run(code)`` returns its stdout."""

    def __init__(self, base: str, runtime: pathlib.Path) -> None:
        request = urllib.request.Request(f"{base}/api/kernels", data=b"{}", method="POST",
                                         headers={**AUTH, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            self.id = json.loads(r.read())["id"]
        self.client = BlockingKernelClient(
            connection_file=str(runtime / f"kernel-{self.id}.json"))
        self.client.load_connection_file()
        self.client.start_channels(hb=False)  # wait_for_ready needs no heartbeat
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"KERNEL ERROR {msg['content']['ename']}: {msg['content']['evalue']}")

        self.client.execute_interactive(code, output_hook=hook, timeout=60)
        text = "".join(out)
        assert "KERNEL ERROR" not in text, text
        return text

    def stop(self) -> None:
        self.client.stop_channels()


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """(base URL, kernel, facts the kernel printed): a Jupyter server with the hop, and a
    kernel with a wslab server (``b.v1``, deflate) that has a browser URL, a Tap in front
    of it with one too, and a second server that was never handed to a browser."""
    tmp = tmp_path_factory.mktemp("hop-jupyter")
    with jupyterlab(tmp, [], server_extensions=[HOP_EXTENSION], token=TOKEN,
                    app="server") as base:
        kernel = Kernel(base, tmp / "runtime")
        try:
            facts = json.loads(kernel.run(
                "import json, os, wslab\n"
                "from wslab.net import public_url\n"
                "server = wslab.serve(name='hop', subprotocols=['b.v1'], compression=True,"
                " send_buffer_max=1 << 20)\n"
                "@server.on_message\n"
                "def handle(conn, message):\n"
                "    if message == 'close me':\n"
                "        conn.close(4001, 'custom reason')\n"
                "    else:\n"
                "        conn.send(message)\n"
                "tap = wslab.Tap(server.url)\n"
                "hidden = wslab.serve(name='hidden')\n"
                "print(json.dumps({'route': str(public_url.route()), 'via': public_url.route().via,"
                " 'url': server.browser_url('/echo'), 'page': server.page_url,"
                " 'tap': public_url.for_browser(tap.url), 'hidden': hidden.port,"
                " 'port': server.port, 'pid': os.getpid(),"
                " 'dir': os.environ.get('WSLAB_HOP_DIR')}))"))
            yield base, kernel, facts
        finally:
            try:
                kernel.run("wslab.stop_all()")
            finally:
                kernel.stop()


def _ws(base: str, path: str) -> str:
    return "ws" + base[len("http"):] + path


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_kernel_routes_browser_urls_through_the_hop(jupyter):
    base, _, facts = jupyter
    assert facts["via"] == "wslab" and "wslab's hop" in facts["route"]
    assert facts["url"] == f"/wslab/{facts['port']}/echo"
    assert facts["page"] == f"/wslab/{facts['port']}/"
    assert pathlib.Path(facts["dir"], f"{facts['pid']}.json").exists()
    assert _status(base + facts["page"], AUTH) == 200


def test_an_unauthenticated_request_is_refused(jupyter):
    base, _, facts = jupyter
    for path in (facts["url"], facts["page"], "/wslab/api/hops"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(_ws(base, path), open_timeout=30)
        assert refused.value.response.status_code == 403, path
        assert _status(base + path) == 403, path
        # a wrong token is no token
        assert _status(base + path, {"Authorization": "token wrong"}) == 403, path


def test_a_page_of_another_origin_is_refused_even_with_the_login_cookie(jupyter):
    """Cross-site WebSocket hijacking: a page on another port of 127.0.0.1 is the same
    *site*, so the browser sends the Jupyter login cookie; the Jupyter server's origin
    check refuses it."""
    base, _, facts = jupyter
    with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=30) as r:
        cookies = "; ".join(c.split(";")[0] for c in r.headers.get_all("Set-Cookie") or [])
    assert "username-" in cookies
    cookie = {"Cookie": cookies}
    with ws_connect(_ws(base, facts["url"]), additional_headers=cookie,
                    origin=base, open_timeout=30) as ws:  # same origin, cookie only: fine
        ws.send("hi")
        assert ws.recv(timeout=30) == "hi"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(_ws(base, facts["url"]), additional_headers=cookie,
                   origin="http://127.0.0.1:1", open_timeout=30)
    assert refused.value.response.status_code == 403


def test_only_ports_the_kernel_listed_and_holds_are_reached(jupyter):
    base, kernel, facts = jupyter
    with socket.socket() as foreign:  # a server of this test process, not of a kernel
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        jupyter_port = int(base.rsplit(":", 1)[1])
        for other in (port, jupyter_port, facts["hidden"], 22):
            assert _status(f"{base}/wslab/{other}/", AUTH) == 403, other
        # even written into the kernel's own list, a socket the kernel does not hold is refused
        listed = pathlib.Path(facts["dir"], f"{facts['pid']}.json")
        data = json.loads(listed.read_text())
        data["ports"][str(port)] = "127.0.0.1"
        listed.write_text(json.dumps(data))
        assert _status(f"{base}/wslab/{port}/", AUTH) == 403
    for bad in ("/wslab/0/", "/wslab/99999/", "/wslab/x/", "/wslab/041234/"):
        assert _status(base + bad, AUTH) == 404, bad


def test_close_codes_reasons_subprotocol_and_compression_cross_the_hop(jupyter):
    base, kernel, facts = jupyter
    with ws_connect(_ws(base, facts["url"]), additional_headers=AUTH,
                    subprotocols=["a.v1", "b.v1"], open_timeout=30) as ws:
        assert ws.subprotocol == "b.v1"  # the kernel's server chose it
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        ws.send("hello " * 50)
        assert ws.recv(timeout=30) == "hello " * 50
        ws.close(4002, "bye")
    seen = kernel.run("import json, time\n"
                      "deadline = time.monotonic() + 30\n"
                      "while not [e for e in server.events.of('close') if e.code == 4002]"
                      " and time.monotonic() < deadline:\n"
                      "    time.sleep(0.02)\n"
                      "e = server.events.of('open')[-1]\n"
                      "print(json.dumps({'open': e.extra, 'closes': [(c.code, c.reason) for c"
                      " in server.events.of('close')]}))")
    seen = json.loads(seen)
    assert ["4002", "bye"] in [[str(c), r] for c, r in seen["closes"]], seen
    assert seen["open"]["subprotocol"] == "b.v1"
    with ws_connect(_ws(base, facts["url"]), additional_headers=AUTH, open_timeout=30) as ws:
        ws.send("close me")
        with pytest.raises(WsClosed) as closed:
            ws.recv(timeout=30)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "custom reason")


def test_the_kernels_server_sees_the_clients_head_without_jupyters_credentials(jupyter):
    base, kernel, facts = jupyter
    with ws_connect(_ws(base, facts["tap"]), additional_headers={
            **AUTH, "Cookie": "wslab_token=mine; username-x=jupyter-secret"},
            open_timeout=30) as ws:
        ws.send("through the tap")
        assert ws.recv(timeout=30) == "through the tap"
    heads = json.loads(kernel.run(
        "import json\n"
        "print(json.dumps([h.raw_head.decode('latin-1') for h in tap.handshakes()]))"))
    request = heads[0]
    assert request.startswith("GET /echo HTTP/1.1\r\n")
    assert TOKEN not in request and "jupyter-secret" not in request
    assert "Cookie: wslab_token=mine\r\n" in request
    assert "Sec-Websocket-Key" in request and "Sec-Websocket-Extensions" in request
    assert heads[1].startswith("HTTP/1.1 101")


def test_a_reader_that_stops_reading_cannot_make_the_hop_buffer_grow(jupyter):
    base, kernel, facts = jupyter
    port = int(base.rsplit(":", 1)[1])
    key = hs.make_key()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(hs.build_request(host=f"127.0.0.1:{port}", path=facts["url"], key=key,
                                      headers=AUTH))
        sent = json.loads(kernel.run(
            "import json, time\n"
            "deadline = time.monotonic() + 30\n"
            "while not server.clients and time.monotonic() < deadline:\n"
            "    time.sleep(0.02)\n"
            "cid = server.clients[-1].id\n"
            "n = 0\n"
            "while n < 256 and not [e for e in server.events.of('close') if e.code == 1013]:\n"
            "    server.send(cid, b'x' * (1 << 20)); n += 1; time.sleep(0.001)\n"
            "print(json.dumps(n))"))
    # the kernel's server felt the back-pressure and failed the slow reader with 1013
    closes = kernel.run("print([e.code for e in server.events.of('close')])")
    assert "1013" in closes
    hops = {}

    def ended() -> bool:
        with urllib.request.urlopen(urllib.request.Request(
                f"{base}/wslab/api/hops", headers=AUTH), timeout=30) as r:
            hops.update(json.loads(r.read()))
        return any(h["websocket"] and h["ended"] and h["down"] < (64 << 20)
                   for h in hops["done"])

    wait_until(ended, 30, what="the hop of the slow reader ending")
    slow = [h for h in hops["done"] if h["websocket"]][-1]
    assert slow["buffered_peak"] <= CHUNK and slow["down"] < sent * (1 << 20), slow
    assert os.environ.get("WSLAB_HOP_DIR") is None  # the test process itself has no hop


def test_traffic_through_the_hop_is_activity_of_the_jupyter_server(jupyter):
    """A hub's idle culler reads the server's last activity: a learner who only uses the
    browser's WebSocket is active."""
    base, _, facts = jupyter

    def last_activity() -> str:
        with urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/status?no_track_activity=1", headers=AUTH), timeout=30) as r:
            return json.loads(r.read())["last_activity"]

    before = last_activity()
    assert last_activity() == before  # reading it changes nothing
    with ws_connect(_ws(base, facts["url"]), additional_headers=AUTH, open_timeout=30) as ws:
        ws.send("still here")
        assert ws.recv(timeout=30) == "still here"
    assert last_activity() > before
