"""The short echo comparison of :func:`wslab.labs.peers.compare_echo` as a figure."""

from __future__ import annotations

from matplotlib.figure import Figure

from ..labs.peers import EchoComparison
from .fonts import P_
from .plots import compare_bars


def echo_comparison_figure(cmp: EchoComparison) -> Figure:
    """One bar per server: the median round trip in microseconds (p99 in the label)."""
    if not cmp.peers:
        raise ValueError("echo_comparison_figure takes what compare_echo() returns")
    values = {f"{p}\np99 {cmp.p99(p):.0f} us": cmp.p50(p) for p in cmp.peers}
    return compare_bars(values, ylabel=P_("median echo round trip (us)"),
                        title=f"{cmp.size}-byte echo, same loop, same client", fmt="{:.0f}")
