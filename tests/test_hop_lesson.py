"""wslab.ui.hop_lesson without a browser: what a notebook run by nbclient gets.

The browser half runs in tests/test_hop_browser.py (Chromium under JupyterLab).
"""

from __future__ import annotations

import pytest

from wslab.net import public_url
from wslab.ui.hop_lesson import RouteTrial, compare_routes


@pytest.fixture(autouse=True)
def _fresh_route():
    public_url.set_public_url(None)
    yield
    public_url.set_public_url(None)


def test_without_a_browser_the_trial_says_so_and_stops_cleanly():
    trials = [RouteTrial("wslab"), RouteTrial("jupyter-server-proxy")]
    try:
        assert all("direct" in t.note for t in trials)  # a script: no Jupyter server between
        assert trials[0].url == trials[0].tap.url      # so the browser would dial the tap
        assert trials[0].close_both_ways() == "wslab's hop: run open() first"
        for t in trials:
            t.open()
        said = trials[0].close_both_ways(timeout=0.3)
        assert "opened 0 of 2 sockets" in said and "direct" in said
        table = compare_routes(trials)
        assert table.names == ["wslab's hop", "jupyter-server-proxy"]
        rows = dict((r[0], r[1:]) for r in table.rows())
        assert rows["the browser offered"] == ["a.v1, b.v1"] * 2
        assert rows["the kernel's server received"] == ["?", "?"]
        assert "wslab-hop-compare" in table.value and "jupyter-server-proxy" in str(table)
    finally:
        for t in trials:
            t.stop()


def test_through_a_jupyter_server_without_the_hop_the_trial_names_the_missing_extension(
        monkeypatch):
    monkeypatch.delenv("WSLAB_HOP_DIR", raising=False)
    public_url.set_public_url("/user/alice/")
    trial = RouteTrial("wslab")
    try:
        assert "wslab.net.jupyter_ext" in trial.note
        assert trial.url == f"/user/alice/wslab/{trial.tap.port}/echo"
    finally:
        trial.stop()
    with pytest.raises(ValueError, match="route"):
        RouteTrial("nginx")
