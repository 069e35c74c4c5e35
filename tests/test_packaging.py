"""wslab as a teacher installs it: a wheel in a fresh venv, far from the checkout.

The session fixture ``installed_wslab`` (tests/wheelenv.py) builds the sdist and from it the
wheel, makes a venv in a temporary folder without the system's site-packages, installs the
wheel (dependencies from the package index), runs ``pip check`` and imports every module
from there.  These tests then use that venv the way a hub image or a laptop would.
"""

from __future__ import annotations

import json
import pathlib
import re
import signal
import subprocess
import tarfile
import urllib.request
import zipfile

from websockets.sync.client import connect as ws_connect

from tests.jupyterlab import lab_env
from tests.wheelenv import BUILD_TIMEOUT, ROOT, clean_env, run

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
#: The zh-CN edition, in the wheel as wslab/_course/zh-CN/ and delivered as DEST/zh-CN/.
NOTEBOOKS_ZH = sorted(f"zh-CN/{p.name}" for p in (ROOT / "notebooks" / "zh-CN").glob("*.ipynb"))


def _tracked(under: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", under], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def test_the_wheel_carries_every_file_the_package_reads(installed_wslab):
    names = set(zipfile.ZipFile(installed_wslab.wheel).namelist())
    data = [p for p in _tracked("wslab") if not p.endswith(".py")]
    assert data, "no data files found under wslab/"  # pages, the widget's script...
    missing = [p for p in _tracked("wslab") if p not in names]
    assert missing == [], f"in git but not in the wheel: {missing}"
    assert sorted(n for n in names if n.startswith("wslab/_course/")) == \
        sorted(f"wslab/_course/{n}" for n in NOTEBOOKS + NOTEBOOKS_ZH)
    for name in NOTEBOOKS + NOTEBOOKS_ZH:  # the course as committed, byte for byte
        with zipfile.ZipFile(installed_wslab.wheel) as wheel:
            assert wheel.read(f"wslab/_course/{name}") == (ROOT / "notebooks" / name).read_bytes()
    junk = [n for n in names if "__pycache__" in n or n.endswith(".pyc")
            or n.startswith(("tests/", "bench/", "notebooks/"))]
    assert junk == []
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(installed_wslab.wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "Requires-Python: >=3.11" in text


def test_the_sdist_carries_the_course_and_setup(installed_wslab):
    with tarfile.open(installed_wslab.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for path in [*_tracked("wslab"), *_tracked("notebooks"), "setup.py", "MANIFEST.in",
                 "pyproject.toml", "README.md"]:
        assert path in names, f"{path} is not in the sdist"


def test_pip_install_dot_builds_the_same_files(installed_wslab, tmp_path):
    """``pip install .`` (a hub image, Binder) builds in the checkout, not from the sdist."""
    run([installed_wslab.python, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
         tmp_path, ROOT], cwd=tmp_path, timeout=BUILD_TIMEOUT)
    (wheel,) = tmp_path.glob("wslab-*.whl")
    in_tree = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    released = {n for n in zipfile.ZipFile(installed_wslab.wheel).namelist()
                if ".dist-info/" not in n}
    assert in_tree == released


def test_installed_away_from_the_checkout(installed_wslab):
    site = installed_wslab.root / "venv" / "lib"
    assert pathlib.Path(installed_wslab.package_file).is_relative_to(site)
    pth = [p for p in site.glob("*/site-packages/*.pth") if str(ROOT) in p.read_text()]
    assert pth == []  # not an editable install
    assert "wslab.net.server.pages" in installed_wslab.modules
    assert "wslab.exercises.solutions.ex03" in installed_wslab.modules
    text = (installed_wslab.root / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in text


def _course(installed_wslab) -> pathlib.Path:
    dest = installed_wslab.root / "student" / "wslab"
    if not dest.exists():
        proc = run([installed_wslab.python, "-m", "wslab", "notebooks", dest],
                   cwd=installed_wslab.root, timeout=120)
        assert f"{len(NOTEBOOKS) + len(NOTEBOOKS_ZH)} added" in proc.stdout, proc.stdout
    return dest


def test_the_installed_command_delivers_the_packaged_course(installed_wslab):
    dest = _course(installed_wslab)
    assert sorted(p.name for p in dest.glob("*.ipynb")) == NOTEBOOKS
    assert sorted(f"zh-CN/{p.name}" for p in (dest / "zh-CN").glob("*.ipynb")) == NOTEBOOKS_ZH
    where = run([installed_wslab.python, "-c", "from wslab.course import source; print(source())"],
                cwd=installed_wslab.root, timeout=120).stdout.strip()
    assert where.endswith("site-packages/wslab/_course"), where
    script = run([installed_wslab.bindir / "wslab", "--version"], cwd=installed_wslab.root,
                 timeout=120)
    assert script.stdout.strip() == "wslab 0.1.0"


FIRST_CELLS = r'''
import json, pathlib, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

folder = pathlib.Path(sys.argv[1])
probe = ("import sys, wslab\nprint(sys.executable)\nprint(wslab.__file__)\n"
         "wslab.stop_all()")
results = {}
for path in sorted(folder.glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    run = nbformat.v4.new_notebook(metadata=nb.metadata,
                                   cells=[first, nbformat.v4.new_code_cell(probe)])
    client = NotebookClient(run, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc)[-1500:]
    outputs = [o for c in run.cells for o in c.get("outputs", [])]
    results[path.name] = {
        "error": error,
        "stderr": "".join(o.get("text", "") for o in outputs
                          if o.get("output_type") == "stream" and o.get("name") == "stderr"),
        "probe": "".join(o.get("text", "") for o in run.cells[1].get("outputs", [])
                         if o.get("output_type") == "stream"),
    }
print(json.dumps(results))
'''


def test_the_first_cell_of_every_notebook_runs_from_the_install(installed_wslab):
    """What 10 of 13 notebooks do first (import wslab.ui...) from an installed wheel, in a
    kernel of the venv, with the notebook's folder as the working directory."""
    dest = _course(installed_wslab)
    jupyter = installed_wslab.root / "jupyter"
    env = clean_env(**{k: v for k, v in lab_env(jupyter).items()
                       if k.startswith(("JUPYTER", "IPYTHONDIR", "MPL"))})
    proc = run([installed_wslab.python, "-c", FIRST_CELLS, dest], cwd=installed_wslab.root,
               env=env, timeout=30 * len(NOTEBOOKS) + 120)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(results) == NOTEBOOKS
    venv = str(installed_wslab.root / "venv")
    for name, got in results.items():
        assert got["error"] is None, f"{name}: {got['error']}"
        assert got["stderr"] == "", f"{name} printed to stderr: {got['stderr']}"
        python, package = got["probe"].split()
        assert python.startswith(venv) and package.startswith(venv), (name, got["probe"])


def test_the_installed_terminal_server_echoes(installed_wslab):
    proc = subprocess.Popen([installed_wslab.python, "-m", "wslab", "serve", "--port", "0"],
                            cwd=installed_wslab.root, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        text = "".join(proc.stdout.readline() for _ in range(4))
        echo = re.search(r"echo:\s+(ws://127\.0\.0\.1:\d+/echo)", text).group(1)
        with ws_connect(echo, open_timeout=10) as ws:
            ws.send("installed")
            assert ws.recv(timeout=10) == "installed"
            page = re.search(r"page:\s+(http://\S+)", text).group(1)
            with urllib.request.urlopen(page, timeout=10) as r:  # the packaged page
                assert r.status == 200 and b"WebSocket" in r.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in out, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
