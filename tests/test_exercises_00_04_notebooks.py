"""Notebooks 00-04 in a real kernel: Run All leaves the live parts running (servers open,
clients and panels OPEN), and the last cell, run deliberately with ``finished = True``, stops
everything the notebook started."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.test_notebooks import ROOT, jupyter_env  # noqa: F401 - the fixture, used below

# What must still be OPEN after Run All, per notebook.
LIVE = {
    "00_welcome.ipynb": ["client"],
    "01_handshake.ipynb": [],
    "02_frames.ipynb": [],
    "03_echo_server_and_client.ipynb": ["client", "alice", "bob"],
    "04_closing.ipynb": [],
}


@pytest.mark.parametrize("name", sorted(LIVE))
def test_run_all_leaves_it_running_and_the_last_cell_stops_it(name, jupyter_env):  # noqa: F811
    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "code" and "finished = False" in last.source
    assert "wslab.stop_all()" in last.source
    states = ", ".join(f"{v}.state.name" for v in LIVE[name])
    after_run_all = nbformat.v4.new_code_cell(
        "import wslab\n"
        f"print('AFTER', len(wslab.servers()), *[{states}])")
    stop = nbformat.v4.new_code_cell(last.source.replace("finished = False",
                                                         "finished = True"))
    check = nbformat.v4.new_code_cell("print('LEFT', len(wslab.servers()), wslab.stop_all())")
    nb.cells += [after_run_all, stop, check]
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    assert last.outputs == []  # Run All: the stop cell did nothing, said nothing
    text = "".join(o.get("text", "") for o in after_run_all.outputs).split()
    assert text[0] == "AFTER" and int(text[1]) >= 1, text  # the server still runs
    assert text[2:] == ["OPEN"] * len(LIVE[name]), text
    assert "stopped" in "".join(o.get("text", "") for o in stop.outputs)
    left = "".join(o.get("text", "") for o in check.outputs).split()
    assert left == ["LEFT", "0", "0"], left  # nothing left for stop_all to stop
    errors = [o for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not errors, errors[:2]
