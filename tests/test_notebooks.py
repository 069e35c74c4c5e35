"""Every notebook runs top to bottom in a real kernel (nbclient), headless, once.

One run per notebook checks all of it: no error, nothing on stderr, the live parts still live
after Run All, the deliberate stop cell stopping everything, and what a notebook must show
(00's echo and comparison).  The zh-CN edition's code is token for token the English code
(tests/test_notebooks_zh.py); it runs top to bottom in a real JupyterLab with the same checks
(tests/test_jupyterlab_zh.py, tests/notebook_checks.py), so it is not run a second time here."""

from __future__ import annotations

import os
import pathlib
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import need
from tests.notebook_checks import LIVE_PROBE, assert_live, stop_cell

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


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


# What must still be OPEN after Run All, per notebook (besides its servers).
LIVE_OBJECTS = {
    "00_welcome.ipynb": ["client"],
    "03_echo_server_and_client.ipynb": ["client", "alice", "bob"],
}


def _welcome_shows_its_point(nb: nbformat.NotebookNode) -> None:
    """The lab-loop design in a kernel: a blocking cell connects and gets the echo."""
    text = outputs_text(nb)
    assert "'hello'" in text
    assert "b'\\x00\\x01\\x02'" in text
    assert "< message" in text and "> message" in text  # the server's event log
    assert "WebSocket" in text and "long polling" in text  # the measured push comparison
    htmls = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
             if "text/html" in o.get("data", {})]
    assert any("overhead bytes/message" in h and "<table" in h for h in htmls)  # wslab.ui.views


def _wire_reveals_no_solution(nb: nbformat.NotebookNode) -> None:
    """04a as committed: its four checks say NOT YET, and no answer shows in any output."""
    text = outputs_text(nb)
    assert text.count("[NOT YET]") == 4 and "[PASS]" not in text
    for secret in ("int.from_bytes", "key[i % 4] for i", "sol.", "def unmask_first"):
        assert secret not in text
    need(shutil.which("tshark") is not None and shutil.which("dumpcap") is not None,
         "tshark and dumpcap (Debian packages tshark, wireshark-common)")
    assert "read by tshark" in text and "Info (tshark)" in text


SHOWS = {"00_welcome.ipynb": _welcome_shows_its_point,
         "04a_reading_the_wire.ipynb": _wire_reveals_no_solution}


def _printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, jupyter_env):
    """Run All: no error, nothing on stderr, and the live parts are still live afterwards
    (stopping everything is a deliberate act, not a cell's side effect); then the stop cell,
    run as a learner who means it, stops everything the notebook started."""
    nb = nbformat.read(path, as_version=4)
    at, stop_source = stop_cell(nb)
    names = LIVE_OBJECTS.get(path.name, [])
    states = "".join(f", {v}.state.name" for v in names)
    probe = nbformat.v4.new_code_cell(LIVE_PROBE + f"\nprint('OPEN'{states})")
    stop = nbformat.v4.new_code_cell(stop_source)
    left = nbformat.v4.new_code_cell("print('LEFT', len(wslab.servers()), wslab.stop_all())")
    nb.cells += [probe, stop, left]
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[:2]
    stderr = [o["text"] for c in nb.cells for o in c.get("outputs", [])
              if o.get("name") == "stderr"]
    assert not stderr, f"{path.name} printed to stderr: {stderr[:3]}"  # no warning, ever
    lines = _printed(probe).splitlines()
    assert_live(path.name, nb, lines[0])
    assert lines[1].split() == ["OPEN"] + ["OPEN"] * len(names), lines
    assert "stopped" not in _printed(nb.cells[at])  # Run All did not stop anything
    assert "stopped" in _printed(stop)
    assert _printed(left).split() == ["LEFT", "0", "0"]  # nothing left for stop_all to stop
    if path.name in SHOWS:
        SHOWS[path.name](nb)


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
