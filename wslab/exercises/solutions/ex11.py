"""Model solutions for 11_scaling_out.ipynb (shown by ``ex11.solution(name)``)."""

from __future__ import annotations


def deliver_once(last_seen, incoming):
    # Events are numbered by Redis.  After a reconnect the same numbers can come twice
    # (replayed AND live); deliver each number once, in order, and never go backwards.
    out = []
    for seq, data in incoming:
        if seq == last_seen + 1:      # the next one: deliver it
            out.append(data)
            last_seen = seq
        # seq <= last_seen: a duplicate; seq > last_seen + 1: a gap, ask for a replay
        # (a real client would; here it is simply not delivered out of order)
    return out, last_seen


def ping_interval(idle_timeouts):
    # The smallest idle timeout on the path decides; ping at most every half of it, so
    # one lost or late ping still leaves time for the next before the cut.
    return min(idle_timeouts) / 2
