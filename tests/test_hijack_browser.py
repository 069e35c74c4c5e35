"""Cross-site WebSocket hijacking in real Chromium, then the fix (RFC 6455 section 10.2)."""

from __future__ import annotations

import pytest

import wslab
from tests.browser import chromium
from tests.conftest import artifact_dir
from wslab.net.server.admission import TokenAuth

pytestmark = pytest.mark.browser


def _bank(origins):
    bank = wslab.serve(name="bank", origins=origins, auth=TokenAuth("s3cret", places=("cookie",)))

    @bank.on_message
    def private(conn, message):
        conn.send("balance of the logged-in user: 1,234.56")

    return bank


@pytest.mark.parametrize("origins, hijacked", [(["*"], True), ([], False)])
def test_cookie_trusting_server_is_hijacked_unless_it_checks_origin(chromium_path, origins,
                                                                    hijacked):
    bank = _bank(origins)
    evil = wslab.serve(name="evil")  # another origin on loopback: another port
    try:
        with chromium(chromium_path) as ctx:
            page = ctx.new_page()
            page.goto(bank.origin + "/login?token=s3cret")  # the victim logs in: a cookie
            assert "logged in" in page.text_content("body")
            page.goto(f"{evil.origin}/demo/hijack?target={bank.url}")  # ...then visits evil
            state = "open" if hijacked else "refused"
            page.wait_for_selector(f"#status[data-state='{state}']", timeout=10_000)
            if hijacked:
                page.wait_for_selector("#stolen:has-text('1,234.56')", timeout=10_000)
            page.screenshot(path=str(artifact_dir() / f"hijack_{state}.png"))
        if hijacked:
            opened = bank.events.of("open")[0]
            assert opened.extra["origin"] == evil.origin  # the browser said where it came from
        else:
            reject = bank.events.of("reject")[0]
            assert reject.code == 403 and evil.origin in reject.reason
            assert not bank.events.of("open")
    finally:
        evil.stop()
        bank.stop()
