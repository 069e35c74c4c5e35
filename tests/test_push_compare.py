"""Server push three ways (notebook 00's measurement) on real loopback sockets."""

from __future__ import annotations

import pytest

from wslab.labs.push_compare import compare_push


def test_push_comparison_counts_real_bytes_and_delivers_everything():
    results = compare_push(count=20, interval=0.02, poll_interval=0.1, size=10)
    by = {r.method: r for r in results}
    assert all(r.delivered == 20 for r in results)
    ws, lp, sp = by["WebSocket"], by["long polling"], by["short polling"]
    assert ws.requests == 1 and lp.requests >= 20
    # WebSocket: one handshake, then 2-byte frame headers; long polling: headers per message.
    assert ws.overhead_per_message < lp.overhead_per_message
    assert ws.handshake_bytes > 100
    # Short polling waits for the next poll: its median latency exceeds a tenth of the interval.
    assert sp.p50_ms > 10
    assert "overhead bytes/message" in str(results)
    from wslab.ui.views import push_table_html
    assert push_table_html(results).count("<tr>") == 4  # a header and three methods


@pytest.mark.parametrize("kwargs", [{"count": 0}, {"interval": 0}, {"poll_interval": -1},
                                    {"size": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="is an integer|is a number of seconds"):
        compare_push(**kwargs)
