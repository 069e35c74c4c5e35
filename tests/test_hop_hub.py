"""Behind a real JupyterHub: Chromium -> configurable-http-proxy -> the single-user server's
hop -> the kernel's server, and back.  What each end sends is what the other one sees.

The same rounds as test_hop_browser.py (JupyterLab alone), with the hub's own proxy in
front: it forwards the upgrade and then bytes, so it changes nothing the hop keeps.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.browser import chromium
from tests.conftest import artifact_dir, need
from tests.hub import hub_binary, jupyterhub, log_in, proxy_command
from tests.jupyterlab import HOP_EXTENSION, kernel_exec, run_notebook
from tests.test_hop_browser import NOTEBOOK, browser_round, write_notebook
from tests.test_jupyter_base_url import Refusals

pytestmark = pytest.mark.browser
USER = "alice"


def test_close_codes_and_the_subprotocol_survive_a_real_jupyterhub(tmp_path, chromium_path,
                                                                    installed_wslab):
    need(hub_binary() is not None, "jupyterhub (pip install -e '.[test]')")
    need(proxy_command() is not None,
         "configurable-http-proxy (npm install --prefix .cache/node configurable-http-proxy)")
    shot = tmp_path / "hop_hub.png"
    write_notebook(tmp_path)
    # a plain install (the wheel) enables the hop by its own jupyter-config file;
    # server_extensions only says so again
    with jupyterhub(tmp_path, [], users=[USER], extra_files=[tmp_path / NOTEBOOK],
                    installed=installed_wslab.hub_environment(),
                    server_extensions=[HOP_EXTENSION]) as hub, \
            chromium(chromium_path) as ctx:
        refusals = Refusals(ctx, hub)
        page = ctx.new_page()
        try:
            log_in(page, hub, USER)
            run_notebook(page, f"{hub}/user/{USER}", NOTEBOOK, timeout_ms=180_000)
            via, port = kernel_exec(page, "print(public_url.route().via, server.port)").split()
            assert via == "wslab"
            proxy = browser_round(page, "jsp", "public_url.for_browser(server.url, "
                                               "via='jupyter-server-proxy')")
            hop = browser_round(page, "hop", "server")
            (artifact_dir() / "hop_hub.json").write_text(
                json.dumps({"jupyter-server-proxy": proxy, "wslab hop": hop}, indent=1))
            # behind the hub too, jupyter-server-proxy loses what the hop keeps
            assert proxy["server_saw_close"] == proxy["browser_saw_close"] == [1005, ""], proxy
            assert (proxy["protocol"], proxy["server_chose"], proxy["extensions"]) == \
                ("a.v1", "b.v1", ""), proxy
            assert hop["url"] == f"/user/{USER}/wslab/{port}/echo"
            assert hop["server_saw_close"] == [4002, "bye"], hop
            assert hop["browser_saw_close"] == [4001, "custom reason"], hop
            assert (hop["protocol"], hop["server_chose"]) == ("b.v1", "b.v1"), hop
            assert hop["extensions"].startswith("permessage-deflate"), hop
            # the kernel's server saw the hub's origin, through the hop
            origins = json.loads(kernel_exec(
                page, "print(json.dumps([e.extra.get('origin') for e in "
                      "server.events.of('open')]))"))
            assert origins and set(origins) == {hub}, origins
            assert refusals.refused == [], refusals.refused
            kernel_exec(page, "wslab.stop_all()")
            page.screenshot(path=str(shot))
        except Exception as exc:
            page.screenshot(path=str(shot))
            log = (tmp_path / "jupyterhub.log").read_text()[-3000:]
            raise AssertionError(f"{exc}\nscreenshot: {shot}\nhub log tail:\n{log}") from exc
        finally:
            shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None
