"""Checks for 07_broadcast_and_channels.ipynb."""

from __future__ import annotations

from ._result import Result, hint, passed


def channel_members(answer: object, server, channel: str) -> Result:  # noqa: ANN001
    """Exercise 1: how many clients does a publish to ``channel`` reach?"""
    name = "Exercise 1 (fan-out)"
    truth = len(server.channels.get(channel, []))
    if answer == truth:
        return passed(name, f"{truth}: every member of {channel!r}, the sender too if it joined")
    if isinstance(answer, int) and answer == len(server.clients):
        return hint(name, "that is every client on the server; a publish reaches only members")
    return hint(name, "server.channels maps each channel to its members' ids")


def slow_code(answer: object) -> Result:
    """Exercise 2: the close code for a client that cannot keep up."""
    name = "Exercise 2 (slow consumer)"
    if answer == 1013:
        return passed(name, "1013 try again later: the client may come back with an empty buffer")
    if answer == 1008:
        return hint(name, "1008 (policy) is defensible, but look at which code wslab's event shows")
    if answer == 1009:
        return hint(name, "1009 is for one message that is too big, not for a backlog")
    return hint(name, "read server.events.of('error') after the slow-consumer cell")
