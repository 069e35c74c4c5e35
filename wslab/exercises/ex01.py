"""Checks for 01_handshake.ipynb (layer 4, exercises)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from ..i18n import N_, _, translate
from ..labs.wire import send_upgrade
from ..net.server import LabServer
from ..protocol import handshake as hs
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes

solution = solution_function("ex01")

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _b64_sha1(text: str) -> str:
    return base64.b64encode(hashlib.sha1(text.encode("latin-1")).digest()).decode("ascii")


def _accept_mistake(key: str, got: object) -> str:
    """What a wrong Sec-WebSocket-Accept most likely did, or "" when no known mistake fits."""
    if isinstance(got, (bytes, bytearray)):
        return _("return a str (the header's text): .decode('ascii') the base64 bytes")
    if not isinstance(got, str):
        return _("return the base64 text as a str, not {type}").format(type=type(got).__name__)
    right = key + hs.GUID
    digest = hashlib.sha1(right.encode()).digest()
    want = base64.b64encode(digest).decode()
    known = {
        digest.hex(): _("that is the SHA-1 in hex; base64-encode the 20 raw bytes (.digest()) "
                        "instead"),
        base64.b64encode(digest.hex().encode()).decode():
            _("that is base64 of the hex digest (40 hex characters, so 56 base64 characters); "
              "base64-encode the 20 raw bytes of .digest(), not .hexdigest()"),
        _b64_sha1(key + hs.GUID.lower()):
            _("the GUID is in lower case; it is the fixed text {guid}, upper-case letters "
              "included, and SHA-1 sees every letter's case").format(guid=hs.GUID),
        _b64_sha1(hs.GUID + key): _("the GUID comes after the key: hash key + GUID, not "
                                    "GUID + key"),
        _b64_sha1(key + hs.GUID.replace("-", "")):
            _("the GUID lost its dashes; use it exactly as written, {guid}").format(guid=hs.GUID),
        _b64_sha1(key): _("the GUID {guid} is missing: hash key + GUID").format(guid=hs.GUID),
        _b64_sha1(key.rstrip("=") + hs.GUID):
            _("the key lost its '=' padding; append the GUID to the key exactly as received"),
        base64.b64encode(hashlib.sha1(base64.b64decode(key) + hs.GUID.encode()).digest())
        .decode(): _("you base64-decoded the key first; use the key exactly as the text it is"),
        base64.b64encode(hashlib.sha256(right.encode()).digest()).decode():
            _("that is SHA-256 (32 bytes, 44 base64 characters); the handshake uses SHA-1 "
              "(20 bytes, 28 characters)"),
        base64.urlsafe_b64encode(digest).decode():
            _("that is URL-safe base64 ('-' and '_'); the header uses standard base64, "
              "with '+' and '/' (base64.b64encode)"),
        want.rstrip("="): _("the '=' padding at the end is missing: base64 of 20 bytes ends "
                            "in one '='"),
    }
    if got in known:
        return known[got]
    if got.strip() == want:
        return _("there is whitespace around the value; return exactly the base64 text")
    if got == SAMPLE_ACCEPT:
        return _("that is the RFC example's answer, for its sample key; compute it from the key "
                 "you are given")
    try:
        raw = base64.b64decode(got.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return ""
    if len(raw) == 20:
        return _("yours is a well-formed SHA-1 digest in base64, of different input: check the "
                 "GUID character by character ({guid}) and that the key is used as the "
                 "text it is").format(guid=hs.GUID)
    return ""


def check_accept_key(fn: object) -> Result:
    """Exercise 1: ``fn(key)`` returns Sec-WebSocket-Accept; RFC vector, then random keys."""
    name = N_("Exercise 1 (accept key)")
    keys = [SAMPLE_KEY] + [hs.make_key() for _key in range(20)]
    try:
        takes(fn, 1, what="accept_key")
        for key in keys:
            got = call(fn, key, what="accept_key")
            want = hs.accept_key(key)
            if got == want:
                continue
            case = _("the RFC's sample key (section 1.3)") if key == SAMPLE_KEY \
                else _("a random key")
            why = _accept_mistake(key, got) or _("{difference} (as text)").format(
                difference=first_difference(str(got).encode(), want.encode()))
            why = why[0].upper() + why[1:]
            return hint(name, _("accept_key({key!r}), {case}, returned {got!r}; expected "
                                "{want!r}. {why}").format(
                key=key, case=case, got=got, want=want, why=why))
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, _("{accept} for the RFC's key, and 20 random keys match the "
                          "server's computation (RFC 6455 4.2.2)").format(accept=SAMPLE_ACCEPT))


def _request_problem(data: object, host: str, port: int, path: str, key: str) -> str:
    """What is wrong with ``data`` as the upgrade request for these arguments ("" if nothing)."""
    if isinstance(data, str):
        return _("return bytes: the wire carries bytes, so .encode('ascii') the text")
    if not isinstance(data, (bytes, bytearray)):
        return _("return the request as bytes, not {type}").format(type=type(data).__name__)
    data = bytes(data)
    if b"\n" in data and b"\r\n" not in data:
        return _("each line of an HTTP request ends with CRLF, '\\r\\n', not only '\\n' "
                 "(RFC 9112 2.1)")
    if not data.endswith(b"\r\n\r\n"):
        return _("the request must end with an empty line: the last header's '\\r\\n' "
                 "followed by one more '\\r\\n' (RFC 9112 2.1)")
    try:
        request = hs.parse_request(data)
    except hs.HandshakeError as exc:
        return _("a server would answer {status}: {error}").format(status=exc.status, error=exc)
    except hs.NeedMoreData:
        return _("the header block never ends: end it with '\\r\\n\\r\\n'")
    if request.key != key:
        return _("Sec-WebSocket-Key is {got!r}; send the key you were given, {key!r}").format(
            got=request.key, key=key)
    if request.path != path:
        return _("the request line asks for {got!r}; use the path argument {path!r}").format(
            got=request.path, path=path)
    if request.host != f"{host}:{port}":
        return _("Host is {got!r}; it carries the host and the port, '{host}:{port}' "
                 "(RFC 6455 4.1 item 4: the port may be left out only when it is the default, "
                 "80 or 443; RFC 9112 3.2)").format(got=request.host, host=host, port=port)
    return ""


#: Arguments of the first, parse-only call: nothing here is the live server's.
DRY_RUN = ("ws.example.test", 8765, "/chat?room=7")


def check_upgrade_request(fn: object, server: LabServer) -> Result:
    """Exercise 2: ``fn(host, port, path, key)`` returns the upgrade request as bytes.

    First called with other arguments (host, port, path and key all different), parsed
    only; then with the live ``server``'s, parsed as a server would (RFC 6455 4.2.1) and
    sent unchanged over a plain socket; the check reports the server's real answer.
    """
    name = N_("Exercise 2 (upgrade request)")
    dry_key, key = hs.make_key(), hs.make_key()
    host, port, path = server.host, server.port, "/echo"
    try:
        takes(fn, 4, what="upgrade_request")
        dry = call(fn, *DRY_RUN, dry_key, what="upgrade_request")
        problem = _request_problem(dry, *DRY_RUN, dry_key)
        if problem:
            args = ", ".join(repr(a) for a in DRY_RUN)
            return hint(name, f"upgrade_request({args}, {dry_key!r}): {problem}")
        data = call(fn, host, port, path, key, what="upgrade_request")
    except StudentError as exc:
        return hint(name, exc.hint)
    problem = _request_problem(data, host, port, path, key)
    if problem:
        return hint(name, f"upgrade_request({host!r}, {port}, {path!r}, {key!r}): {problem}")
    exchange = send_upgrade(server.url, bytes(data))
    if exchange.status != 101:
        body = exchange.body.decode("utf-8", "replace").strip()
        return hint(name, _("the live server answered {status!r}").format(
            status=exchange.status_line) + (f": {body}" if body else ""))
    try:
        hs.check_response(exchange.head, key)
    except hs.HandshakeError as exc:  # the server's fault, not the learner's
        return hint(name, _("the server's 101 failed the client's checks: {error}").format(
            error=exc))
    ending = (_("; then Close frames with 1000 both ways and the server's FIN ended it cleanly")
              if exchange.close_code == 1000 and exchange.tcp_closed_by_server else "")
    return passed(name, _("the live server answered {status!r} with the right "
                          "Sec-WebSocket-Accept{ending} ({n} request bytes, all yours; a request "
                          "for {host}:{port}{path} was right too)").format(
        status=exchange.status_line, ending=ending, n=len(data),
        host=DRY_RUN[0], port=DRY_RUN[1], path=DRY_RUN[2]))


# -- Exercise 3: predict what the live server answers to broken requests ---------------------

REFUSALS = N_("Exercise 3 (refused handshakes)")
Judge = Callable[[float | str], tuple[bool, str]]
#: The broken requests of the notebook's demo (wslab.handshake_by_hand variants).
VARIANTS = ("wrong_version", "missing_key", "bad_origin")
_WHY = {
    ("wrong_version", 426): N_("A version the server does not speak gets an error 'such as 426 "
                               "Upgrade Required' with Sec-WebSocket-Version: 13, the versions "
                               "it does speak (RFC 6455 4.2.2, 4.4)"),
    ("missing_key", 400): N_("A request without Sec-WebSocket-Key is not a valid WebSocket "
                             "handshake: 400 Bad Request (RFC 6455 4.2.1, 4.2.2)"),
    ("bad_origin", 403): N_("The request is well-formed, but the server does not accept the "
                            "page's origin: 403 Forbidden (RFC 6455 4.2.2, 10.2)"),
}


_NAMES = {"wrong_version": N_("Exercise 3 (wrong version)"),
          "missing_key": N_("Exercise 3 (missing key)"),
          "bad_origin": N_("Exercise 3 (bad origin)")}


def _name(variant: str) -> str:
    return _NAMES.get(variant) or f"Exercise 3 ({variant.replace('_', ' ')})"


def predict_refusals(guess: object) -> Result:
    """Keep one predicted HTTP status per broken request, before the demo sends them."""
    if not isinstance(guess, dict) or set(guess) != set(VARIANTS):
        return hint(REFUSALS, _("keep the dict of the cell, one entry per variant: "
                                "{variants}").format(
            variants=", ".join(repr(v) for v in VARIANTS)))
    bad = [v for v in VARIANTS if isinstance(guess[v], bool) or not isinstance(guess[v], int)
           or not 100 <= guess[v] <= 599]
    if bad:
        for v in VARIANTS:
            _predict.forget(_name(v))
        return hint(REFUSALS, _("write your prediction first: an HTTP status code (100-599) "
                                "for {variants} (replace None), then run this cell and only "
                                "then the demo below").format(variants=", ".join(bad)))
    for v in VARIANTS:
        _predict.record(_name(v), guess[v])
    shown = ", ".join(f"{v} {guess[v]}" for v in VARIANTS)
    return passed(REFUSALS, _("predictions recorded: {shown}. Now run the demo; the cell "
                              "after it compares them with the server's real answers").format(
        shown=shown))


def _judge_status(variant: str, status: int | None, line: str) -> Judge:
    def judge(value: float | str) -> tuple[bool, str]:
        said = _("{variant}: the server answered {answer}; you predicted {guess:g}").format(
            variant=variant, answer=line or status, guess=value)
        why = translate(_WHY.get((variant, status or 0), ""))
        if value == status:
            return True, _("{said}. {why}").format(said=said, why=why or _("right"))
        if status == 426 and value == 400:
            return False, _("{said}. 400 is a fair guess: the RFC asks for 'an appropriate HTTP "
                            "error code (such as 426 Upgrade Required)' (4.2.2); this server "
                            "chose 426, with Sec-WebSocket-Version: 13, the version it speaks "
                            "(4.4)").format(said=said)
        if value == 101:
            return False, _("{said}. 101 would open a WebSocket; this request was refused: "
                            "{why}").format(said=said, why=why)
        return False, _("{said}. {why}").format(
            said=said, why=why or _("Compare with the status line above"))
    return judge


def compare_refusals(transcripts: object, *, measured_at: float) -> Result:
    """Set each predicted status against the live server's answer to that broken request."""
    got = {getattr(t, "variant", None): t for t in transcripts} \
        if isinstance(transcripts, (list, tuple)) else {}
    if set(got) != set(VARIANTS):
        return hint(REFUSALS, _("run the demo cell above first: it sends the three broken "
                                "requests to the live server"))
    lines, ok = [], True
    for v in VARIANTS:
        t = got[v]
        judge = _judge_status(v, t.status, t.status_line)
        r = _predict.compare(_name(v), measured_at=measured_at, judge=judge)
        g = _predict.guess(_name(v))
        if g is None or g.at > measured_at:  # nothing predicted (in time): say so, once
            return hint(REFUSALS, r.message)
        ok = ok and r.ok
        lines.append(r.message)
    return (passed if ok else hint)(REFUSALS, "\n".join(lines))
