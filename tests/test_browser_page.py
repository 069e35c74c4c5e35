"""The browser client page in real headless Chromium (the classic tutorial's client.html)."""

from __future__ import annotations

import pytest

import wslab
from tests.browser import chromium
from tests.conftest import artifact_dir, wait_until

pytestmark = pytest.mark.browser


def test_page_sends_and_sees_the_echo(server, chromium_path):
    with chromium(chromium_path) as ctx:
        page = ctx.new_page()
        page.goto(server.page_url)
        page.wait_for_selector("#readyState[data-state='1']", timeout=10_000)
        page.fill("#messageInput", "hello from Chromium")
        page.click("#sendButton")
        received = page.wait_for_selector("#log li[data-kind=received]", timeout=10_000)
        assert "hello from Chromium" in received.text_content()
        assert "hello from Chromium" in page.text_content("#log li[data-kind=sent]")
        page.fill("#messageInput", "via Enter")
        page.press("#messageInput", "Enter")
        page.wait_for_function(
            "document.querySelectorAll('#log li[data-kind=received]').length == 2", timeout=10_000)
        page.click("#appPingButton")  # the browser's heartbeat: JSON, not a ping frame
        pong = page.wait_for_selector("#log li[data-kind=pong]", timeout=10_000)
        assert "round trip" in pong.text_content()
        page.screenshot(path=str(artifact_dir() / "browser_page_echo.png"))
        page.click("#closeButton")
        page.wait_for_selector("#readyState[data-state='3']", timeout=10_000)
        assert "code 1000" in page.text_content("#log li[data-kind=close]")
    opened = server.events.of("open")
    assert opened and opened[0].extra["origin"] == server.origin  # same origin: accepted
    texts = [e.data for e in server.events.of("message") if e.direction == "in"]
    assert texts[:2] == ["hello from Chromium", "via Enter"]
    assert '"ping"' in texts[2] and not server.events.of("ping")  # no ping *frame* from a page
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    assert server.events.of("close")[-1].code == 1000


def test_other_origin_is_refused_then_allowed(server, chromium_path):
    other = wslab.serve(name="other-origin")  # a second origin: another port on loopback
    try:
        url = f"{other.page_url}?url={server.url}"
        with chromium(chromium_path) as ctx:
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_selector("#log li[data-kind=close]", timeout=10_000)
            assert "code 1006" in page.text_content("#log li[data-kind=close]")
            rejects = server.events.of("reject")
            assert rejects and rejects[0].code == 403
            assert rejects[0].extra["origin"] == other.origin
            assert not server.events.of("open")

            server.allow_origin(other.origin)
            page.goto(url)
            page.wait_for_selector("#readyState[data-state='1']", timeout=10_000)
            page.fill("#messageInput", "cross-origin but allowed")
            page.click("#sendButton")
            page.wait_for_selector("#log li[data-kind=received]", timeout=10_000)
            page.screenshot(path=str(artifact_dir() / "browser_page_allowed_origin.png"))
        assert server.events.of("open")[0].extra["origin"] == other.origin
    finally:
        other.stop()


def test_browser_tab_and_chat_panel_talk_in_a_room(server, chromium_path):
    from wslab.ui import ChatPanel
    panel = ChatPanel(server.pubsub_url, user="notebook")
    try:
        panel.join("lab")
        with chromium(chromium_path) as ctx:
            page = ctx.new_page()
            page.goto(server.page_url + "?path=/pubsub")
            page.wait_for_selector("#readyState[data-state='1']", timeout=10_000)
            assert page.is_visible("#rooms")
            page.fill("#room", "lab")
            page.click("#joinButton")
            page.wait_for_selector("#log li[data-kind=received]", timeout=10_000)  # subscribed
            page.fill("#messageInput", "hi from a tab")
            page.click("#sendButton")
            wait_until(lambda: ("browser", "hi from a tab") in panel.messages("lab"), 10)
            panel.say("hi tab", room="lab")
            page.wait_for_selector("#log li:has-text('notebook: hi tab')", timeout=10_000)
            page.screenshot(path=str(artifact_dir() / "browser_page_rooms.png"))
    finally:
        panel.close()


def test_chromium_negotiates_permessage_deflate(chromium_path):
    """RFC 7692: the browser offers permessage-deflate; the page sees what the server accepted."""
    from wslab.net.tap import Tap
    server = wslab.serve(name="deflate", compression=True)
    tap = Tap(server.url)
    try:
        with chromium(chromium_path) as ctx:
            page = ctx.new_page()
            page.goto(f"{server.page_url}?url={tap.url}")
            opened = page.wait_for_selector("#log li[data-kind=open]", timeout=10_000)
            assert "extensions: permessage-deflate" in opened.text_content()
            page.fill("#messageInput", "squeeze me " * 20)
            page.click("#sendButton")
            page.wait_for_selector("#log li[data-kind=received]", timeout=10_000)
        offer = tap.handshakes()[0].raw_head.decode()
        assert "permessage-deflate" in offer.lower()  # Chromium's offer
        up = [r for r in tap.frames if r.opcode == "TEXT" and r.direction.startswith("client")]
        assert up[0].rsv1 and up[0].length < len("squeeze me " * 20)
        assert up[0].inflated == ("squeeze me " * 20).strip().encode() or \
            up[0].inflated == ("squeeze me " * 20).encode()
    finally:
        tap.stop()
        server.stop()


def test_classroom_join_url_works_and_needs_the_token(chromium_path):
    """Loopback only in tests; a real class would pass the laptop's network address."""
    room = wslab.classroom(host="127.0.0.1", port=0, token="join-me")
    try:
        assert "token=join-me" in room.join_url and "join-me" in room._repr_html_()
        with chromium(chromium_path) as ctx:
            page = ctx.new_page()
            page.goto(room.join_url)
            page.wait_for_selector("#readyState[data-state='1']", timeout=10_000)
            page.fill("#messageInput", "present!")
            page.click("#sendButton")
            page.wait_for_selector("#log li[data-kind=received]", timeout=10_000)
            page.goto(room.join_url.replace("join-me", "guess"))
            page.wait_for_selector("#log li[data-kind=close]", timeout=10_000)
        assert [e.code for e in room.server.events.of("reject")] == [403]
        with pytest.raises(wslab.ConnectionFailed, match="401"):
            wslab.connect(room.server.chat_url)
    finally:
        room.stop()
