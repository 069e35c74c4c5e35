"""Every wslab view in the real JupyterLab at 1024 x 768, with the side bar open and closed.

The notebook this test writes shows each widget and HTML view the notebooks use, filled with
the long lines a class produces (a long message, a 70,000-byte frame, a busy event log).  For
each view and both side-bar states the test measures, in the page itself: nothing reaches past
the output's content box (no sideways scroll), nothing is cut by a box around it, no button or
label is shortened to "C...", and every text is at least MIN_LABEL_PX.  It also measures the
widths tests/test_screen.py assumes and the rule tests/test_screen_plots.py uses for figures
(shown at natural width, scaled down to the output's width).  Screenshots:
test-artifacts/screen_lab_<view>_<open|closed>.png.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil

import nbformat
import pytest

from tests.browser import chromium
from tests.conftest import CHROMIUM, artifact_dir, need
from tests.jupyterlab import jupyterlab, kernel_exec, run_notebook
from tests.test_screen import (
    CODE_CHARS,
    HTML_WIDTH,
    MIN_LABEL_PX,
    OUTPUT_AREA,
    VIEWPORT,
    WIDGET_WIDTH,
)

pytestmark = pytest.mark.browser
NOTEBOOK = "screen_views.ipynb"
SIDEBAR = ("open", "closed")

SETUP = '''\
import random

import wslab
from IPython.display import HTML
from wslab.labs.by_hand import handshake_by_hand
from wslab.labs.compression import CompressionRecord
from wslab.labs.push_compare import METHODS, PushComparison, PushResult
from wslab.protocol import explain, frames
from wslab.protocol.state import ConnectionStateMachine
from wslab.ui import (BrowserClient, ChatPanel, ClientPanel, FaultPanel, FrameBuilder,
                      ServerPanel, plots, side_by_side)
from wslab.ui.compression_plots import compression_table_html
from wslab.ui.diagrams import close_codes_html, state_diagram, state_table_html

server = wslab.serve(name="screen")
proxy = wslab.FaultProxy(server.url)
LONG = "a message long enough to need more than one line of the log: " * 3
'''

# view name -> the cell that shows it (its output is what the test measures)
VIEWS = {
    "probe": "HTML('<div id=\"wslab-probe\" style=\"width:100%;height:4px\"></div>')",
    "fault_panel": "fault_panel = FaultPanel(proxy, live=True)\nfault_panel",
    "frame_builder": "fb = FrameBuilder()\nfb",
    "client_panels": '''\
alice = ClientPanel(server.url, title="alice")
bob = ClientPanel(server.url, title="bob")
alice.connect()
bob.connect()
alice.send(LONG)
alice.send("x" * 300)   # one word longer than the log is wide
alice.send("short")
side_by_side(alice, bob)''',
    "server_panel": "ServerPanel(server)",
    "chat_panels": '''\
ann = ChatPanel(server.pubsub_url, user="ann")
cid = ChatPanel(server.pubsub_url, user="cid")
ann.join("lab")
cid.join("lab")
ann.say(LONG)
side_by_side(ann, cid)''',
    "browser_client": "bc = BrowserClient(server)\nbc",
    "push_table": '''\
PushComparison(PushResult(m, 40, 40, 10, 2000, 9000, 300, payload_bytes=1200,
                          latencies_s=[0.001 * (i + 1) for i in range(40)]) for m in METHODS)''',
    "transcript": "handshake_by_hand(server.url)",
    "tap_table": '''\
tap = wslab.Tap(server.url)
with wslab.connect(tap.url) as c:
    c.send(LONG)
    c.recv()
tap.table()''',
    "bits": 'explain(frames.encode_frame(frames.Frame(frames.Opcode.TEXT, b"x" * 70_000, '
            'mask_key=b"abcd")))',
    "compression_table": '''\
HTML(compression_table_html([CompressionRecord(k, n, on, n + 10, n + 6, 1.0, 0.0002)
                             for k in ("json", "repetitive", "random")
                             for n in (100, 1_048_576) for on in (False, True)]))''',
    "state_table": "HTML(state_table_html())",
    "close_codes": "HTML(close_codes_html())",
    "histogram": '''\
random.seed(1)
plots.rtt_histogram([0.0001 * (1 + random.random()) for _ in range(300)] + [0.02])''',
    "state_diagram": '''\
m = ConnectionStateMachine()
m.handle("101 received/sent")
state_diagram(taken=m.history)''',
}
CELL = {name: i + 1 for i, name in enumerate(VIEWS)}  # cell 0 is SETUP

MEASURE = """(cellIndex) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[cellIndex].node;
  const outs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const name = (e) => ((typeof e.className === 'string' && e.className.split(' ').find(
      c => c.startsWith('wslab') || c.startsWith('widget-'))) || e.tagName.toLowerCase())
      + ' "' + (e.value || e.textContent || '').trim().slice(0, 30) + '"';
  const inputs = ['INPUT', 'TEXTAREA', 'SELECT'];
  const report = {outputs: outs.length, widths: [], scroll: [], outside: [], clipped: [],
                  truncated: [], small: [], images: []};
  for (const out of outs) {
    const r = out.getBoundingClientRect(), s = getComputedStyle(out);
    const left = r.left + parseFloat(s.paddingLeft), right = r.right - parseFloat(s.paddingRight);
    report.widths.push(right - left);
    report.scroll.push([out.scrollWidth, out.clientWidth]);
    for (const e of out.querySelectorAll('*')) {
      const er = e.getBoundingClientRect(), es = getComputedStyle(e);
      if (er.width === 0 || er.height === 0 || es.visibility === 'hidden') continue;
      if (er.right > right + 1 || er.left < left - 1)
        report.outside.push([name(e), Math.round(er.left - left), Math.round(er.right - left),
                             Math.round(right - left)]);
      for (let a = e.parentElement; a && a !== out; a = a.parentElement) {
        const as = getComputedStyle(a);
        if (as.overflowX === 'visible') continue;
        const ar = a.getBoundingClientRect();
        if (er.right > ar.right + 1 || er.left < ar.left - 1) {
          report.clipped.push([name(e), 'cut by', name(a), Math.round(er.right - ar.right)]);
          break;
        }
      }
      if (!inputs.includes(e.tagName) && es.overflowX !== 'visible'
          && e.scrollWidth > e.clientWidth + 1)
        report.truncated.push([name(e), e.scrollWidth, e.clientWidth]);
      const text = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
                   || inputs.includes(e.tagName) || e.tagName === 'BUTTON';
      if (text && parseFloat(es.fontSize) < MIN_PX)
        report.small.push([name(e), es.fontSize]);
      if (e.tagName === 'IMG')
        report.images.push({natural: e.naturalWidth, shown: er.width, room: right - left});
    }
  }
  for (const k of ['outside', 'clipped', 'truncated', 'small'])
    report[k] = report[k].slice(0, 15);
  return report;
}""".replace("MIN_PX", str(MIN_LABEL_PX))


def screen_notebook(path: pathlib.Path) -> pathlib.Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(src)
                                                       for src in VIEWS.values()]
    nbformat.write(nb, path)
    return path


def set_sidebar(page, state: str) -> None:
    """Open or close JupyterLab's left side bar (what Ctrl+B toggles) and let the layout
    settle."""
    want_collapsed = state == "closed"
    if page.evaluate("() => window.jupyterapp.shell.leftCollapsed") != want_collapsed:
        page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.wait_for_function(
        """([collapsed, width]) => window.jupyterapp.shell.leftCollapsed === collapsed &&
             document.getElementById('wslab-probe').getBoundingClientRect().width === width""",
        arg=[want_collapsed, HTML_WIDTH[state]], timeout=15_000, polling=100)


def measure(page, view: str) -> dict:
    return page.evaluate(MEASURE, CELL[view])


def screenshot(page, view: str, state: str) -> pathlib.Path:
    """The view's output as a PNG, in a taller window so a long view is shown whole (the
    width, the only thing the layout depends on, stays 1024 px)."""
    path = artifact_dir() / f"screen_lab_{view}_{state}.png"
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2400})
    try:
        area = page.locator(".jp-Notebook .jp-Cell").nth(CELL[view]).locator(".jp-OutputArea")
        area.scroll_into_view_if_needed()
        area.screenshot(path=str(path))
    finally:
        page.set_viewport_size(VIEWPORT)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need(pathlib.Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    tmp = tmp_path_factory.mktemp("screen-lab")
    nb = screen_notebook(tmp / NOTEBOOK)
    lab_dir = tmp / "lab"
    lab_dir.mkdir()
    with jupyterlab(lab_dir, [], extra_files=[nb]) as base, chromium(CHROMIUM) as ctx:
        page = ctx.new_page()
        page.set_viewport_size(VIEWPORT)
        try:
            run_notebook(page, base, NOTEBOOK, timeout_ms=240_000)
            page.locator("#wslab-probe").wait_for(timeout=30_000)
            page.locator(".wslab-bc").first.wait_for(timeout=30_000)
            page.locator(".wslab-log tr", has_text="short").first.wait_for(timeout=30_000)
            yield page
        finally:
            with contextlib.suppress(Exception):  # the kernel stops with JupyterLab anyway
                kernel_exec(page, "wslab.stop_all()")
            shutil.copy(lab_dir / "jupyterlab.log", artifact_dir() / "screen_lab_jupyterlab.log")


@pytest.mark.parametrize("state", SIDEBAR)
def test_output_widths_are_the_measured_constants(lab, state):
    """The widths tests/test_screen.py and tests/test_screen_plots.py assume."""
    set_sidebar(lab, state)
    got = lab.evaluate("""() => {
      const probe = document.getElementById('wslab-probe');
      const html = probe.closest('.jp-OutputArea-output');
      const area = probe.closest('.jp-OutputArea');
      const widget = document.querySelector('.jp-OutputArea-output .wslab-fault-panel')
                     .closest('.jp-OutputArea-output');
      return {area: area.getBoundingClientRect().width,
              widget: widget.getBoundingClientRect().width,
              html_content: probe.getBoundingClientRect().width,
              html_box: html.getBoundingClientRect().width};
    }""")
    assert got == {"area": OUTPUT_AREA[state], "widget": WIDGET_WIDTH[state],
                   "html_content": HTML_WIDTH[state], "html_box": WIDGET_WIDTH[state]}, got


@pytest.mark.parametrize("state", SIDEBAR)
def test_code_cells_show_the_measured_number_of_characters(lab, state):
    """How long a notebook's code line may be before it scrolls sideways (the CODE_CHARS
    tests/test_screen.py records, for the notebooks' authors)."""
    set_sidebar(lab, state)
    chars = lab.evaluate("""() => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[0].node;
      const scroller = cell.querySelector('.cm-scroller');
      const line = cell.querySelector('.cm-line');
      const ls = getComputedStyle(line), ctx = document.createElement('canvas').getContext('2d');
      ctx.font = `${ls.fontSize} ${ls.fontFamily}`;
      const width = ctx.measureText('x'.repeat(100)).width / 100;
      const left = line.getBoundingClientRect().left + parseFloat(ls.paddingLeft);
      const right = scroller.getBoundingClientRect().left + scroller.clientWidth
                    - parseFloat(ls.paddingRight);
      return Math.floor((right - left) / width);
    }""")
    assert chars == CODE_CHARS[state], chars


