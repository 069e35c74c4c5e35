"""Every notebook runs top to bottom in a real kernel (nbclient), headless."""

from __future__ import annotations

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


@pytest.fixture
def jupyter_env(tmp_path, monkeypatch):
    """Keep kernels from writing into ~ (JUPYTER_*, IPYTHONDIR, MPLCONFIGDIR)."""
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")]:
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return tmp_path


def run_notebook(path: pathlib.Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


LIVE_PROBE = "import wslab\nprint('LIVE', len(wslab.servers()))"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, jupyter_env):
    """Run All: no error, nothing on stderr, and the live parts are still live afterwards
    (stopping everything is a deliberate act, not the last cell's side effect); the kernel's
    shutdown at the end of the test stops them (children die with the kernel)."""
    nb = nbformat.read(path, as_version=4)
    starts_servers = any(c.cell_type == "code" and "serve(" in c.source for c in nb.cells)
    probe = nbformat.v4.new_code_cell(LIVE_PROBE)
    nb.cells.append(probe)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    live = "".join(o.get("text", "") for o in probe.outputs).split()
    if starts_servers:
        assert live[:1] == ["LIVE"] and int(live[1]) >= 1, (
            f"{path.name}: after Run All no server is running ({live})")
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    stderr = [o["text"] for c in nb.cells for o in c.get("outputs", [])
              if o.get("name") == "stderr"]
    assert not stderr, f"{path.name} printed to stderr: {stderr[:3]}"  # no warning, ever


def test_welcome_notebook_echoes_in_a_real_kernel(jupyter_env):
    """The lab-loop design in a kernel: a blocking cell connects and gets the echo."""
    nb = run_notebook(ROOT / "notebooks" / "00_welcome.ipynb")
    text = outputs_text(nb)
    assert "'hello'" in text
    assert "b'\\x00\\x01\\x02'" in text
    assert "< message" in text and "> message" in text  # the server's event log
    assert "WebSocket" in text and "long polling" in text  # the measured push comparison
    htmls = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
             if "text/html" in o.get("data", {})]
    assert any("overhead bytes/message" in h and "<table" in h for h in htmls)  # wslab.ui.views


def test_rerunning_the_timeline_cell_stops_the_previous_client(jupyter_env):
    """06: running the timeline cell a second time stops the first ReconnectingClient, so the
    proxy carries one client, not two; then the rest of the notebook runs and cleans up."""
    path = ROOT / "notebooks" / "06_reconnect.ipynb"
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and "rc = wslab.ReconnectingClient(proxy.url" in c.source)
    check = nbformat.v4.new_code_cell("first = rc")
    after = nbformat.v4.new_code_cell(
        "import time\n"
        "deadline = time.monotonic() + 10\n"
        "while proxy.connections != 1 and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('RERUN', rc is not first, first.state.name, first.phase, proxy.connections)\n")
    again = nbformat.v4.new_code_cell(nb.cells[at].source)  # the learner runs it again
    nb.cells[at + 1:at + 1] = [check, again, after]
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    printed = "".join(o.get("text", "") for o in after.outputs)
    assert printed.split() == ["RERUN", "True", "CLOSED", "stopped", "1"], printed
    errors = [o for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not errors, errors[:2]


def test_notebooks_exist():
    assert NOTEBOOKS, "no numbered notebooks found"
    assert os.path.basename(NOTEBOOKS[0]).startswith("00_")
