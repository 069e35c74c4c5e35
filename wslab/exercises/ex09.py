"""Checks for 09_security.ipynb (layer 4): an origin and token check at the handshake.

``check_admit(admit)`` first asks the learner's ``admit(origin, token, site)``
about a table of handshakes of two sites (one on a random port each run), among
them the textbook mistakes: a foreign origin that *extends* the site
(``https://bank.example.evil.net``; port 4000 and 40001), one that ends like it,
the opaque ``Origin: null``, another scheme, a token that is a prefix of the
secret or the secret plus more.
Then it puts the function in front of a real "bank" server that trusts its
session cookie, replays the hijack (a page of another origin carrying the
victim's cookie) and a set of forged requests over raw sockets.  Browsers always
send ``Origin`` and pages cannot change it; any other client can send anything
(RFC 6455 sections 4.1 and 10.2), so the token must be checked too, and in
constant time (:mod:`._constant_time`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..i18n import N_, _, translate
from ..labs.hijack import AdmitWith, TokenPlaces, forged_handshake
from ..net.client import connect
from ..net.errors import ConnectionFailed
from ..net.server import serve
from . import _predict
from ._constant_time import Watch, insecure
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex09")

NAME = N_("Exercise 1 (origin and token)")
STATUSES = (101, 401, 403)

WHOLE = N_("compare the whole Origin with site (==), not a part of it")


@dataclass(frozen=True)
class Case:
    """One handshake put to admit(): what it is, the answer, and what a wrong one means."""

    who: str
    origin: str | None
    token: str | None
    site: str
    want: int
    why: str = ""


def table(secret: str, rng: random.Random) -> list[Case]:
    """The handshakes admit() is asked about before the live bank, simplest first; the
    port of the local site is random, so a foreign origin extends a different one each run."""
    bank, port = "https://bank.example", rng.randrange(1024, 6554)
    local = f"http://127.0.0.1:{port}"
    longer = f"{local}{rng.randrange(10)}"
    longer = longer if int(longer.rsplit(":", 1)[1]) <= 65535 else f"{local}0"
    foreign = _("the victim's cookie")
    return [
        Case(_("the bank's own page, logged in"), bank, secret, bank, 101),
        Case(_("a script with no Origin and the right token"), None, secret, bank, 101,
             _("non-browser clients often send no Origin at all (None); their token decides")),
        Case(_("a script with no Origin and no token"), None, None, bank, 401),
        Case(_("the bank's own page with a wrong token"), bank, secret[::-1], bank, 403),
        Case(_("a page of https://evil.example with {foreign}").format(foreign=foreign),
             "https://evil.example", secret,
             bank, 403, _("a page of another origin is refused (403) even with the victim's "
                          "cookie: compare Origin with site")),
        Case(_("the page {local} (the site itself), logged in").format(local=local), local,
             secret, local, 101),
        Case(_("a page on port {port} of the same host (its origin starts with {local}) with "
               "{foreign}").format(port=longer.rsplit(":", 1)[1], local=local, foreign=foreign),
             longer, secret, local, 403,
             _("{whole}: {longer} starts with {local} but is another origin").format(
                 whole=translate(WHOLE), longer=longer, local=local)),
        Case(_("a page of https://bank.example.evil.net (the attacker's domain, starting with "
               "the bank's name) with {foreign}").format(foreign=foreign),
             "https://bank.example.evil.net", secret, bank,
             403, _("{whole}: a prefix match lets bank.example.evil.net in").format(
                 whole=translate(WHOLE))),
        Case(_("a page of https://evilbank.example (its name ends with the bank's) with "
               "{foreign}").format(foreign=foreign), "https://evilbank.example", secret, bank,
             403, _("{whole}: an ending or a substring match lets evilbank.example in").format(
                 whole=translate(WHOLE))),
        Case(_("a page with Origin: null (a sandboxed iframe, a file: or data: page) with "
               "{foreign}").format(foreign=foreign), "null", secret, bank, 403,
             _("'null' is the Origin of an opaque page (RFC 6454 section 7), another origin, "
               "not a missing one; only a missing Origin (None) means a non-browser client")),
        Case(_("the bank's host over plain http (another scheme) with {foreign}").format(
                 foreign=foreign),
             "http://bank.example", secret, bank, 403,
             _("scheme, host and port must all match (RFC 6454 section 5): http://bank.example "
               "is another origin than https://bank.example")),
        Case(_("the bank's own page with the token {token!r} (the start of the secret)").format(
                 token=secret[:3]),
             bank, secret[:3], bank, 403,
             _("compare the whole token; a prefix or substring match lets a guess in")),
        Case(_("the bank's own page with the token {token!r} (the secret and more)").format(
                 token=secret + "!"),
             bank, secret + "!", bank, 403,
             _("compare the whole token; startswith or `in` lets a longer guess in")),
        Case(_("the bank's own page with the token {token!r}").format(token=secret.upper()),
             bank, secret.upper(),
             bank, 403, _("tokens are case-sensitive; compare them exactly")),
    ]


def _status_hint(got: object) -> str | None:
    if isinstance(got, bool) or got not in STATUSES:
        return (_("returned {got!r}; return one of the HTTP statuses {statuses} as an int (101 "
                  "accept, 401 no token, 403 refused)").format(got=got, statuses=STATUSES))
    return None


def _ask_table(decide, secret: str) -> str | None:  # noqa: ANN001
    for case in table(secret, random.Random()):
        got = decide(case.origin, case.token, case.site)
        wrong = _status_hint(got)
        if wrong:
            return _("{who}: admit({origin!r}, {token!r}, {site!r}) {wrong}").format(
                       who=case.who, origin=case.origin, token=case.token, site=case.site,
                       wrong=wrong)
        if got != case.want:
            advice = _advice(case.want, got) if {case.want, got} == {401, 403} else ""
            return (_("{who}: admit({origin!r}, {token!r}, {site!r}) returned {got}, expected "
                      "{want}").format(who=case.who, origin=case.origin, token=case.token,
                                       site=case.site, got=got, want=case.want)
                    + (advice or (f": {case.why}" if case.why else _advice(case.want, got))))
    return None


def check_admit(admit: object, *, secret: str = "s3cret") -> Result:
    """The table, then the hijack and forged handshakes against a bank guarded by ``admit``."""
    try:
        takes(admit, 3, what="admit(origin, token, site)")
    except StudentError as exc:
        return hint(NAME, exc.hint)
    watch = Watch()

    def decide(origin, token, site):  # noqa: ANN001, ANN202
        return call(admit, origin, watch.text(token), site,
                    what=f"admit({origin!r}, {token!r}, {site!r})")

    try:
        wrong = _ask_table(decide, secret)
    except StudentError as exc:
        return hint(NAME, exc.hint)
    if wrong:
        return hint(NAME, wrong)
    live = _live(decide, secret)
    if not live.ok:
        return live
    slow = insecure(watch, admit, 1)  # type: ignore[arg-type]
    if slow is not None:
        return hint(NAME, _("every answer was right, but {slow} compares the token with == or "
                            "!=, which stops at the first character that differs: how long a "
                            "refusal takes tells an attacker how much of a guess was right. Use "
                            "hmac.compare_digest(token, SECRET)").format(slow=slow))
    return live


def _live(decide, secret: str) -> Result:  # noqa: ANN001, C901
    evil = serve(name="ex09-evil")
    guard = AdmitWith(secret, places=("cookie",), decide=decide)
    bank = serve(name="ex09-bank", origins=["*"], auth=guard)  # only admit() decides
    object.__setattr__(guard, "site", bank.origin)

    @bank.on_message
    def private(conn, message):  # noqa: ANN001, ANN202
        conn.send("balance of the logged-in user: 1,234.56")

    good, bad = f"wslab_token={secret}", "wslab_token=guess"
    cases = [  # (who, Origin, Cookie, expected status)
        (_("the bank's own page, logged in"), bank.origin, good, 101),
        (_("the bank's own page, not logged in"), bank.origin, None, 401),
        (_("the bank's own page, wrong token"), bank.origin, bad, 403),
        (_("a script (no Origin) with the right token"), None, good, 101),
        (_("a script with no Origin and no token"), None, None, 401),
        (_("a script forging the bank's Origin, no token"), bank.origin, None, 401),
        (_("a page of http://localhost:{port} (the same server, another origin) with the "
           "victim's cookie").format(port=bank.port), f"http://localhost:{bank.port}", good,
         403),
    ]
    try:
        try:  # the hijack itself, as the victim's browser would send it
            with connect(bank.url, headers={"Cookie": good}, origin=evil.origin) as hijacked:
                hijacked.send("what is my balance?")
                stolen = hijacked.recv(timeout=5)
            if _why(guard) is not None:
                return _why(guard)  # type: ignore[return-value]
            return hint(NAME, _("the hijack worked: a page of {origin} (another origin, the same "
                                "host as the bank {origin2}) with the victim's cookie was "
                                "accepted and read {stolen!r}: compare scheme, host and port of "
                                "Origin with site").format(
                                  origin=evil.origin, origin2=bank.origin, stolen=stolen))
        except ConnectionFailed as exc:
            if _why(guard) is not None:
                return _why(guard)  # type: ignore[return-value]
            if exc.status != 403:
                return hint(NAME,
                            _("the hijack (Origin {origin}, the victim's cookie) got HTTP "
                              "{status}; a foreign page is forbidden: 403").format(
                                origin=evil.origin, status=exc.status))
        for who, origin, cookie, want in cases:
            got = forged_handshake(bank.url, origin=origin, cookie=cookie)
            if _why(guard) is not None:
                return _why(guard)  # type: ignore[return-value]
            if got != want:
                return hint(NAME, _("{who}: your check answered {got}, expected {want} "
                                    "(Origin {origin!r}, token {token})").format(
                    who=who, got=got, want=want, origin=origin, token=_token(cookie))
                    + _advice(want, got))
    finally:
        bank.stop()
        evil.stop()
    return passed(NAME,
                  _("every handshake of the table judged right; the hijack from {origin} got "
                    "403; {n} forged handshakes over raw sockets got the right 101/401/403; the "
                    "token compared in constant time. Origin stops foreign pages, the token stops "
                    "everyone else (scripts can forge Origin)").format(
                      origin=evil.origin, n=len(cases)))


def _why(guard: AdmitWith) -> Result | None:
    if not guard.errors:
        return None
    err = guard.errors[0]
    return hint(NAME, err.hint if isinstance(err, StudentError) else str(err))


def _token(cookie: str | None) -> str:
    if cookie is None:
        return _("none")
    return repr(cookie.split("=", 1)[1])


def _advice(want: int, got: object) -> str:
    if want == 403 and got == 101:
        return f": {translate(WHOLE)}"
    if want == 401 and got == 101:
        return _(": a matching Origin proves nothing by itself; any script can send it")
    if want == 101 and got == 403:
        return _(": non-browser clients often send no Origin at all; their token decides")
    if {want, got} == {401, 403}:
        return _(": 401 means no token was sent (who are you?), 403 a wrong token or a foreign "
                 "page")
    return ""


# --- prediction: where can a page put its token? -------------------------------------------

PLACES = ("query", "header", "cookie")
BROWSER = N_("Prediction (browser tokens)")


def predict_browser_token(answer: object) -> Result:
    """Record the guess: which of query, header, cookie can a page NOT use?"""
    return _predict.record(BROWSER, answer, choices=PLACES)


def compare_browser_token(places: TokenPlaces) -> Result:
    """The guess against what headless Chromium did with each place (``places``)."""

    def judge(value: float | str) -> tuple[bool, str]:
        if places.skipped:
            return value == "header", (_("not measured here ({skipped}); the browser's API "
                                         "decides it: new WebSocket(url, protocols) takes no "
                                         "headers, so 'header' is the one a page cannot "
                                         "use").format(
                                           skipped=places.skipped))
        failed = [p for p in PLACES if not places.opened[p]]
        measured = (_("measured in Chromium: {places}. A page's only inputs are the URL and the "
                      "subprotocols; the browser adds the cookies itself").format(
                        places=places.summary()))
        if value in failed:
            return True, _("right: {measured}").format(measured=measured)
        return False, _("you predicted {value!r}, but it worked; {measured}").format(
                          value=value, measured=measured)

    return _predict.compare(BROWSER, measured_at=places.measured_at, judge=judge)
