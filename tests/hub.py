"""A real JupyterHub for end-to-end tests: dummy login, local process spawner, loopback only.

The hub (``jupyterhub`` from PyPI) runs as a child process with everything in a temporary
folder: its database, cookie secret, the users' home folders, the Jupyter dirs of the
single-user servers.  Its proxy is ``configurable-http-proxy`` from npm, which ``make test``
installs into ``.cache/node`` (tests never install anything).

The single-user servers run as on a real hub image: from an environment where wslab is
installed the plain way (``installed``: the wheel in a fresh venv, tests/wheelenv.py, with
JupyterHub added), never from the checkout (no PYTHONPATH reaches them), and they start with
README's ``Spawner.cmd``, which copies the course into each student's ``~/wslab``.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from tests.jupyterlab import ROOT, _free_port, enable_server_extensions, lab_env
from tests.wheelenv import Installed, clean_env

# README's line for a hub: the course into ~/wslab at every start, then the server.
SPAWNER_CMD = ["sh", "-c", 'python -m wslab notebooks "$HOME/wslab"; '
               'exec jupyterhub-singleuser "$@"', "--"]
CHP = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "classroom"


def proxy_command() -> str | None:
    """configurable-http-proxy: .cache/node (installed by .ci/run), else one on PATH."""
    if CHP.exists() and os.access(CHP, os.X_OK):
        return str(CHP)
    return shutil.which("configurable-http-proxy")


def hub_binary() -> str | None:
    path = pathlib.Path(sys.executable).parent / "jupyterhub"
    return str(path) if path.exists() else shutil.which("jupyterhub")


def _config(tmp: pathlib.Path, port: int, notebooks: list[str],
            users: list[str], installed: Installed,
            extra_files: list[pathlib.Path] = ()) -> pathlib.Path:
    homes = tmp / "home"
    homes.mkdir()
    env = {k: v for k, v in lab_env(tmp / "user-jupyter").items()
           if k.startswith(("JUPYTER", "IPYTHONDIR", "MPL"))}
    env["PATH"] = f"{installed.bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    args = ["--LabApp.expose_app_in_browser=True"]
    if os.getuid() == 0:
        args.append("--allow-root")
    text = f"""
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {_free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.command = [{proxy_command()!r}]
c.ConfigurableHTTPProxy.pid_file = {str(tmp / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{tmp / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(tmp / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(tmp / "hub.pid")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(homes / "{username}")!r}
c.Spawner.cmd = {SPAWNER_CMD!r}
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.environment = {env!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
"""
    path = tmp / "jupyterhub_config.py"
    path.write_text(text)
    for user in users:  # and ``notebooks`` in each home, besides ~/wslab (the course)
        (homes / user).mkdir()
        for name in notebooks:
            shutil.copy(ROOT / "notebooks" / name, homes / user / name)
        for extra in extra_files:  # e.g. a notebook a test wrote
            shutil.copy(extra, homes / user / extra.name)
    return path


@contextlib.contextmanager
def jupyterhub(tmp: pathlib.Path, notebooks: list[str], *, installed: Installed,
               users: list[str] = ("alice",), extra_files: list[pathlib.Path] = (),
               server_extensions: list[str] | dict[str, bool] = ()) -> Iterator[str]:
    """Start a JupyterHub on 127.0.0.1 whose ``users`` have the course in ``~/wslab`` and
    ``notebooks`` (and ``extra_files``) in their home, their servers running from
    ``installed`` (with JupyterHub: ``installed_wslab.hub_environment()``) with
    ``server_extensions`` switched on or off; yield its public URL (``http://127.0.0.1:PORT``)."""
    assert installed.with_hub, "the single-user servers need installed.hub_environment()"
    port = _free_port()
    config = _config(tmp, port, notebooks, list(users), installed, list(extra_files))
    # the hub's own process: this Python's jupyterhub, nothing of the checkout on its path
    env = clean_env()
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the labextension-disable step once for every user's shared config dir
    user_env = clean_env(**{k: v for k, v in lab_env(tmp / "user-jupyter").items()
                            if k.startswith(("JUPYTER", "IPYTHONDIR", "MPL"))})
    if server_extensions:
        enable_server_extensions(pathlib.Path(user_env["JUPYTER_CONFIG_DIR"]),
                                 server_extensions)
    subprocess.run([str(installed.bindir / "jupyter"), "labextension",
                    "disable", "@jupyterlab/apputils-extension:announcements"],
                   env=user_env, check=True, capture_output=True, timeout=60)
    log = open(tmp / "jupyterhub.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([hub_binary(), "-f", str(config)], cwd=tmp, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                tail = (tmp / "jupyterhub.log").read_text()[-3000:]
                raise RuntimeError(f"JupyterHub exited: {tail}")
            try:
                with urllib.request.urlopen(f"{base}/hub/api/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterHub did not answer within 90 s: "
                                   f"{(tmp / 'jupyterhub.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()  # the hub stops the single-user servers and its proxy (cleanup_servers)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def log_in(page, hub: str, user: str, *, timeout_ms: int = 120_000) -> None:
    """Log in on the hub's form as ``user`` (a context that already holds the hub's cookie
    is sent on by the hub) and wait until the user's JupyterLab is up."""
    page.goto(f"{hub}/hub/login", timeout=60_000)
    if "/hub/login" in page.url:
        page.locator("input[name=username]").fill(user)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"{hub}/user/{user}/lab**", timeout=timeout_ms)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started",
                           timeout=timeout_ms)
