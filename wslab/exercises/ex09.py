"""Checks for 09_security.ipynb."""

from __future__ import annotations

from ._result import Result, hint, passed


def browser_token(answer: object) -> Result:
    """Exercise 1: where can JavaScript in a page put a token for new WebSocket(...)?"""
    name = "Exercise 1 (browser tokens)"
    text = str(answer).lower()
    if "header" in text:
        return hint(name, "new WebSocket(url, protocols) takes no headers at all")
    if "query" in text or "url" in text or "cookie" in text:
        return passed(name, "the URL (query) or a cookie the browser already holds; some apps "
                            "also abuse Sec-WebSocket-Protocol, or send the token as the first message")
    return hint(name, "answer 'query', 'header' or 'cookie'")


def hijack_fix(answer: object) -> Result:
    """Exercise 2: which request header must a cookie-trusting server check?"""
    name = "Exercise 2 (the fix)"
    if str(answer).strip().lower() == "origin":
        return passed(name, "Origin: browsers always send it and pages cannot forge it "
                            "(RFC 6455 section 10.2)")
    if "cookie" in str(answer).lower():
        return hint(name, "the cookie is exactly what the attacker's page gets for free")
    return hint(name, "which header names the page that opened the socket?")


def too_big(answer: object) -> Result:
    """Exercise 3: the close code for a message over the server's limit."""
    name = "Exercise 3 (limits)"
    if answer == 1009:
        return passed(name, "1009 message too big (RFC 6455 7.4.1)")
    if answer == 1008:
        return hint(name, "1008 is wslab's answer to a flood of messages, not to one big one")
    return hint(name, "look at the close code in the limits cell above")
