"""The classroom screen: what a projector at 1024 x 768 shows, measured in headless Chromium.

Widths measured in the real JupyterLab of tests/jupyterlab.py (JupyterLab 4.6, Chromium at
1024 x 768; tests/test_screen_lab.py measures them again and fails when they change):

=====================================  ==================  ================
                                       side bar open       side bar closed
                                       (the default)       (Ctrl+B)
=====================================  ==================  ================
output area, prompt column included    656 px              908 px
widget or image output                 592 px              844 px
HTML output (20 px right padding)      572 px of content   824 px
a code cell's line, before it scrolls  74 characters       106 characters
=====================================  ==================  ================

Each HTML view is rendered here into a page of the HTML content width, then measured:
nothing overflows sideways, nothing is clipped, labels are big enough, counts match rows.
Widgets are measured in the real JupyterLab (tests/test_screen_lab.py), figures by
tests/test_screen_plots.py.  PNG screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import base64

import pytest

import wslab
from tests.browser import chromium
from tests.conftest import artifact_dir, wait_until
from wslab.protocol import explain
from wslab.protocol import frames as fr
from wslab.protocol.state import ConnectionStateMachine

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1024, "height": 768}
OUTPUT_AREA = {"open": 656, "closed": 908}
WIDGET_WIDTH = {"open": 592, "closed": 844}
HTML_WIDTH = {"open": 572, "closed": 824}
CODE_CHARS = {"open": 74, "closed": 106}  # characters of a code line shown before it scrolls
OUTPUT_SIDEBAR_CLOSED, OUTPUT_SIDEBAR_OPEN = HTML_WIDTH["closed"], HTML_WIDTH["open"]
MIN_LABEL_PX = 11.0


def page_with(ctx, body: str, width: int):
    page = ctx.new_page()
    page.set_viewport_size(VIEWPORT)
    page.set_content(
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;padding:8px;font-family:'DejaVu Sans',sans-serif;font-size:13px}"
        f"#out{{width:{width}px;outline:1px dotted #aaa}} img{{max-width:100%}}"  # like JupyterLab
        f"</style></head><body><div id='out'>{body}</div></body></html>")
    return page


def overflow(page) -> dict:
    """Sideways overflow of the container, and every element whose content is clipped."""
    return page.evaluate("""() => {
      const out = document.getElementById('out');
      const clipped = [...out.querySelectorAll('td, th, div, span, b')].filter(e => {
        const s = getComputedStyle(e);
        return s.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1;
      }).map(e => e.textContent.slice(0, 40));
      return {scroll: out.scrollWidth, client: out.clientWidth, clipped};
    }""")


def longest_header_frame() -> bytes:
    """A client frame with the biggest header: 2 + 8 (64-bit length) + 4 (mask) = 14 bytes,
    followed by the first payload bytes (16 bytes shown before the payload line)."""
    return fr.encode_frame(fr.Frame(fr.Opcode.TEXT, b"x" * 70_000, mask_key=b"\x37\xfa\x21\x3d"))


@pytest.mark.parametrize("width", [OUTPUT_SIDEBAR_CLOSED, OUTPUT_SIDEBAR_OPEN])
@pytest.mark.parametrize("frame", ["longest-header", "close", "truncated"])
def test_bit_diagram_fits_without_clipping(chromium_path, width, frame):
    data = {"longest-header": longest_header_frame(),
            "close": fr.encode_frame(fr.Frame(fr.Opcode.CLOSE, b"\x03\xe9going away",
                                              mask_key=b"abcd")),
            "truncated": longest_header_frame()[:9]}[frame]
    html = explain(data)._repr_html_()
    with chromium(chromium_path) as ctx:
        page = page_with(ctx, html, width)
        got = overflow(page)
        shot = artifact_dir() / f"screen_bits_{frame}_{width}.png"
        page.locator("#out").screenshot(path=str(shot))
        cells = page.evaluate("() => document.querySelectorAll('.wslab-bits td').length")
    assert cells > 0
    assert got["scroll"] <= got["client"], got
    assert got["clipped"] == [], got


def _state_png(taken=()) -> bytes:
    """The PNG a notebook shows for the diagram (the formatter wslab.ui.plots registers)."""
    from wslab.ui import diagrams, plots
    return plots.figure_png(diagrams.state_diagram(taken=taken), dpi=plots.DPI)


def _smallest_label_px(taken=()) -> tuple[float, list[float]]:
    """The smallest text of the diagram in px of its PNG."""
    from wslab.ui import diagrams, plots
    fig = diagrams.state_diagram(taken=taken)
    sizes = [t.get_fontsize() for ax in fig.axes for t in ax.texts if t.get_text()]
    return min(sizes) * plots.DPI / 72, sizes


@pytest.mark.parametrize("state", ["open", "closed"])
def test_state_diagram_fits_and_labels_are_at_least_11px(chromium_path, state):
    m = ConnectionStateMachine()
    for event in ("101 received/sent", "close frame sent", "close frame received"):
        m.handle(event)
    for taken in ((), tuple(m.history)):
        png = _state_png(taken)
        src = "data:image/png;base64," + base64.b64encode(png).decode()
        with chromium(chromium_path) as ctx:
            page = page_with(ctx, f"<img id='diagram' src='{src}'>", WIDGET_WIDTH[state])
            page.wait_for_function("() => document.getElementById('diagram').complete")
            natural, shown = page.evaluate(
                "() => { const i = document.getElementById('diagram');"
                " return [i.naturalWidth, i.getBoundingClientRect().width]; }")
            got = overflow(page)
            name = "taken" if taken else "plain"
            page.locator("#out").screenshot(
                path=str(artifact_dir() / f"screen_state_{name}_{state}.png"))
        label_px, sizes = _smallest_label_px(taken)
        smallest_on_screen = label_px * shown / natural
        assert got["scroll"] <= got["client"], got
        assert natural <= WIDGET_WIDTH["closed"], \
            f"the PNG is {natural} px wide: it gets scaled down even with the side bar closed"
        assert smallest_on_screen >= MIN_LABEL_PX, (smallest_on_screen, sizes)


def test_state_diagram_marks_taken_transitions_without_emoji():
    from wslab.ui import diagrams
    m = ConnectionStateMachine()
    m.handle("101 received/sent")
    fig = diagrams.state_diagram(taken=m.history)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("→ 101 received/sent") for t in texts), texts
    assert not [t for t in texts if any(0x2600 <= ord(c) <= 0x27BF or ord(c) >= 0x1F000
                                        or c == "\u25b6" for c in t)]


def _panel_count_and_rows(ctx, panel) -> dict:
    panel.refresh()
    page = page_with(ctx, panel.clients_view.value + panel.events_view.value, OUTPUT_SIDEBAR_OPEN)
    shown = page.evaluate("""() => {
      const c = document.querySelector('.wslab-client-count');
      const rows = [...document.querySelectorAll('.wslab-clients tbody tr')]
        .filter(r => r.cells.length > 1).length;  // not the 'no clients connected' line
      return {count: parseInt(c.textContent), rows};
    }""")
    shown.update(overflow(page))
    page.locator("#out").screenshot(
        path=str(artifact_dir() / f"screen_server_panel_{shown['count']}.png"))
    page.close()
    return shown


def test_server_panel_count_matches_rows_and_fits(chromium_path):
    from wslab.ui import ServerPanel
    server = wslab.serve(name="screen")
    clients = [wslab.connect(server.url) for _ in range(3)]
    panel = ServerPanel(server)
    try:
        clients[0].send("hello from a projector")
        clients[0].recv()
        with chromium(chromium_path) as ctx:
            three = _panel_count_and_rows(ctx, panel)
            clients[2].close()
            wait_until(lambda: len(server.clients) == 2, what="the server saw the close")
            two = _panel_count_and_rows(ctx, panel)
            for c in clients[:2]:
                c.close()
            wait_until(lambda: not server.clients, what="every client gone")
            none = _panel_count_and_rows(ctx, panel)
        assert (three["count"], three["rows"]) == (3, 3), three
        assert (two["count"], two["rows"]) == (2, 2), two
        assert (none["count"], none["rows"]) == (0, 0), none
        assert three["scroll"] <= three["client"] and three["clipped"] == [], three
    finally:
        panel.close()
        for c in clients:
            c.stop()
        server.stop()


def test_result_and_transcript_marks_are_text(chromium_path):
    """PASS / NOT YET and OK / FAIL are letters on a coloured box: no symbol font needed."""
    from wslab.exercises._result import hint, passed
    from wslab.labs.by_hand import handshake_by_hand
    from wslab.ui.views import transcript_html
    server = wslab.serve(name="screen-marks")
    try:
        transcript = handshake_by_hand(server.url)
    finally:
        server.stop()
    html = (passed("Exercise 1", "right")._repr_html_()
            + hint("Exercise 2", "not quite")._repr_html_()
            + transcript_html(transcript))
    assert "OK</span>" in html and "PASS" in html and "NOT YET" in html
    with chromium(chromium_path) as ctx:
        page = page_with(ctx, html, OUTPUT_SIDEBAR_OPEN)
        got = overflow(page)
        page.locator("#out").screenshot(path=str(artifact_dir() / "screen_marks.png"))
    assert got["scroll"] <= got["client"], got


def test_no_emoji_in_ui_sources():
    """Status marks never need an emoji font (this machine's Chromium shows empty boxes)."""
    import pathlib
    root = pathlib.Path(wslab.__file__).parent
    files = [*(root / "ui").glob("*.py"), *(root / "ui").glob("*.js"),
             *(root / "net" / "server" / "static").glob("*.html"),
             root / "exercises" / "_result.py"]
    bad = {}
    for f in files:
        hits = sorted({c for c in f.read_text("utf-8")
                       if ord(c) >= 0x1F000 or 0x2600 <= ord(c) <= 0x26FF
                       or c in "\u2705\u274c\u2714\u2716\ufe0f\u25b6"})
        if hits:
            bad[f.name] = hits
    assert not bad, bad
