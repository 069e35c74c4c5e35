"""The primer's own code, run: its Node server.js (from .cache/node's ws) beside wslab's
server, its claims measured, its client.html and a learner's server in real Chromium."""

from __future__ import annotations

import http.server
import threading

import pytest

import wslab
from tests.browser import chromium
from tests.conftest import need, wait_until
from wslab.exercises.solutions import ex02a as m
from wslab.labs import own_server, primer
from wslab.labs.conformance import OK, run_conformance
from wslab.ui.primer_table import claims_table

NODE = primer.node_setup()


@pytest.fixture
def node():
    need(not isinstance(NODE, str), f"Node.js with ws ({NODE})")
    server = primer.start_primer_server()
    assert server, server.why
    yield server
    server.stop()
    assert not server.child.running


def test_the_packaged_files_are_the_primers():
    js, page = primer.source("server.js"), primer.source("client.html")
    assert "new WebSocket.Server({ port: 8080 })" in js
    assert "console.log('收到消息:', message);" in js
    assert "ws.send('服务器收到消息:' + message);" in js
    assert "new WebSocket('ws://localhost:8080')" in page and "socket.send(message);" in page
    assert "ws://127.0.0.1:9/" in primer.client_page("ws://127.0.0.1:9/")
    for bad in ("", "ws://x/'); alert(1); ('", None):
        with pytest.raises(ValueError):
            primer.client_page(bad)
    with pytest.raises(ValueError):
        primer.source("../secret")
    assert [c[0] for c in primer.CHANGES] == ["server.js", "client.html"]


def test_a_missing_node_or_ws_is_said_clearly(monkeypatch, tmp_path, server):
    monkeypatch.setenv(primer.NODE_ENV, str(tmp_path / "no-node"))
    why = primer.node_setup()
    assert isinstance(why, str) and "Node.js is not installed" in why and primer.NODE_ENV in why
    missing = primer.start_primer_server()
    assert not missing and missing.url is None and "Node.js" in repr(missing)
    rows = primer.claims(missing, server)   # wslab's column is still measured
    assert all(r.node.startswith("not measured: node server.js is not running (Node.js")
               for r in rows)
    assert "403 (refused)" in rows[3].wslab
    assert primer.conversation(missing).startswith("not running: Node.js")
    assert "not running" in primer.page_for(missing)
    assert "node server.js: not running" in primer.side_by_side(missing, missing)
    monkeypatch.delenv(primer.NODE_ENV)
    need(not isinstance(NODE, str), "Node.js")
    monkeypatch.setenv(primer.MODULES_ENV, str(tmp_path))
    why = primer.node_setup()
    assert isinstance(why, str) and "npm install --prefix" in why and "ws@8" in why
    assert not primer.start_echo_twin()


def test_the_primer_server_answers_and_logs_a_buffer(node):
    client = wslab.connect(node.url)
    try:
        client.send("hello")
        assert client.recv(timeout=5) == "服务器收到消息:hello"
        client.send(b"\x00\x01")   # binary in, text out: '+' turned the Buffer into a string
        assert client.recv(timeout=5) == "服务器收到消息:\x00\x01"
    finally:
        client.close()
    lines = []
    wait_until(lambda: lines.extend(node.log(0.2)) or "WebSocket连接关闭" in lines, 10,
               what="the close logged")
    assert lines[0] == "新的WebSocket连接建立"
    assert "收到消息: <Buffer 68 65 6c 6c 6f>" in lines


def test_the_claims_are_measured_on_both_servers(node, server):
    got = primer.claims(node, server)
    by = {c.where + c.claim[:12]: c for c in got}
    assert len(got) == len(by) == 5
    log, reconnect, compression, origin, crash = got
    assert "<Buffer 68 65 6c 6c 6f>" in log.node and "'hello'" in log.wslab
    assert "CLOSED (code 1006)" in reconnect.node and "CLOSED" in reconnect.wslab
    assert "nothing reconnected it" in reconnect.wslab
    assert compression.node.endswith("accepted: none") and "gzip" in compression.node
    assert "101 (accepted)" in origin.node and "403 (refused)" in origin.wslab
    assert "exited with status 1" in crash.node and "Invalid WebSocket frame" in crash.node
    assert "CLOSE 1002" in crash.wslab
    assert node, "claims() restarts the server it crashed"
    html = claims_table(got)._repr_html_()
    assert html.count("class='wslab-claim'") == 5 and "7.1.7" in html


