"""Model solutions for 06_reconnect.ipynb (shown by ``ex06.solution(name)``)."""

from __future__ import annotations


def backoff(attempt, rng):
    ceiling = min(2.0, 0.1 * 2 ** attempt)   # exponential, capped at 2 s
    return rng.uniform(0, ceiling)           # full jitter: anywhere in [0, ceiling]
