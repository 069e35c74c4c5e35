"""Server push four ways (notebook 00's measurement) on real loopback sockets."""

from __future__ import annotations

import pytest

from wslab.labs.push_compare import compare_push


def test_push_comparison_counts_real_bytes_and_delivers_everything():
    results = compare_push(count=20, interval=0.02, poll_interval=0.1, size=10)
    by = {r.method: r for r in results}
    assert all(r.delivered == 20 for r in results)
    ws, lp, sp = by["WebSocket"], by["long polling"], by["short polling"]
    sse = by["Server-Sent Events"]
    assert ws.requests == 1 and lp.requests >= 20 and sse.requests == 1
    # SSE: one response that never ends; each event costs "id: N\ndata: " and a chunk header.
    assert sse.overhead_per_message < lp.overhead_per_message
    assert sse.handshake_bytes > 100 and sse.p50_ms < sp.p50_ms
    # Short polling batches: a poll every 100 ms collects the messages of five 20 ms intervals.
    assert sp.messages_per_response > 1.5 and lp.messages_per_response < sp.messages_per_response
    # WebSocket: one handshake, then 2-byte frame headers; long polling: headers per message.
    assert ws.overhead_per_message < lp.overhead_per_message
    assert ws.handshake_bytes > 100
    # Short polling waits for the next poll: its median latency exceeds a tenth of the interval.
    assert sp.p50_ms > 10
    assert "overhead bytes/message" in str(results)
    from wslab.ui.views import push_table_html
    table = push_table_html(results)  # a column per method, a row per measure (fits 572 px)
    assert table.count("<tr>") == 10 and all(f">{r.method}</th>" in table for r in results)


@pytest.mark.parametrize("kwargs", [{"count": 0}, {"interval": 0}, {"poll_interval": -1},
                                    {"size": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="is an integer|is a number of seconds"):
        compare_push(**kwargs)