def test_the_node_echo_twin_is_graded(node):
    twin = primer.start_echo_twin()
    try:
        report = run_conformance(twin.url)
    finally:
        twin.stop()
    measured = {r.id: r.outcome for r in report.not_ok()}
    # ws 8 answers version 12 with 400 and no Sec-WebSocket-Version, and checks UTF-8 at the
    # end of a message: the two cases where Node's ws is not OK (measured, ws 8.18)
    assert set(measured) <= {"1.2", "6.5"}, report
    assert sum(r.outcome == OK for r in report.results) >= 53


def test_python_m_wslab_serve_beside_node(node):
    cli = primer.start_wslab_serve()
    try:
        assert cli.url.startswith("ws://127.0.0.1:") and cli.page_url.startswith("http://")
        client = wslab.connect(cli.url)
        client.send("hi")
        assert client.recv(timeout=5) == "hi"
        client.close()
        lines = []
        wait_until(lambda: lines.extend(cli.log(0.2)) or any("close" in ln for ln in lines),
                   10, what="the CLI logged the close")
        assert any(ln.startswith("< message") and "'hi'" in ln for ln in lines)
    finally:
        cli.stop()
    assert not cli.child.running


def test_a_conversation_through_the_tap_is_the_same_protocol(node, server):
    # the same frames both ways, except that the primer's server answers binary with text
    for url, answer in ((node.url, "TEXT"), (server.url, "BINARY")):
        table = primer.conversation(url)
        frames = [(r.direction, r.opcode, r.masked) for r in table if r.kind == "frame"]
        assert [f[1] for f in frames] == ["TEXT", "TEXT", "BINARY", answer, "CLOSE", "CLOSE"]
        assert [f[2] for f in frames] == [True, False] * 3   # clients mask, servers never
        assert [r.kind for r in table][:2] == ["handshake", "handshake"]


class _Pages:
    """Serves given pages from 127.0.0.1 (Chromium lets only a local page reach loopback)."""

    def __init__(self) -> None:
        pages = self.pages = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path, "").encode("utf-8")
                # no page: 204, not 404 (Chromium's favicon request would put a "Failed to
                # load resource" line among the page's own console messages)
                self.send_response(200 if body else 204)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pages")
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.mark.browser
def test_chromium_runs_the_primers_page_and_meets_a_learners_server(node, chromium_path):
    pages = _Pages()
    learner = own_server.start(name="pytest-primer",
                               **{p: getattr(m, p) for p in own_server.PIECES})
    wslab_server = wslab.serve(name="pytest-primer-page", origins=[pages.origin])
    pages.pages.update({"/node.html": primer.client_page(node.url),
                        "/wslab.html": primer.client_page(wslab_server.url),
                        "/blank.html": "<!DOCTYPE html><title>blank</title>"})
    try:
        with chromium(chromium_path) as ctx:
            for path, reply in (("/node.html", "服务器收到消息:hello"), ("/wslab.html", "hello")):
                page = ctx.new_page()
                logs = []
                page.on("console", lambda msg, logs=logs: logs.append(msg.text))
                page.goto(pages.origin + path)
                page.wait_for_function("socket.readyState === 1", timeout=10_000)
                page.fill("#messageInput", "hello")
                with page.expect_console_message(
                        lambda msg, reply=reply: msg.text == f"收到消息: {reply}",
                        timeout=10_000):
                    page.click("button")   # the page's own send(), then its console.log
                assert [t for t in logs if "WebSocket" in t][:1] == ["WebSocket连接已建立"], logs
                page.close()
            page = ctx.new_page()
            page.goto(pages.origin + "/blank.html")
            got = page.evaluate("""url => new Promise((resolve, reject) => {
                const ws = new WebSocket(url); ws.binaryType = 'arraybuffer'; const seen = [];
                ws.onopen = () => { ws.send('from Chromium'); ws.send(new Uint8Array([0, 255])); };
                ws.onmessage = (e) => { seen.push(typeof e.data === 'string' ? e.data
                    : Array.from(new Uint8Array(e.data)).join(','));
                    if (seen.length === 2) ws.close(1000, 'bye'); };
                ws.onclose = (e) => resolve({seen, code: e.code, clean: e.wasClean});
                setTimeout(() => reject(new Error('timeout')), 10000);
            })""", learner.url)
        assert got == {"seen": ["from Chromium", "0,255"], "code": 1000, "clean": True}
        assert not learner.errors
    finally:
        learner.stop()
        wslab_server.stop()
        pages.stop()
