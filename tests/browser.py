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
