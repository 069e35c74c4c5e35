"""Headless Chromium through Playwright, driving Debian's /usr/bin/chromium (never a download)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextlib.contextmanager
def chromium(executable: str) -> Iterator[object]:
    """A Playwright Chromium browser with a throw-away profile; closed on exit."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="wslab-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1024, "height": 768})  # the classroom projector
        try:
            yield ctx
        finally:
            ctx.close()


def client_page_echoes(ctx, url: str, text: str, *, timeout_ms: int = 30_000):  # noqa: ANN001
    """Open wslab's client page at ``url`` in a new tab of ``ctx``, wait until its WebSocket
    is OPEN, send ``text`` and wait for it to come back; return the page (still open)."""
    page = ctx.new_page()
    page.goto(url, timeout=max(timeout_ms, 60_000))
    page.locator("#readyState[data-state='1']").wait_for(timeout=timeout_ms)
    page.locator("#messageInput").fill(text)
    page.locator("#sendButton").click()
    page.locator("#log li[data-kind=received]", has_text=text).wait_for(timeout=timeout_ms)
    return page
