"""Predict, then observe (notebooks 00, 01, 03, 04): a guess is recorded before the demo and
compared with what the live demo measured.  The notebooks' stub (None) neither raises nor
reveals the answer; a guess recorded after the measurement is refused."""

from __future__ import annotations

import time

import pytest

import wslab
from tests.test_exercises_00_04 import fails, ok
from wslab.exercises import _predict, ex00, ex01, ex03, ex04
from wslab.labs.push_compare import PushResult


@pytest.fixture(autouse=True)
def _fresh_predictions():
    _predict.forget()
    yield
    _predict.forget()


def _stub_reveals_nothing(record, compare, secrets):
    """Run All with the stub: the prediction cell says 'write it first', the comparison says
    'no prediction', and neither message holds the answer."""
    first = record()
    fails(first, "write your prediction first")
    second = compare()
    fails(second, "no prediction")
    for text in (first.message, second.message):
        assert not any(s in text for s in secrets), text


# -- 00: the delay of short polling ----------------------------------------------------------

def _push(p50_ms: float) -> list[PushResult]:
    lat = [p50_ms / 1e3 * f for f in (0.2, 0.6, 1.0, 1.4, 1.8)]
    return [PushResult("short polling", 5, 5, 2, 300, 900, 0, latencies_s=lat),
            PushResult("WebSocket", 5, 5, 1, 200, 50, 0, latencies_s=[0.001] * 5)]


def _polling(guess, p50=140.0):
    assert ok(ex00.predict_polling_delay(guess)) or guess is None
    return ex00.compare_polling_delay(_push(p50), measured_at=time.monotonic(),
                                      poll_interval=0.25)


def test_ex00_polling_delay_right_and_wrong_guesses():
    r = _polling(125)
    assert ok(r) and "measured median delay: 140 ms" in r.message and "56% of" in r.message
    fails(_polling(250), "140 ms", "250 ms is the longest wait")
    fails(_polling(0.13), "140 ms", "looks like seconds")
    fails(_polling(25), "140 ms", "waited more than you thought", "between 0 and 250 ms")
    fails(_polling(1000), "waited less than you thought")


def test_ex00_polling_delay_stub_and_late_guess():
    def compare():
        return ex00.compare_polling_delay(_push(140), measured_at=time.monotonic(),
                                          poll_interval=0.25)

    _stub_reveals_nothing(lambda: ex00.predict_polling_delay(None), compare, ["140", "125"])
    measured = time.monotonic()
    ex00.predict_polling_delay(125)
    fails(ex00.compare_polling_delay(_push(140), measured_at=measured, poll_interval=0.25),
          "after the demo")
    fails(ex00.predict_polling_delay("125"), "not a prediction", "number of ms")
    fails(ex00.compare_polling_delay([], measured_at=time.monotonic(), poll_interval=0.25),
          "no short-polling delay was measured")


# -- 01: what the live server answers to broken requests -------------------------------------

def _refusals(server):
    return [wslab.handshake_by_hand(server.url, variant=v) for v in ex01.VARIANTS]


def test_ex01_refusals_compared_with_the_live_server(server):
    assert ok(ex01.predict_refusals({"wrong_version": 426, "missing_key": 400,
                                     "bad_origin": 403}))
    measured_at = time.monotonic()
    r = ex01.compare_refusals(_refusals(server), measured_at=measured_at)
    assert ok(r) and "426 Upgrade Required" in r.message and "4.4" in r.message
    ex01.predict_refusals({"wrong_version": 400, "missing_key": 400, "bad_origin": 101})
    r = ex01.compare_refusals(_refusals(server), measured_at=time.monotonic())
    fails(r, "wrong_version: the server answered HTTP/1.1 426", "400 is a fair guess",
          "missing_key: the server answered HTTP/1.1 400", "bad_origin", "101 would open")