@pytest.mark.parametrize("state", SIDEBAR)
@pytest.mark.parametrize("view", [v for v in VIEWS if v != "probe"])
def test_view_fits_and_reads_at_1024x768(lab, view, state):
    set_sidebar(lab, state)
    got = measure(lab, view)
    shot = screenshot(lab, view, state)
    detail = f"{view}, side bar {state}: {json.dumps(got, indent=1)}\nscreenshot {shot}"
    assert got["outputs"] >= 1, detail
    assert all(scroll <= client for scroll, client in got["scroll"]), detail
    assert got["outside"] == [], detail
    assert got["clipped"] == [], detail
    assert got["truncated"] == [], detail
    assert got["small"] == [], detail


@pytest.mark.parametrize("state", SIDEBAR)
def test_figures_are_shown_at_natural_width_up_to_the_output(lab, state):
    """The rule tests/test_screen_plots.py computes text sizes with."""
    set_sidebar(lab, state)
    for view in ("histogram", "state_diagram"):
        (img,) = measure(lab, view)["images"]
        assert img["room"] == WIDGET_WIDTH[state], img
        assert img["shown"] == pytest.approx(min(img["natural"], img["room"]), abs=0.5), img


def test_widgets_still_work_after_run_all_and_a_rerun(lab):
    """Run All ran every cell; the panels still answer clicks, and running a panel's cell
    again replaces only that panel: the server, the proxy and the other panels carry on."""
    set_sidebar(lab, "open")
    panel = lab.locator(".wslab-fault-panel").first
    panel.locator(".wslab-live", has_text="OPEN").wait_for(timeout=30_000)
    latency = panel.locator(".widget-hbox", has_text="latency").first
    latency.get_by_role("button", name="Set").click()
    panel.locator(".wslab-status", has_text="latency on (both)").wait_for(timeout=15_000)
    latency.get_by_role("button", name="Clear").click()
    panel.locator(".wslab-status", has_text="cleared latency").wait_for(timeout=15_000)
    before = kernel_exec(lab, "print(len(server.clients), proxy.connections)").split()
    # re-run the client panels' cell, as a learner does
    lab.evaluate("""async (index) => {
      const app = window.jupyterapp, panel = app.shell.currentWidget;
      panel.content.activeCellIndex = index;
      await app.commands.execute('notebook:run-cell');
    }""", CELL["client_panels"])
    lab.wait_for_function("""(index) => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
      return cell.model.executionCount !== null && cell.node.querySelector('.wslab-log')
             && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status
                === 'idle';
    }""", arg=CELL["client_panels"], timeout=60_000, polling=250)
    out = kernel_exec(lab, """\
print(server.running, proxy.connections, fault_panel.probe.connects,
      "OPEN" in fault_panel.live_view.value, cid.client.state.name, len(server.clients))""")
    running, proxied, connects, live, chat_state, clients = out.split()
    assert (running, proxied, connects, live, chat_state) == ("True", before[1], "1", "True",
                                                              "OPEN"), out
    # the new alice and bob connected, and nobody else was disconnected
    assert int(clients) >= int(before[0]), (before, out)
    alice_box = lab.locator(".wslab-client-panel").first
    alice_box.get_by_placeholder("message (Enter sends)").fill("after a re-run")
    alice_box.get_by_role("button", name="Send").click()
    alice_box.locator(".wslab-log tr", has_text="after a re-run").first.wait_for(timeout=15_000)
