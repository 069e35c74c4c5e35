"""Predict-then-observe questions: a guess is kept before the demo and compared after it."""

from __future__ import annotations

import time

from wslab.exercises import _predict as predict


def _judge(value):
    return value == "above", f"measured: mean above median; you said {value}"


def test_a_guess_before_the_measurement_is_compared():
    predict.forget()
    assert predict.record("Q", "Above ", choices=("above", "below")).ok
    r = predict.compare("Q", measured_at=time.monotonic(), judge=_judge)
    assert r.ok and "you said above" in r.message


def test_a_wrong_guess_is_not_yet_with_the_measurement():
    predict.forget()
    predict.record("Q", "below", choices=("above", "below"))
    r = predict.compare("Q", measured_at=time.monotonic(), judge=_judge)
    assert not r.ok and "measured: mean above median" in r.message


def test_no_guess_or_a_late_guess_is_refused():
    predict.forget()
    assert not predict.compare("Q", measured_at=time.monotonic(), judge=_judge).ok
    measured = time.monotonic()
    predict.record("Q", "above", choices=("above", "below"))
    r = predict.compare("Q", measured_at=measured - 1.0, judge=_judge)
    assert not r.ok and "after the demo" in r.message


def test_malformed_guesses_keep_nothing():
    predict.forget()
    for bad in (None, "sideways", 3, True):
        assert not predict.record("Q", bad, choices=("above", "below")).ok
        assert predict.guess("Q") is None
    for bad in ("3", float("nan"), True, None):
        assert not predict.record("N", bad, unit="ms").ok
        assert predict.guess("N") is None
    assert predict.record("N", 2, unit="ms").ok and predict.guess("N").value == 2.0
