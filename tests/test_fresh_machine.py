"""Two commands on a fresh machine: what `make test` installs, reports and refuses.

tests/sysdeps.py is the one table of what the tests need beyond Python packages;
tests/floors.py turns pyproject's floors into the constraints of the lowest-versions run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests import floors, sysdeps

ROOT = Path(__file__).resolve().parents[1]


def _sysdeps(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "sysdeps.py"), *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)


def test_a_missing_program_names_the_tests_and_the_apt_line():
    gone = "/nonexistent/chromium"
    proc = _sysdeps(WSLAB_CHROMIUM=gone, CI="")
    assert proc.returncode == 0  # on a laptop: reported, then the tests skip
    assert "chromium" in proc.stderr and "every browser test" in proc.stderr
    assert "they are skipped" in proc.stderr
    assert re.search(r"^fix: sudo apt-get install -y --no-install-recommends .*\bchromium\b",
                     proc.stderr, re.M), proc.stderr
    ci = _sysdeps(WSLAB_CHROMIUM=gone, CI="true")
    assert ci.returncode == 1 and "CI=true: that is a failure" in ci.stderr
    assert "chromium" in _sysdeps("--apt", WSLAB_CHROMIUM=gone).stdout.split()


def test_npm_packages_missing_without_npm_ask_for_nodejs_and_npm(monkeypatch):
    monkeypatch.setattr(sysdeps, "IN_CI", True)
    by_name = {n.name: n for n in sysdeps.NEEDS}
    text = sysdeps.report([by_name["npm"], by_name["ws"], by_name["configurable-http-proxy"]])
    assert "install -y --no-install-recommends nodejs npm" in text
    assert "then `make test` installs the npm packages" in text
    # npm present but the registry unreachable: no apt line helps, say so
    text = sysdeps.report([by_name["ws"]])
    assert "npm could not install ws@8" in text and "apt-get" not in text


def test_every_program_a_test_asks_for_is_in_the_table():
    """The programs the tests skip (or, under CI, fail) without."""
    names = {n.name for n in sysdeps.NEEDS}
    assert {"chromium", "redis-server", "nginx", "tshark", "node", "npm", "ws",
            "configurable-http-proxy"} <= names
    assert all(n.apt or n.npm for n in sysdeps.NEEDS)


def test_a_file_finder_says_absent_when_nothing_matches(tmp_path):
    """A font is found by file name below the font folders; a folder without one (or no
    folder at all) is 'absent', so CI installs it instead of failing later in a notebook."""
    empty, fonts = tmp_path / "empty", tmp_path / "fonts" / "opentype" / "noto"
    empty.mkdir()
    fonts.mkdir(parents=True)
    assert not sysdeps.has_file("NotoSansCJK*", (str(empty), str(tmp_path / "gone")))
    (fonts / "NotoSansCJK-Regular.ttc").write_bytes(b"")
    assert sysdeps.has_file("NotoSansCJK*", (str(empty), str(tmp_path / "fonts")))


def test_make_installs_the_npm_packages_and_ci_only_adds_root():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: system-check check$", make, re.M)
    assert "npm install --prefix $(NODE_CACHE)" in make
    assert re.search(r"^system-check: node-peers$", make, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "npm install" not in ci  # moved into the Makefile: `make test` does it itself
    assert "tests/sysdeps.py --apt" in ci and "apt-get install" in ci
    assert re.search(r"^make test$", ci, re.M)
    # the version runs: their venvs built while make test runs, then both fast runs
    assert re.search(r"^make test-venvs .*&$", ci, re.M)
    assert re.search(r"^make -j2 --output-sync=target test-newest test-floor", ci, re.M)


def test_floors_are_the_lower_bounds_of_every_runtime_dependency():
    text = (ROOT / "pyproject.toml").read_text()
    found = floors.floors(floors.runtime_requirements(text))
    assert found["tornado"] == "6.6" and found["jupyter-server-proxy"] == "4.1.1"
    assert set(found) >= {"jupyterlab", "ipywidgets", "tornado", "matplotlib", "tqdm",
                          "trustme", "redis", "anywidget", "jupyter-server-proxy",
                          "cloudpickle"}
    # Python 3.10-style reading (no tomllib) finds the same list
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S)
    assert re.findall(r"\"([^\"]+)\"", block.group(1)) == floors.runtime_requirements(text)
    assert floors._released("6.6") == floors._released("6.6.0") != floors._released("6.6.1")
