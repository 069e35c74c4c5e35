"""Layer 3 (labs): the one percentile every experiment, plot and check uses."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of an empty list of samples")
    if not 0 <= p <= 100:
        raise ValueError(f"p is a percentile 0-100, got {p!r}")
    xs = sorted(samples)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
