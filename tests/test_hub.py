"""A real JupyterHub: a student logs in with Chromium, opens notebook 03, and the notebook's
BrowserClient echoes through the hub's proxy, the single-user server and wslab's hop (the
Jupyter server extension a plain install enables).

The single-user server runs from wslab's wheel installed in a fresh venv (tests/wheelenv.py),
and README's ``Spawner.cmd`` put the course into the student's ``~/wslab`` as it started.

Chromium may reach the hub's public address only (Playwright refuses everything else), as a
student's laptop reaches a hub and nothing behind it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.browser import chromium
from tests.conftest import artifact_dir, need, wait_until
from tests.hub import hub_binary, jupyterhub, log_in, proxy_command
from tests.jupyterlab import kernel_exec, run_notebook
from tests.test_jupyter_base_url import Refusals

pytestmark = pytest.mark.browser
NOTEBOOK = "03_echo_server_and_client.ipynb"
USER = "alice"


def test_browser_client_echoes_through_a_real_jupyterhub(tmp_path, chromium_path,
                                                          installed_wslab):
    need(hub_binary() is not None, "jupyterhub (pip install -e '.[test]')")
    need(proxy_command() is not None,
         "configurable-http-proxy (make test installs it into .cache/node with npm)")
    shot = tmp_path / "jupyterhub_03.png"
    installed = installed_wslab.hub_environment()
    with jupyterhub(tmp_path, [], users=[USER], installed=installed) as hub, \
            chromium(chromium_path) as ctx:
        refusals = Refusals(ctx, hub)
        page = ctx.new_page()
        try:
            log_in(page, hub, USER)
            run_notebook(page, f"{hub}/user/{USER}", f"wslab/{NOTEBOOK}", skip_last=True,
                         timeout_ms=180_000)
            facts = json.loads(kernel_exec(page, (
                "import json, os, sys\n"
                "print(json.dumps({'prefix': os.environ.get('JUPYTERHUB_SERVICE_PREFIX'),"
                " 'url': browser.url, 'port': server.port, 'page': server.page_url,"
                " 'python': sys.executable, 'wslab': wslab.__file__,"
                " 'course': sorted(os.listdir(os.path.expanduser('~/wslab')))}))")))
            assert facts["prefix"] == f"/user/{USER}/"
            # the plain install, not the checkout; the course delivered at the server's start
            assert facts["python"].startswith(str(installed.root))
            assert facts["wslab"].startswith(str(installed.root)), facts["wslab"]
            assert NOTEBOOK in facts["course"] and ".wslab-course.json" in facts["course"]
            assert facts["url"] == f"/user/{USER}/wslab/{facts['port']}/echo"
            assert facts["page"] == f"/user/{USER}/wslab/{facts['port']}/"
            widget = page.locator(".wslab-bc").first
            widget.wait_for(timeout=30_000)
            widget.scroll_into_view_if_needed()
            widget.locator(".wslab-bc-connect").click()
            widget.locator(".wslab-bc-state[data-state='1']").wait_for(timeout=30_000)
            widget.locator(".wslab-bc-message").fill("hello through the hub")
            widget.locator(".wslab-bc-send").click()
            widget.locator("li.wslab-bc-ev-message", has_text="hello through the hub").wait_for(
                timeout=30_000)
            # the events reached the kernel, and the echo went through the kernel's server
            wait_until(lambda: "hello through the hub" in kernel_exec(
                page, "print(browser.received)"), 30, what="the echo in browser.received")
            opened = json.loads(kernel_exec(
                page, "import json; print(json.dumps(browser.of('open')[-1]))"))
            assert opened["url"] == (f"{hub.replace('http', 'ws', 1)}/user/{USER}/wslab/"
                                     f"{facts['port']}/echo")
            origins = json.loads(kernel_exec(
                page, "print(json.dumps([e.extra.get('origin') for e in server.events.of('open')"
                      " if e.extra.get('path') == '/echo']))"))
            assert hub in origins, origins
            # the client page, through the hub
            client = ctx.new_page()
            client.goto(hub + facts["page"], timeout=60_000)
            client.locator("#readyState[data-state='1']").wait_for(timeout=30_000)
            client.locator("#messageInput").fill("page through the hub")
            client.locator("#sendButton").click()
            client.locator("#log li[data-kind=received]", has_text="page through the hub") \
                .wait_for(timeout=30_000)
            # classroom(host="jupyter"): the join link goes through the hub
            join = kernel_exec(page, "room = wslab.classroom(host='jupyter', port=0)\n"
                                     "print(room.join_url)").strip()
            assert join.startswith(f"/user/{USER}/wslab/") and "wslab_token=" in join
            student = ctx.new_page()
            student.goto(hub + join, timeout=60_000)
            student.locator("#readyState[data-state='1']").wait_for(timeout=30_000)
            student.locator("#messageInput").fill("a student says hi")
            student.locator("#sendButton").click()
            student.locator("#log li[data-kind=received]", has_text="a student says hi") \
                .wait_for(timeout=30_000)
            assert refusals.refused == [], refusals.refused
            page.screenshot(path=str(shot))
            kernel_exec(page, "wslab.stop_all()")
        except Exception as exc:
            page.screenshot(path=str(shot))
            log = (tmp_path / "jupyterhub.log").read_text()[-3000:]
            raise AssertionError(f"{exc}\nscreenshot: {shot}\nhub log tail:\n{log}") from exc
        finally:
            shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None
