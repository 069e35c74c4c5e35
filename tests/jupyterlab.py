"""A real JupyterLab for end-to-end tests: temporary dirs, no token, loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import nbformat

from tests.notebook_checks import LIVE_PROBE, assert_live
from wslab.net.services import free_port

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _free_port() -> int:
    """A loopback port for a child server to bind next (outside the ephemeral range)."""
    return free_port()


def lab_env(tmp: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]:
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / sub)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Every cell rendered in the DOM (no virtual scrolling), so tests can find widgets.
    tracker = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return env


#: The Jupyter server extension of wslab's hop (wslab.net.jupyter_ext).
HOP_EXTENSION = "wslab.net.jupyter_ext"


def enable_server_extensions(config_dir: pathlib.Path,
                             names: list[str] | dict[str, bool]) -> None:
    """Enable Jupyter server extensions in ``config_dir`` (a JUPYTER_CONFIG_DIR), as an
    installed package's ``jupyter_server_config.d`` file does; a dict also disables
    (``{HOP_EXTENSION: False}``: the user's config wins over the installed one)."""
    folder = config_dir / "jupyter_server_config.d"
    folder.mkdir(parents=True, exist_ok=True)
    enabled = dict(names) if isinstance(names, dict) else {name: True for name in names}
    (folder / "wslab-tests.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": enabled}}))


@contextlib.contextmanager
def jupyterlab(tmp: pathlib.Path, notebooks: list[str], *,
               base_url: str = "/", extra_files: list[pathlib.Path] = (),
               server_extensions: list[str] | dict[str, bool] = (), token: str = "",
               app: str = "lab") -> Iterator[str]:
    """Start JupyterLab on a temporary copy of ``notebooks``; yield its base URL
    (``http://127.0.0.1:PORT`` plus ``base_url`` without its last slash, e.g.
    ``/user/alice`` as on a JupyterHub).  ``server_extensions``: Jupyter server
    extensions to enable (e.g. ``[HOP_EXTENSION]``; a dict enables and disables);
    ``token``: the server's token
    (none by default); ``app="server"`` starts a plain Jupyter server, no JupyterLab."""
    root = tmp / "nb"
    root.mkdir()
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / name, root / name)
    for path in extra_files:  # e.g. a notebook a test wrote
        shutil.copy(path, root / path.name)
    env = lab_env(tmp)
    if server_extensions:
        enable_server_extensions(pathlib.Path(env["JUPYTER_CONFIG_DIR"]), server_extensions)
    bindir = pathlib.Path(sys.executable).parent
    jupyter = str(bindir / "jupyter")
    lab_args = ["--LabApp.expose_app_in_browser=True", "--LabServerApp.open_browser=False"]
    if app == "lab":
        subprocess.run([jupyter, "labextension", "disable",
                        "@jupyterlab/apputils-extension:announcements"],
                       env=env, check=True, capture_output=True, timeout=60)
    else:
        lab_args = []
    port = _free_port()
    log = open(tmp / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [jupyter, app, "--no-browser", "--allow-root", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
         *lab_args, f"--ServerApp.base_url={base_url}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}" + base_url.rstrip("/")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log = (tmp / "jupyterlab.log").read_text()[-2000:]
                raise RuntimeError(f"JupyterLab exited: {log}")
            try:
                status = f"{base}/api/status" + (f"?token={token}" if token else "")
                with urllib.request.urlopen(status, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not answer within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def run_notebook(page, base: str, name: str, *, skip_last: bool = False,
                 timeout_ms: int = 240_000) -> None:
    """Open ``name`` in JupyterLab and run its cells (all, or all but the last one, which
    stops what the notebook started); return when every run cell has finished."""
    page.goto(f"{base}/lab/tree/{name}?reset", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext",
                           timeout=60_000)
    command = "notebook:run-all-above" if skip_last else "notebook:run-all-cells"
    page.evaluate("""async (command) => {
      const app = window.jupyterapp, panel = app.shell.currentWidget;
      await panel.sessionContext.ready;
      panel.content.activeCellIndex = panel.content.widgets.length - 1;
      await app.commands.execute(command);
    }""", command)
    page.wait_for_function("""(skipLast) => {
      const panel = window.jupyterapp.shell.currentWidget;
      let code = panel.content.widgets.filter(c => c.model.type === 'code');
      if (skipLast) code = code.slice(0, -1);
      const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
      return kernel && kernel.status === 'idle' && code.every(c => c.model.executionCount !== null);
    }""", arg=skip_last, timeout=timeout_ms, polling=500)


def kernel_exec(page, code: str) -> str:
    """Run ``code`` in the kernel of the notebook open in ``page`` (as a cell would, without
    adding one); return its stdout.  An exception in the kernel fails the test with its text."""
    out = page.evaluate("""async (code) => {
      const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
      const future = kernel.requestExecute({code, store_history: false});
      let text = "";
      future.onIOPub = (msg) => {
        const t = msg.header.msg_type;
        if (t === "stream") text += msg.content.text;
        if (t === "error")
          text += "\\nKERNEL ERROR " + msg.content.ename + ": " + msg.content.evalue;
      };
      await future.done;
      return text;
    }""", code)
    if "KERNEL ERROR" in out:
        raise AssertionError(f"the kernel raised while running {code!r}: {out}")
    return out


def shutdown_kernels(base: str) -> None:
    """Stop every kernel of the JupyterLab at ``base`` (a notebook's servers die with it)."""
    with urllib.request.urlopen(f"{base}/api/kernels", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def renders_cleanly(lab: tuple, name: str, shot: pathlib.Path, artifacts: pathlib.Path, *,
                    notebook_path: pathlib.Path) -> None:
    """Run notebook ``name`` top to bottom in the JupyterLab of ``lab`` (base URL, browser
    context): every widget renders, no cell raises or prints to stderr, and the servers
    it started (its file: ``notebook_path``) still run; the last screen is saved as ``shot``
    and copied into ``artifacts``; the kernel is stopped afterwards."""
    base, ctx = lab
    page = ctx.new_page()
    try:
        run_notebook(page, base, name)
        errors = page.locator(".jp-OutputArea-output[data-mime-type="
                              "'application/vnd.jupyter.stderr']").all_text_contents()
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type="
                                  "'application/vnd.jupyter.error']").count()
        page.screenshot(path=str(shot))
        assert "Error displaying widget" not in page.content()
        assert tracebacks == 0, f"{tracebacks} cell(s) raised; screenshot: {shot}"
        assert not errors, f"stderr in {name}: {errors[:3]}; screenshot: {shot}"
        assert_live(name, nbformat.read(notebook_path, as_version=4),
                    kernel_exec(page, LIVE_PROBE))
    finally:
        if shot.exists():
            shutil.copy(shot, artifacts / shot.name)
        page.close()
        shutdown_kernels(base)
