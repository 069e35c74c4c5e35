"""wslab.net.services.free_port: a port a child can bind next, outside the ephemeral range."""

from __future__ import annotations

import socket

from wslab.net import services


def _ephemeral_range() -> tuple[int, int]:
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
        low, high = f.read().split()
    return int(low), int(high)


def test_the_port_is_free_and_below_the_ephemeral_range():
    low, _high = _ephemeral_range()
    ports = {services.free_port() for _ in range(50)}
    assert all(1024 <= p < low for p in ports), sorted(ports)
    assert len(ports) > 40  # picked at random: two runs rarely share one
    for port in list(ports)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # really free


def test_a_port_in_use_is_never_handed_out():
    low, _high = _ephemeral_range()
    taken = []
    try:
        for _ in range(200):  # hold many ports below the range; none of them comes back
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", services.free_port()))
            except OSError:
                s.close()
                raise
            s.listen()
            taken.append(s)
        held = {s.getsockname()[1] for s in taken}
        assert all(services.free_port() not in held for _ in range(200))
    finally:
        for s in taken:
            s.close()


def test_outgoing_connections_cannot_take_it():
    """A connection's own port comes from the ephemeral range, so it never meets ours."""
    low, high = _ephemeral_range()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        with socket.create_connection(srv.getsockname()) as c:
            assert low <= c.getsockname()[1] <= high
    assert services.free_port() < low
