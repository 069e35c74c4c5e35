"""Every notebook, run top to bottom in a real JupyterLab in headless Chromium.

nbclient proves the code runs; this proves what a learner sees: every widget renders
(no "Error displaying widget"), and no cell prints to stderr (no red boxes)."""

from __future__ import annotations

import pathlib

import pytest

from tests.browser import chromium
from tests.conftest import CHROMIUM, artifact_dir, need
from tests.jupyterlab import jupyterlab, renders_cleanly

pytestmark = pytest.mark.browser
ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need(pathlib.Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    tmp = tmp_path_factory.mktemp("lab")
    with jupyterlab(tmp, NOTEBOOKS) as base, chromium(CHROMIUM) as ctx:
        yield base, ctx


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_renders_cleanly_in_jupyterlab(lab, name, tmp_path):
    renders_cleanly(lab, name, tmp_path / f"lab_{name}.png", artifact_dir(),
                    notebook_path=ROOT / "notebooks" / name)
