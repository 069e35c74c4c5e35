"""Checks for 09_security.ipynb (layer 4): an origin and token check at the handshake.

``check_admit(admit)`` puts the learner's ``admit(origin, token, site)`` in
front of a real "bank" server that trusts its session cookie, then replays the
hijack (a page of another origin, carrying the victim's cookie) and a set of
forged requests over raw sockets.  Browsers always send ``Origin`` and pages
cannot change it; any other client can send anything (RFC 6455 section 10.2),
so the token must be checked too.
"""

from __future__ import annotations

from ..labs.hijack import AdmitWith, forged_handshake
from ..net.client import connect
from ..net.errors import ConnectionFailed
from ..net.server import serve
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex09")

NAME = "Exercise 1 (origin and token)"


def check_admit(admit: object, *, secret: str = "s3cret") -> Result:
    """The hijack and forged handshakes against a bank guarded by ``admit``."""
    try:
        takes(admit, 3, what="admit(origin, token, site)")
    except StudentError as exc:
        return hint(NAME, exc.hint)

    def decide(origin, token, site):  # noqa: ANN001, ANN202
        return call(admit, origin, token, site, what=f"admit({origin!r}, {token!r}, site)")

    evil = serve(name="ex09-evil")
    guard = AdmitWith(secret, places=("cookie",), decide=decide)
    bank = serve(name="ex09-bank", origins=["*"], auth=guard)  # only admit() decides
    object.__setattr__(guard, "site", bank.origin)

    @bank.on_message
    def private(conn, message):  # noqa: ANN001, ANN202
        conn.send("balance of the logged-in user: 1,234.56")

    good, bad = f"wslab_token={secret}", "wslab_token=guess"
    cases = [  # (who, Origin, Cookie, expected status)
        ("the bank's own page, logged in", bank.origin, good, 101),
        ("the bank's own page, not logged in", bank.origin, None, 401),
        ("the bank's own page, wrong token", bank.origin, bad, 403),
        ("a script (no Origin) with the right token", None, good, 101),
        ("a script with no Origin and no token", None, None, 401),
        ("a script forging the bank's Origin, no token", bank.origin, None, 401),
        (f"a page of http://localhost:{bank.port} (the same server, another origin) with "
         "the victim's cookie", f"http://localhost:{bank.port}", good, 403),
    ]
    try:
        try:  # the hijack itself, as the victim's browser would send it
            with connect(bank.url, headers={"Cookie": good}, origin=evil.origin) as hijacked:
                hijacked.send("what is my balance?")
                stolen = hijacked.recv(timeout=5)
            if _why(guard) is not None:
                return _why(guard)
            return hint(NAME, f"the hijack worked: a page of {evil.origin} (another "
                                             f"origin) with the victim's cookie was accepted and "
                                             f"read {stolen!r}: compare Origin with site")
        except ConnectionFailed as exc:
            if _why(guard) is not None:
                return _why(guard)
            if exc.status != 403:
                return hint(NAME,
                            f"the hijack (Origin {evil.origin}, the victim's cookie) got HTTP "
                                  f"{exc.status}; a foreign page is forbidden: 403")
        for who, origin, cookie, want in cases:
            got = forged_handshake(bank.url, origin=origin, cookie=cookie)
            if _why(guard) is not None:
                return _why(guard)
            if got != want:
                return hint(NAME, f"{who}: your check answered {got}, expected {want} "
                                  f"(Origin {origin!r}, token {_token(cookie)})"
                                  + _advice(want, got))
    finally:
        bank.stop()
        evil.stop()
    return passed(NAME,
                  f"the hijack from {evil.origin} got 403; {len(cases)} forged handshakes over "
                        "raw sockets got the right 101/401/403: Origin stops foreign pages, "
                        "the token stops everyone else (Origin can be forged by scripts)")


def _why(guard: AdmitWith) -> Result | None:
    if not guard.errors:
        return None
    err = guard.errors[0]
    return hint(NAME, err.hint if isinstance(err, StudentError) else str(err))


def _token(cookie: str | None) -> str:
    if cookie is None:
        return "none"
    return repr(cookie.split("=", 1)[1])


def _advice(want: int, got: object) -> str:
    if want == 403 and got == 101:
        return ": compare the whole Origin with site (==), not a part of it"
    if want == 401 and got == 101:
        return ": a matching Origin proves nothing by itself; any script can send it"
    if want == 101 and got == 403:
        return ": non-browser clients often send no Origin at all; their token decides"
    if want == 401 and got == 403:
        return ": no token at all is 401 (who are you?), a wrong one 403"
    return ""


def browser_token(answer: object) -> Result:
    """Question: where can JavaScript in a page put a token for new WebSocket(...)?"""
    name = "Question (browser tokens)"
    if not isinstance(answer, str) or answer.strip().lower() not in ("query", "header", "cookie"):
        return hint(name, "answer 'query', 'header' or 'cookie'")
    if answer.strip().lower() == "header":
        return hint(name, "new WebSocket(url, protocols) takes no headers at all")
    return passed(name, "the URL (query) or a cookie the browser already holds; some apps "
                        "also abuse Sec-WebSocket-Protocol, or send the token as the first message")
