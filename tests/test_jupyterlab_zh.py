"""The zh-CN edition in a real JupyterLab in headless Chromium, at 1024 x 768.

Every zh-CN notebook runs top to bottom and renders cleanly (as tests/test_jupyterlab_notebooks.py
asks of the English ones); notebook 00's screen is looked at: check marks and names in Chinese,
the push-comparison plot drawn with Chinese text by a CJK font, and, when the `zh` extra
(JupyterLab's own language pack) is installed, JupyterLab's menus in Chinese.  Screenshots:
test-artifacts/zh_lab_*.png."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from tests.browser import chromium
from tests.conftest import CHROMIUM, artifact_dir, need
from tests.jupyterlab import (
    jupyterlab,
    kernel_exec,
    renders_cleanly,
    run_notebook,
    shutdown_kernels,
)

pytestmark = pytest.mark.browser
ROOT = pathlib.Path(__file__).resolve().parents[1]
EDITION = ROOT / "notebooks" / "zh-CN"
NOTEBOOKS = sorted(p.name for p in EDITION.glob("[0-9][0-9]*_*.ipynb"))
LANGUAGE_PACK = importlib.util.find_spec("jupyterlab_language_pack_zh_CN") is not None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need(pathlib.Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    tmp = tmp_path_factory.mktemp("lab-zh")
    if LANGUAGE_PACK:  # what Settings > Language > 中文 writes
        folder = tmp / "settings" / "@jupyterlab" / "translation-extension"
        folder.mkdir(parents=True)
        (folder / "plugin.jupyterlab-settings").write_text(json.dumps({"locale": "zh_CN"}))
    files = [EDITION / name for name in NOTEBOOKS]
    with jupyterlab(tmp, [], extra_files=files) as base, chromium(CHROMIUM) as ctx:
        yield base, ctx


def test_notebook_00_in_chinese_at_1024_x_768(lab):
    base, ctx = lab
    page = ctx.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    shots = []
    try:
        run_notebook(page, base, "00_welcome.ipynb", skip_last=True)
        assert kernel_exec(page, "from wslab.ui import fonts\nprint(fonts.plot_language(),"
                                 " fonts.cjk_family())").split()[0] == "zh-CN"
        text = page.locator(".jp-Notebook").inner_text()
        assert "练习 2(帧头字节数)" in text and "还差一点" in text  # marks and names
        assert "预测" in text  # the prediction check's message
        if LANGUAGE_PACK:
            assert "文件" in page.locator("#jp-MainMenu").inner_text()  # JupyterLab's own menu
        for i, what in enumerate(("plot", "result")):
            target = page.locator(".jp-OutputArea-output img").first if what == "plot" else \
                page.locator(".wslab-result").first
            target.scroll_into_view_if_needed(timeout=30_000)
            shot = artifact_dir() / f"zh_lab_00_{i}_{what}.png"
            page.screenshot(path=str(shot))
            shots.append(shot)
        assert page.locator(".jp-OutputArea-output img").count() >= 1
    finally:
        page.close()
        shutdown_kernels(base)
    assert all(s.stat().st_size > 10_000 for s in shots)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_zh_notebook_renders_cleanly_in_jupyterlab(lab, name, tmp_path):
    renders_cleanly(lab, name, tmp_path / f"zh_lab_{name}.png", artifact_dir(),
                    notebook_path=EDITION / name)


def test_widgets_of_notebook_03_in_chinese_at_1024_x_768(lab):
    """The panels' buttons, boxes and status lines in Chinese (screenshot: zh_lab_03_panels.png)."""
    base, ctx = lab
    page = ctx.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        run_notebook(page, base, "03_echo_server_and_client.ipynb", skip_last=True)
        panel = page.locator(".wslab-client-panel").first
        panel.scroll_into_view_if_needed(timeout=30_000)
        buttons = panel.locator("button").all_text_contents()
        assert any("连接" in b for b in buttons) and any("发送" in b for b in buttons), buttons
        assert "广播" in page.locator(".wslab-server-panel").first.inner_text()
        page.screenshot(path=str(artifact_dir() / "zh_lab_03_panels.png"))
    finally:
        page.close()
        shutdown_kernels(base)
