"""JupyterLab with a base_url (as on a hub), in Chromium that may reach the Jupyter server only.

Playwright refuses every HTTP request and every WebSocket that does not go to the Jupyter
server's own origin, as a hub's network would.  The client page, the chat and
app-heartbeat pages and BrowserClient must then work through jupyter-server-proxy
(``/user/alice/proxy/<port>/``), and the kernel's server must see the Jupyter server's origin.
wslab's own hop is switched off here, so this is the route where it is not installed
(tests/test_hop_browser.py tests the hop).
"""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

from tests.browser import chromium, client_page_echoes
from tests.conftest import artifact_dir, wait_until
from tests.jupyterlab import HOP_EXTENSION, jupyterlab, kernel_exec, run_notebook

pytestmark = pytest.mark.browser
BASE_URL = "/user/alice/"
NOTEBOOK = "base_url_check.ipynb"


def _write_notebook(folder) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import wslab\n"
        "from wslab.ui import BrowserClient\n"
        "server = wslab.serve(name='baseurl', subprotocols=['b.v1'])\n"
        "bc = BrowserClient(server, onmessage=\"show('my handler saw ' + event.data)\")\n"
        "bc")]
    nbformat.write(nb, folder / NOTEBOOK)


class Refusals:
    """Playwright routing: only the Jupyter server's origin is reachable."""

    def __init__(self, ctx, http_origin: str) -> None:
        self.http_origin = http_origin
        self.ws_origin = "ws" + http_origin[len("http"):]
        self.refused: list[str] = []
        ctx.route(lambda url: not url.startswith(self.http_origin + "/"), self._refuse_http)
        ctx.route_web_socket(lambda url: not url.startswith(self.ws_origin + "/"),
                             self._refuse_ws)

    def _refuse_http(self, route) -> None:
        self.refused.append(route.request.url)
        route.abort("addressunreachable")

    def _refuse_ws(self, ws) -> None:
        self.refused.append(ws.url)
        ws.close(code=1008, reason="refused by the test: not the Jupyter server")


def _events(page) -> list[dict]:
    return json.loads(kernel_exec(page, "import json; print(json.dumps(bc.events))"))


