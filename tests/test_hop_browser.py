"""Chromium through a JupyterLab with a base URL (as on a hub): the two routes side by side.

Playwright lets the browser reach the Jupyter server's origin only.  The kernel runs a
server that speaks ``b.v1`` and permessage-deflate and closes with 4001 "custom reason"
when asked, with a Tap in front of it.  Two BrowserClients (the browser's own
``new WebSocket``) dial it:

* through jupyter-server-proxy (``<base>proxy/<port>/``): the faults measured on a hub
  are reproduced here: a close 4002 "bye" reaches the server as 1005, the server's 4001
  reaches the browser as 1005 without its reason, the proxy answers the offer ``a.v1,
  b.v1`` with ``a.v1`` itself while the server chose ``b.v1``, no extension with the
  browser;
* through wslab's hop (``<base>wslab/<port>/``): 4002 "bye" and 4001 "custom reason"
  arrive as sent, the browser gets ``b.v1``, permessage-deflate is agreed end to end,
  and the Tap in the kernel sees Chromium's own masked frames.
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
from tests.test_jupyter_base_url import Refusals

pytestmark = pytest.mark.browser
BASE_URL = "/user/alice/"
NOTEBOOK = "hop_check.ipynb"
SETUP = (
    "import json, wslab\n"
    "from wslab.net import public_url\n"
    "from wslab.ui import BrowserClient\n"
    "server = wslab.serve(name='hop', subprotocols=['b.v1'], compression=True)\n"
    "@server.on_message\n"
    "def handle(conn, message):\n"
    "    conn.close(4001, 'custom reason') if message == 'close me' else conn.send(message)\n"
    "tap = wslab.Tap(server.url)\n"
    "def facts(bc):\n"
    "    return {'url': bc.url, 'state': bc.ready_state, 'protocol': bc.protocol,\n"
    "            'extensions': bc.extensions, 'closes': bc.of('close')}\n"
)


def write_notebook(folder, setup: str = SETUP) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup)]
    nbformat.write(nb, folder / NOTEBOOK)


def facts(page, name: str) -> dict:
    return json.loads(kernel_exec(page, f"print(json.dumps(facts({name})))"))


def server_closes(page) -> list[list]:
    return json.loads(kernel_exec(page, "print(json.dumps([[e.code, e.reason] for e in "
                                        "server.events.of('close') if e.extra.get('clean') "
                                        "is not None]))"))


def both_rounds(page, artifact: str) -> tuple[dict, dict]:  # noqa: ANN001
    """The same round through jupyter-server-proxy and through wslab's hop; both kept as
    ``artifact`` (JSON) in the test artifacts."""
    proxy = browser_round(page, "jsp", "public_url.for_browser(server.url, "
                                       "via='jupyter-server-proxy')")
    hop = browser_round(page, "hop", "server")
    (artifact_dir() / artifact).write_text(
        json.dumps({"jupyter-server-proxy": proxy, "wslab hop": hop}, indent=1))
    return proxy, hop


def browser_round(page, name: str, url_expr: str) -> dict:
    """Open a BrowserClient offering a.v1, b.v1; echo once; close it with 4002 "bye"; then
    a second one asks the server to close (4001).  What each side saw."""
    kernel_exec(page, f"{name} = BrowserClient({url_expr}, protocols=['a.v1', 'b.v1'])\n"
                      f"{name}.connect()")
    wait_until(lambda: facts(page, name)["state"] == 1, 30, what=f"{name} OPEN")
    opened = facts(page, name)
    kernel_exec(page, f"{name}.send('hello ' * 20)")
    wait_until(lambda: "hello " * 20 in kernel_exec(page, f"print({name}.received)"), 30,
               what=f"{name}'s echo")
    before = len(server_closes(page))
    kernel_exec(page, f"{name}.close(4002, 'bye')")
    wait_until(lambda: len(server_closes(page)) > before, 30, what="the server's close event")
    server_saw = server_closes(page)[-1]
    kernel_exec(page, f"{name}b = BrowserClient({url_expr})\n{name}b.connect()")
    wait_until(lambda: facts(page, f"{name}b")["state"] == 1, 30, what=f"{name}b OPEN")
    kernel_exec(page, f"{name}b.send('close me')")
    wait_until(lambda: facts(page, f"{name}b")["closes"], 30, what=f"{name}b's close event")
    browser_saw = facts(page, f"{name}b")["closes"][-1]
    subprotocol = json.loads(kernel_exec(page, "print(json.dumps(server.events.of('open')[-2]"
                                               ".extra.get('subprotocol')))"))
    return {"url": opened["url"], "protocol": opened["protocol"],
            "extensions": opened["extensions"], "server_chose": subprotocol,
            "server_saw_close": server_saw,
            "browser_saw_close": [browser_saw["code"], browser_saw["reason"]]}


def test_the_hop_is_transparent_where_jupyter_server_proxy_is_not(tmp_path, chromium_path):
    shot = tmp_path / "hop_browser.png"
    write_notebook(tmp_path)
    with jupyterlab(tmp_path, [], base_url=BASE_URL, extra_files=[tmp_path / NOTEBOOK],
                    server_extensions=[HOP_EXTENSION]) as base, chromium(chromium_path) as ctx:
        origin = re.match(r"http://[^/]+", base).group(0)
        refusals = Refusals(ctx, origin)
        page = ctx.new_page()
        try:
            run_notebook(page, base, NOTEBOOK, timeout_ms=120_000)
            route = kernel_exec(page, "print(public_url.route().via, server.port, tap.port)")
            via, port, tap_port = route.split()
            assert via == "wslab"
            proxy, hop = both_rounds(page, "hop_vs_proxy.json")
            # jupyter-server-proxy: the three faults, reproduced
            assert proxy["url"].endswith(f"{BASE_URL}proxy/{port}/echo")
            assert proxy["server_saw_close"] == [1005, ""], proxy
            assert proxy["browser_saw_close"] == [1005, ""], proxy
            assert (proxy["protocol"], proxy["server_chose"]) == ("a.v1", "b.v1"), proxy
            assert proxy["extensions"] == "", proxy
            # wslab's hop: what each end sent is what the other one saw
            assert hop["url"].endswith(f"{BASE_URL}wslab/{port}/echo")
            assert hop["server_saw_close"] == [4002, "bye"], hop
            assert hop["browser_saw_close"] == [4001, "custom reason"], hop
            assert (hop["protocol"], hop["server_chose"]) == ("b.v1", "b.v1"), hop
            assert hop["extensions"].startswith("permessage-deflate"), hop

            # the client page through the hop: its WebSocket URL is relative to the page
            page_url = kernel_exec(page, "print(server.page_url)").strip()
            assert page_url == f"{BASE_URL}wslab/{port}/"
            client = client_page_echoes(ctx, origin + page_url, "from the client page")
            client.close()

            # Chromium's own frames, as they arrive in the kernel (through the hop, a Tap)
            kernel_exec(page, "bt = BrowserClient(public_url.for_browser(tap.url))\n"
                              "bt.connect()")
            wait_until(lambda: facts(page, "bt")["state"] == 1, 30, what="bt OPEN")
            assert facts(page, "bt")["url"].endswith(f"{BASE_URL}wslab/{tap_port}/echo")
            kernel_exec(page, "bt.send('masked by Chromium ' * 4)\nbt.close(4002, 'bye')")
            wait_until(lambda: facts(page, "bt")["closes"], 30, what="bt closed")
            frames = json.loads(kernel_exec(page, (
                "print(json.dumps([[r.direction[:6], r.opcode, r.masked, r.mask_key.hex() "
                "if r.mask_key else '', r.rsv1, r.close_code] for r in tap.frames]))")))
            up = [f for f in frames if f[0] == "client"]
            assert [f[1] for f in up] == ["TEXT", "CLOSE"], frames
            assert all(f[2] and len(f[3]) == 8 for f in up), frames  # masked, 4-byte keys
            assert up[0][4] is True, frames  # RSV1: compressed by Chromium itself
            assert up[1][5] == 4002, frames
            assert all(not f[2] for f in frames if f[0] == "server"), frames

            # The lesson's cells (docs/hop_lesson_cells.md), one kernel_exec per cell
            kernel_exec(page, "from wslab.ui.hop_lesson import RouteTrial, compare_routes\n"
                              "trials = [RouteTrial('wslab'), RouteTrial('jupyter-server-proxy')]"
                              "\nfor trial in trials:\n    trial.open()")
            said = kernel_exec(page, "for trial in trials:\n    print(trial.close_both_ways())")
            assert said.split("\n")[:2] == ["wslab's hop: closed both ways",
                                            "jupyter-server-proxy: closed both ways"], said
            wait_until(lambda: "?" not in kernel_exec(
                page, "print(compare_routes(trials).rows()[-1])"), 30,
                what="the browser's close events in the comparison")
            rows = {r[0]: r[1:] for r in json.loads(kernel_exec(
                page, "print(json.dumps(compare_routes(trials).rows()))"))}
            (artifact_dir() / "hop_lesson_table.json").write_text(json.dumps(rows, indent=1))
            # Chromium's header reaches the kernel as sent; the proxy's client writes its own
            assert rows["offer reaching the kernel"] == ["a.v1, b.v1", "a.v1,b.v1"], rows
            assert rows["the kernel's server chose"] == ["b.v1"] * 2, rows
            assert rows["the browser was told"] == ["'b.v1', extensions 'permessage-deflate'",
                                                    "'a.v1', extensions ''"], rows
            assert rows["extensions it agreed"][0].startswith("permessage-deflate"), rows
            assert rows["extensions it agreed"][1].startswith("permessage-deflate"), rows
            assert rows["first data frame in the kernel"][0].startswith("TEXT RSV1=1 mask key")
            assert rows["the kernel's server received"] == ["4002 'bye'", "1005 ''"], rows
            assert rows["the browser's close event"] == ["4001 'custom reason'", "1005 ''"], rows
            html = kernel_exec(page, "print(compare_routes(trials).value)")
            assert "wslab-hop-compare" in html
            kernel_exec(page, "for trial in trials:\n    trial.stop()")
            assert refusals.refused == [], refusals.refused
            kernel_exec(page, "wslab.stop_all()")
            page.screenshot(path=str(shot))
        except Exception as exc:
            page.screenshot(path=str(shot))
            raise AssertionError(f"{exc}\nscreenshot: {shot}") from exc
        finally:
            shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None
