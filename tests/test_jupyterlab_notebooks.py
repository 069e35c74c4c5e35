"""Every notebook, run top to bottom in a real JupyterLab in headless Chromium.

nbclient proves the code runs; this proves what a learner sees: every widget renders
(no "Error displaying widget"), and no cell prints to stderr (no red boxes)."""

from __future__ import annotations

import json
import pathlib
import shutil
import urllib.request

import pytest

from tests.browser import chromium
from tests.conftest import CHROMIUM, artifact_dir, need
from tests.jupyterlab import jupyterlab, run_notebook

pytestmark = pytest.mark.browser
ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need(pathlib.Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    tmp = tmp_path_factory.mktemp("lab")
    with jupyterlab(tmp, NOTEBOOKS) as base, chromium(CHROMIUM) as ctx:
        yield base, ctx


def _shutdown_kernels(base: str) -> None:
    with urllib.request.urlopen(f"{base}/api/kernels", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_renders_cleanly_in_jupyterlab(lab, name, tmp_path):
    base, ctx = lab
    page = ctx.new_page()
    shot = tmp_path / f"lab_{name}.png"
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
    finally:
        if shot.exists():
            shutil.copy(shot, artifact_dir() / shot.name)
        page.close()
        _shutdown_kernels(base)