def test_ex01_refusals_stub_bad_input_and_late_guess(server):
    transcripts = _refusals(server)
    _predict.forget()
    stub = {v: None for v in ex01.VARIANTS}
    first = ex01.predict_refusals(stub)
    fails(first, "write your prediction first", "wrong_version, missing_key, bad_origin")
    second = ex01.compare_refusals(transcripts, measured_at=time.monotonic())
    fails(second, "no prediction")
    assert not any(c in first.message + second.message for c in ("426", "403"))
    fails(ex01.predict_refusals({"wrong_version": 426}), "keep the dict")
    fails(ex01.predict_refusals({"wrong_version": 426, "missing_key": 4000,
                                 "bad_origin": True}), "missing_key, bad_origin")
    measured = time.monotonic()
    ex01.predict_refusals({"wrong_version": 426, "missing_key": 400, "bad_origin": 403})
    fails(ex01.compare_refusals(transcripts, measured_at=measured), "after the demo")
    fails(ex01.compare_refusals(None, measured_at=time.monotonic()), "run the demo cell")


# -- 03: the round trip ----------------------------------------------------------------------

SKEWED = [0.0001] * 9 + [0.004]   # median 0.1 ms, mean 0.49 ms: one slow outlier


def _rtt(median, mean, samples=SKEWED):
    ex03.predict_rtt(median, mean)
    return ex03.compare_rtt(samples, measured_at=time.monotonic())


def test_ex03_round_trip_guesses():
    r = _rtt(0.2, "above")
    assert ok(r) and "measured median 0.100 ms" in r.message and "pull the mean up" in r.message
    fails(_rtt(10, "above"), "100 times the real value", "loopback")
    fails(_rtt(0.01, "above"), "1/10 of the real value")
    fails(_rtt(0.1, "below"), "the mean, 0.490 ms, is above the median", "you predicted below")
    assert ok(_rtt(0.1, "Below", samples=[0.0001, 0.0002, 0.0002]))  # as measured, this time


def test_ex03_round_trip_live_measurement(server):
    ex03.predict_rtt(0.5, "above")
    measured_at = time.monotonic()
    client = wslab.connect(server.url)
    samples = client.measure_rtt(n=50, size=32)
    client.close()
    r = ex03.compare_rtt(samples, measured_at=measured_at)
    assert "measured median" in r.message and "the mean" in r.message


def test_ex03_round_trip_stub_bad_input_and_late_guess():
    _stub_reveals_nothing(lambda: ex03.predict_rtt(None, None),
                          lambda: ex03.compare_rtt(SKEWED, measured_at=time.monotonic()),
                          ["0.100", "0.490", "pull"])
    fails(ex03.predict_rtt(0.2, "sideways"), "mean_guess: 'above' or 'below'")
    fails(ex03.predict_rtt(-1, "above"), "median_guess: a number of milliseconds")
    fails(ex03.predict_rtt(float("nan"), "above"), "median_guess")
    measured = time.monotonic()
    ex03.predict_rtt(0.1, "above")
    fails(ex03.compare_rtt(SKEWED, measured_at=measured), "after the demo")
    fails(ex03.compare_rtt([], measured_at=time.monotonic()), "no round trips")


# -- 04: the code after a dropped connection -------------------------------------------------

def _dropped(server):
    client = wslab.connect(server.url)
    server.drop_client(server.clients[-1].id)
    try:
        client.recv(timeout=5)
    except wslab.ConnectionClosed:
        pass
    return client


def test_ex04_drop_compared_with_the_live_client(server):
    ex04.predict_drop(1006)
    measured_at = time.monotonic()
    client = _dropped(server)
    r = ex04.compare_drop(client, measured_at=measured_at)
    assert ok(r) and "reported 1006" in r.message and "7.1.5" in r.message
    for guess, words in ((1005, ["*without* a code", "no Close frame arrived"]),
                         (1000, ["nobody sent one"]), (1001, ["nobody sent one"]),
                         (1011, ["without any Close frame"]), (4000, ["close codes table"])):
        ex04.predict_drop(guess)
        fails(ex04.compare_drop(client, measured_at=time.monotonic()), "reported 1006",
              f"you predicted {guess}", *words)


def test_ex04_drop_stub_bad_input_and_late_guess(server):
    client = _dropped(server)
    _stub_reveals_nothing(lambda: ex04.predict_drop(None),
                          lambda: ex04.compare_drop(client, measured_at=time.monotonic()),
                          ["1006"])
    for bad in (True, "1006", 10_000, 2.5):
        fails(ex04.predict_drop(bad), "not a close code")
    measured = time.monotonic()
    ex04.predict_drop(1006)
    fails(ex04.compare_drop(client, measured_at=measured), "after the demo")
    fails(ex04.compare_drop(None, measured_at=time.monotonic()), "run the drop cell")
