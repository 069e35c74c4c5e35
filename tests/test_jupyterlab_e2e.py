"""JupyterLab end to end in headless Chromium: notebook 03's widgets, clicked for real."""

from __future__ import annotations

import shutil

import pytest

from tests.browser import chromium
from tests.conftest import artifact_dir
from tests.jupyterlab import jupyterlab, run_notebook

pytestmark = pytest.mark.browser
NOTEBOOK = "03_echo_server_and_client.ipynb"

def test_notebook_03_widgets_in_real_jupyterlab(tmp_path, chromium_path):
    shot = tmp_path / "jupyterlab_03.png"
    with jupyterlab(tmp_path, [NOTEBOOK]) as base, chromium(chromium_path) as ctx:
        page = ctx.new_page()
        try:
            run_notebook(page, base, NOTEBOOK, skip_last=True, timeout_ms=120_000)
            alice = page.locator(".wslab-client-panel").first
            alice.wait_for(timeout=30_000)
            alice.locator("button[title=Connect]").click()
            alice.locator(".wslab-state[data-state='OPEN']").wait_for(timeout=30_000)
            box = alice.get_by_placeholder("message (Enter sends)")
            box.fill("clicked in JupyterLab")
            alice.locator("button[title=Send]").click()
            received = alice.locator(".wslab-log tr", has_text="←").filter(
                has_text="clicked in JupyterLab")
            received.first.wait_for(timeout=30_000)
            assert alice.locator(".wslab-state").first.text_content() == "OPEN"
            assert "median" in alice.locator(".wslab-rtt").text_content()
            server_panel = page.locator(".wslab-server-panel").first
            server_panel.locator(".wslab-events", has_text="clicked in JupyterLab").wait_for(
                timeout=30_000)
            content = page.content()
            assert "Error displaying widget" not in content
            assert "Traceback" not in page.locator(".jp-OutputArea").all_text_contents().__str__()
            alice.scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=False)
        except Exception as exc:
            page.screenshot(path=str(shot), full_page=False)
            raise AssertionError(f"{exc}\nscreenshot: {shot}") from exc
        finally:
            shutil.copy(shot, artifact_dir() / shot.name) if shot.exists() else None
