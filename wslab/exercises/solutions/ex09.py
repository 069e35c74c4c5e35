"""Model solutions for 09_security.ipynb (shown by ``ex09.solution(name)``)."""

from __future__ import annotations

import hmac

SECRET = "s3cret"


def admit(origin, token, site):
    if origin is not None and origin != site:   # a page of another origin: the hijack
        return 403
    if token is None:                           # who are you?
        return 401
    if not hmac.compare_digest(token, SECRET):  # constant time: no timing hints
        return 403
    return 101                                  # Origin alone proves nothing: the token does