def test_browser_features_work_through_a_base_url_jupyter_server(tmp_path, chromium_path):
    shot = tmp_path / "jupyter_base_url.png"
    _write_notebook(tmp_path)
    with jupyterlab(tmp_path, [], base_url=BASE_URL, extra_files=[tmp_path / NOTEBOOK],
                    server_extensions={HOP_EXTENSION: False}) as base, \
            chromium(chromium_path) as ctx:
        origin = re.match(r"http://[^/]+", base).group(0)
        refusals = Refusals(ctx, origin)
        page = ctx.new_page()
        try:
            run_notebook(page, base, NOTEBOOK, timeout_ms=120_000)
            facts = kernel_exec(page, "from wslab.net import public_url\n"
                                      "print(public_url.route().base); print(server.port)\n"
                                      "print(bc.url); print(server.page_url)")
            route_base, port, bc_url, page_url = facts.split()
            assert route_base == BASE_URL
            assert bc_url == f"{BASE_URL}proxy/{port}/echo"
            assert page_url == f"{BASE_URL}proxy/{port}/"
            widget = page.locator(".wslab-bc").first
            widget.wait_for(timeout=30_000)

            # BrowserClient: the browser's own WebSocket, driven from Python...
            kernel_exec(page, "bc.connect()")
            widget.locator(".wslab-bc-state[data-state='1']").wait_for(timeout=30_000)
            kernel_exec(page, "bc.send('hello from the kernel')")
            widget.locator("li.wslab-bc-ev-show", has_text="my handler saw hello from the kernel") \
                .wait_for(timeout=30_000)
            # ...and by hand
            widget.locator(".wslab-bc-message").fill("typed in the browser")
            widget.locator(".wslab-bc-send").click()
            widget.locator("li.wslab-bc-ev-message", has_text="typed in the browser") \
                .wait_for(timeout=30_000)
            events = _events(page)
            opened = [e for e in events if e["type"] == "open"][0]
            assert opened["url"] == f"{origin.replace('http', 'ws', 1)}{BASE_URL}proxy/{port}/echo"
            assert {"hello from the kernel", "typed in the browser"} <= {
                e.get("data") for e in events if e["type"] == "message"}
            # jupyter-server-proxy issue #459: the proxy answers the subprotocol offer itself
            # (the browser offered nothing here, so it must report none)
            assert opened["protocol"] == ""
            # The kernel's server saw the Jupyter server's origin, accepted on this route only
            seen = json.loads(kernel_exec(
                page, "import json; print(json.dumps([e.extra.get('origin') "
                      "for e in server.events.of('open')]))"))
            assert seen and all(o == origin for o in seen), seen
            refused_direct = kernel_exec(
                page, "try:\n"
                      f"    wslab.connect(server.url, origin={origin!r}).close()\n"
                      "    print('accepted')\n"
                      "except wslab.ConnectionFailed as exc:\n"
                      "    print('refused', exc)")
            assert refused_direct.startswith("refused") and "403" in refused_direct

            # Close from Python: the browser's close event reaches the kernel
            kernel_exec(page, "bc.close(1000, 'done')")
            widget.locator("li.wslab-bc-ev-close", has_text="code 1000").wait_for(timeout=30_000)
            closes = [e for e in _events(page) if e["type"] == "close"]
            assert closes and closes[0]["code"] == 1000 and closes[0]["wasClean"] is True

            # The client page, its app heartbeat, and the chat, each through the proxy
            client = client_page_echoes(ctx, origin + page_url, "from the client page")
            assert client.locator("#url").input_value() == \
                f"{origin.replace('http', 'ws', 1)}{page_url}echo"
            client.locator("#appPingButton").click()
            client.locator("#log li[data-kind=pong]", has_text="round trip").wait_for(
                timeout=30_000)
            chat_a, chat_b = ctx.new_page(), ctx.new_page()
            for chat in (chat_a, chat_b):
                chat.goto(origin + page_url + "?path=/chat", timeout=30_000)
                chat.locator("#readyState[data-state='1']").wait_for(timeout=30_000)
            chat_a.locator("#messageInput").fill("hello room")
            chat_a.locator("#sendButton").click()
            chat_b.locator("#log li[data-kind=received]", has_text="hello room").wait_for(
                timeout=30_000)

            # What a browser negotiates through jupyter-server-proxy (its issue #459)
            # (bc2 is never displayed: the socket lives in the widget's model, not a view)
            kernel_exec(page, "bc2 = BrowserClient(server, protocols=['a.v1', 'b.v1'])")
            kernel_exec(page, "bc2.connect()")
            wait_until(lambda: kernel_exec(page, "print(bc2.ready_state)").strip() == "1",
                       30, what="bc2 OPEN")
            negotiated = json.loads(kernel_exec(
                page, "import json; print(json.dumps({'browser': bc2.protocol, "
                      "'extensions': bc2.extensions, 'server': server.events.of('open')[-1]"
                      ".extra.get('subprotocol')}))"))
            (artifact_dir() / "jupyter_proxy_negotiation.json").write_text(
                json.dumps(negotiated, indent=1))
            # the proxy said yes to the browser's first offer; the kernel's server chose b.v1
            assert negotiated == {"browser": "a.v1", "extensions": negotiated["extensions"],
                                  "server": "b.v1"}, negotiated
            assert refusals.refused == [], refusals.refused
            kernel_exec(page, "bc2.close_widget(); wslab.stop_all()")
            page.screenshot(path=str(shot))
        except Exception as exc:
            page.screenshot(path=str(shot))
            raise AssertionError(f"{exc}\nscreenshot: {shot}") from exc
        finally:
            shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None
