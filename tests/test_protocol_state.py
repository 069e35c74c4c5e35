"""Layer 1 connection state table: RFC 6455 sections 4 and 7, one data structure."""

from __future__ import annotations

import pytest

from wslab.protocol import state
from wslab.protocol.state import (
    TRANSITIONS,
    ConnectionStateMachine,
    State,
    Transition,
    next_state,
)


def test_state_numbers_match_ready_state():
    """HTML readyState and RFC 6455 4.1/7.1: CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3."""
    assert [(s.name, int(s)) for s in State] == [
        ("CONNECTING", 0), ("OPEN", 1), ("CLOSING", 2), ("CLOSED", 3)]


def test_table_is_one_tuple_of_transitions():
    """RFC 6455 4 and 7: every row names its RFC section and says what happens."""
    assert isinstance(TRANSITIONS, tuple) and TRANSITIONS
    for row in TRANSITIONS:
        assert isinstance(row, Transition)
        assert isinstance(row.source, State) and isinstance(row.target, State)
        assert row.rfc and row.note and row.event
    pairs = [(t.source, t.event) for t in TRANSITIONS]
    assert len(pairs) == len(set(pairs)), "a (state, event) pair may appear once"
    assert not [t for t in TRANSITIONS if t.source == State.CLOSED], "CLOSED is final"


@pytest.mark.parametrize(("source", "event", "target", "rfc"), [
    (State.CONNECTING, state.HANDSHAKE_SUCCEEDED, State.OPEN, "4.1"),
    (State.CONNECTING, state.HANDSHAKE_FAILED, State.CLOSED, "4.1"),
    (State.OPEN, state.CLOSE_SENT, State.CLOSING, "7.1.2"),
    (State.OPEN, state.CLOSE_RECEIVED, State.CLOSING, "5.5.1"),
    (State.OPEN, state.TCP_LOST, State.CLOSED, "7.1.5"),
    (State.CLOSING, state.CLOSE_RECEIVED, State.CLOSED, "7.1.1"),
    (State.CLOSING, state.CLOSE_SENT, State.CLOSED, "7.1.4"),
    (State.CLOSING, state.TCP_LOST, State.CLOSED, "7.1.5"),
    (State.CLOSING, state.CLOSE_TIMEOUT, State.CLOSED, "7.1.1"),
])
def test_rows_of_the_rfc(source, event, target, rfc):
    """RFC 6455 4.1, 4.2.2, 5.5.1, 7.1.1-7.1.5: the transitions the RFC describes."""
    assert next_state(source, event) == target
    row = next(t for t in TRANSITIONS if (t.source, t.event) == (source, event))
    assert rfc in row.rfc


def test_every_state_reachable_and_closed_reached_from_everywhere():
    """RFC 6455 7.1.5: whatever happens, a connection can end CLOSED."""
    reachable = {State.CONNECTING}
    for _ in State:
        reachable |= {t.target for t in TRANSITIONS if t.source in reachable}
    assert reachable == set(State)
    for s in (State.CONNECTING, State.OPEN, State.CLOSING):
        assert state.TCP_LOST in state.allowed_events(s)


def test_next_state_lists_the_allowed_events():
    """Bad arguments raise ValueError saying what is allowed."""
    with pytest.raises(ValueError, match="allowed events: .*close frame sent"):
        next_state(State.OPEN, "101 received/sent")
    with pytest.raises(ValueError, match="final"):
        next_state(State.CLOSED, state.CLOSE_SENT)
    with pytest.raises(ValueError, match="state must be one of"):
        next_state(7, state.CLOSE_SENT)


def test_state_machine_tracks_history():
    """RFC 6455 7.1.2 then 7.1.1: a client-initiated close, step by step."""
    sm = ConnectionStateMachine()
    assert sm.state == State.CONNECTING
    assert sm.handle(state.HANDSHAKE_SUCCEEDED) == State.OPEN
    assert sm.handle(state.CLOSE_SENT) == State.CLOSING
    assert sm.allowed_events() == state.allowed_events(State.CLOSING)
    assert sm.handle(state.CLOSE_RECEIVED) == State.CLOSED
    assert [str(t) for t in sm.history] == [
        "CONNECTING --101 received/sent--> OPEN (RFC 6455 4.1, 4.2.2)",
        "OPEN --close frame sent--> CLOSING (RFC 6455 7.1.2)",
        "CLOSING --close frame received--> CLOSED (RFC 6455 7.1.1, 7.1.4)",
    ]
    with pytest.raises(ValueError):
        sm.handle(state.CLOSE_SENT)
    assert sm.state == State.CLOSED and len(sm.history) == 3
