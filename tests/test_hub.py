"""A real JupyterHub, one per run of this module: a student logs in with Chromium.

- Notebook 03's BrowserClient echoes through the hub's proxy, the single-user server and
  wslab's hop (the Jupyter server extension a plain install enables by its own
  jupyter-config file: nothing here switches it on).
- Close codes, the subprotocol and permessage-deflate survive the hop behind the hub's proxy
  (Chromium -> configurable-http-proxy -> the hop -> the kernel's server, and back), the same
  rounds as tests/test_hop_browser.py (JupyterLab alone); jupyter-server-proxy loses them.

The single-user server runs from wslab's wheel installed in a fresh venv (tests/wheelenv.py),
and README's ``Spawner.cmd`` put the course into the student's ``~/wslab`` as it started.
One test, one hub and one student server for both parts (a JupyterHub and a single-user
server take about 100 s to start on 2 cores; pytest-xdist's ``loadgroup`` no longer keeps
two tests on one worker with pytest 9.2, pytest-xdist issue #1386).

Chromium may reach the hub's public address only (Playwright refuses everything else), as a
student's laptop reaches a hub and nothing behind it.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium, client_page_echoes
from tests.conftest import CHROMIUM, artifact_dir, need, wait_until
from tests.hub import hub_binary, jupyterhub, log_in, proxy_command
from tests.jupyterlab import kernel_exec, run_notebook
from tests.test_hop_browser import NOTEBOOK as HOP_NOTEBOOK
from tests.test_hop_browser import both_rounds, write_notebook
from tests.test_jupyter_base_url import Refusals

pytestmark = pytest.mark.browser
NOTEBOOK = "03_echo_server_and_client.ipynb"
USER = "alice"


@pytest.fixture
def student(tmp_path_factory, installed_wslab):
    """(hub URL, Chromium context, the hub's folder, the installed environment)."""
    need(pathlib.Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    need(hub_binary() is not None, "jupyterhub (pip install -e '.[test]')")
    need(proxy_command() is not None,
         "configurable-http-proxy (make test installs it into .cache/node with npm)")
    tmp = tmp_path_factory.mktemp("hub")
    write_notebook(tmp)
    installed = installed_wslab.hub_environment()
    with jupyterhub(tmp, [], users=[USER], extra_files=[tmp / HOP_NOTEBOOK],
                    installed=installed) as hub, chromium(CHROMIUM) as ctx:
        yield hub, ctx, tmp, installed


@contextlib.contextmanager
def _as_student(student, shot: pathlib.Path, notebook: str, *,  # noqa: ANN001
                skip_last: bool = False) -> Iterator[Any]:
    """A page on which the student is logged in (or already was) and has run ``notebook``;
    at the end no request went anywhere but the hub, the screen is saved as ``shot`` and what
    the notebook started is stopped.  A failure says where, with the hub's log."""
    hub, ctx, tmp, _installed = student
    refusals = Refusals(ctx, hub)
    page = ctx.new_page()
    try:
        log_in(page, hub, USER)
        run_notebook(page, f"{hub}/user/{USER}", notebook, skip_last=skip_last,
                     timeout_ms=180_000)
        yield page
        assert refusals.refused == [], refusals.refused
        page.screenshot(path=str(shot))
        kernel_exec(page, "wslab.stop_all()")
    except Exception as exc:
        page.screenshot(path=str(shot))
        log = (tmp / "jupyterhub.log").read_text()[-3000:]
        raise AssertionError(f"{exc}\nscreenshot: {shot}\nhub log tail:\n{log}") from exc
    finally:
        shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None


@pytest.mark.timeout(1200)  # setting up took 414 s with two CPU hogs (the wheel and its venvs)
def test_a_student_on_a_real_jupyterhub(student, tmp_path):
    """Both parts below, in this order, on one hub."""
    _browser_client_echoes(student, tmp_path)
    _close_codes_and_the_subprotocol_survive(student, tmp_path)


def _browser_client_echoes(student, tmp_path: pathlib.Path) -> None:  # noqa: ANN001
    hub, ctx, _tmp, installed = student
    with _as_student(student, tmp_path / "jupyterhub_03.png", f"wslab/{NOTEBOOK}",
                     skip_last=True) as page:
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
        client_page_echoes(ctx, hub + facts["page"], "page through the hub")
        # classroom(host="jupyter"): the join link goes through the hub
        join = kernel_exec(page, "room = wslab.classroom(host='jupyter', port=0)\n"
                                 "print(room.join_url)").strip()
        assert join.startswith(f"/user/{USER}/wslab/") and "wslab_token=" in join
        client_page_echoes(ctx, hub + join, "a student says hi")


def _close_codes_and_the_subprotocol_survive(student, tmp_path: pathlib.Path) -> None:  # noqa: ANN001
    hub = student[0]
    with _as_student(student, tmp_path / "hop_hub.png", HOP_NOTEBOOK) as page:
        via, port = kernel_exec(page, "print(public_url.route().via, server.port)").split()
        assert via == "wslab"
        proxy, hop = both_rounds(page, "hop_hub.json")
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
