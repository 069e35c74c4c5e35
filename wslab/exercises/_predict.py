"""Layer 4 (exercises): predict, then observe.

A prediction question is asked BEFORE a demo runs: the learner writes a guess, a cell
records it with :func:`record`, the demo measures, and :func:`compare` sets the guess
against the live measurement.  A guess recorded after the measurement it is compared
with is refused (the answer was already on screen), and so is a missing guess.

The store is this kernel's memory: one slot per question name (a fixed set, written in
the exercise modules), each holding one short value, so it cannot grow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..i18n import _
from ._result import Result, hint, passed

MAX_TEXT = 200  # characters of a text guess kept


@dataclass(frozen=True)
class Guess:
    """One recorded prediction: the value and when it was made (time.monotonic())."""

    value: float | str
    at: float


_guesses: dict[str, Guess] = {}


def _normalise(answer: object, *, choices: Sequence[str] | None,
               unit: str | None) -> float | str:
    """The guess as a number or one of ``choices``; ValueError names what to write."""
    if choices is not None:
        if isinstance(answer, str) and answer.strip().lower() in choices:
            return answer.strip().lower()
        raise ValueError(_("write one of {choices}").format(
            choices=", ".join(repr(c) for c in choices)))
    number = isinstance(answer, (int, float)) and not isinstance(answer, bool)
    if not number or not math.isfinite(answer):  # type: ignore[arg-type]
        raise ValueError(_("write a number of {unit}").format(unit=unit) if unit
                         else _("write a number"))
    return float(answer)


def record(name: str, answer: object, *, choices: Sequence[str] | None = None,
           unit: str | None = None) -> Result:
    """Keep ``answer`` as the prediction for ``name`` (before the demo runs).

    ``choices`` (lower-case strings) makes it a multiple-choice guess; otherwise it is a
    number, in ``unit``.  A missing or malformed guess is NOT YET and keeps nothing.
    """
    if answer is None:
        _guesses.pop(name, None)
        return hint(name, _("write your prediction first (replace None), then run this cell "
                            "and only then the demo below"))
    try:
        value = _normalise(answer, choices=choices, unit=unit)
    except ValueError as exc:
        _guesses.pop(name, None)
        return hint(name, _("{answer!r} is not a prediction here: {why}").format(
            answer=answer, why=exc))
    if isinstance(value, str):
        value = value[:MAX_TEXT]
    _guesses[name] = Guess(value, time.monotonic())
    shown = f"{value:g}{f' {unit}' if unit else ''}" if isinstance(value, float) else repr(value)
    return passed(name, _("prediction recorded: {shown}. Now run the demo; the cell after it "
                          "compares your prediction with what is measured").format(shown=shown))


def guess(name: str) -> Guess | None:
    """The recorded prediction for ``name``, or None."""
    return _guesses.get(name)


def compare(name: str, *, measured_at: float,
            judge: Callable[[float | str], tuple[bool, str]]) -> Result:
    """Compare the prediction for ``name`` with a measurement taken at ``measured_at``.

    ``judge(value) -> (right, text)``: ``text`` states the measurement and how the guess
    relates to it; it is the whole message.  No prediction, or one made after the
    measurement, is NOT YET: there was nothing to predict any more.
    """
    g = _guesses.get(name)
    if g is None:
        return hint(name, _("no prediction recorded: write one in the prediction cell above "
                            "and run it, then run the demo again"))
    if g.at > measured_at:
        return hint(name, _("your prediction was recorded after the demo had measured: "
                            "predict first, then re-run the demo and this cell"))
    right, text = judge(g.value)
    return passed(name, text) if right else hint(name, text)


def forget(name: str | None = None) -> None:
    """Drop one prediction (or all): a fresh start for a re-run."""
    if name is None:
        _guesses.clear()
    else:
        _guesses.pop(name, None)
