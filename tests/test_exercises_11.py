"""Exercise checks of notebook 11: model solutions pass, stubs and typical mistakes get hints."""

from __future__ import annotations

from wslab.exercises import _solutions as sol
from wslab.exercises import ex11
from wslab.labs.scaling import LatencyRecord


def _stub(*args):
    raise NotImplementedError


def _passes(r) -> None:
    assert r.ok, str(r)
    assert "PASS" in str(r) and "data-ok='true'" in r._repr_html_()


def _fails(r, *words: str) -> None:
    assert not r.ok, str(r)
    for w in words:
        assert w in r.message, (w, r.message)


def test_solutions_are_listed_and_shown():
    assert sol.names("ex11") == ["deliver_once", "ping_interval"]
    assert "def deliver_once" in str(ex11.solution("deliver_once"))


def test_deliver_once():
    _passes(ex11.check_deliver_once(sol.get("ex11", "deliver_once")))
    _fails(ex11.check_deliver_once(_stub), "not written yet")

    def everything(last_seen, incoming):
        return [d for _, d in incoming], max([last_seen] + [s for s, _ in incoming])

    _fails(ex11.check_deliver_once(everything), "a replay", "delivered already")

    def skips_gaps(last_seen, incoming):
        out = []
        for s, d in incoming:
            if s > last_seen:
                out.append(d)
                last_seen = s
        return out, last_seen

    _fails(ex11.check_deliver_once(skips_gaps), "a gap")
    _fails(ex11.check_deliver_once(lambda a, b: []), "pair")
    _fails(ex11.check_deliver_once(lambda a: a), "should take 2")


def test_ping_interval():
    _passes(ex11.check_ping_interval(sol.get("ex11", "ping_interval")))
    _fails(ex11.check_ping_interval(_stub), "not written yet")
    _fails(ex11.check_ping_interval(lambda ts: max(ts) / 2), "shortest idle timeout")
    _fails(ex11.check_ping_interval(lambda ts: min(ts) * 0.9), "half the shortest")
    _fails(ex11.check_ping_interval(lambda ts: 0.01), "wasteful")
    _fails(ex11.check_ping_interval(lambda ts: "30"), "number of seconds")


def test_redis_hop_is_a_prediction_compared_with_the_measured_record():
    from wslab.exercises import _predict
    _predict.forget()
    assert ex11.predict_redis_hop("more").ok
    rec = LatencyRecord("2 processes", 2, 4, 1, [1, 2, 5, 6], [1.0, 2.0], [5.0, 6.0])
    _passes(ex11.compare_redis_hop([rec]))
    assert ex11.predict_redis_hop("less").ok
    rec = LatencyRecord("2 processes", 2, 4, 1, [1, 2, 5, 6], [1.0, 2.0], [5.0, 6.0])
    _fails(ex11.compare_redis_hop([rec]), "you predicted less", "4.00 ms later")
    _fails(ex11.compare_redis_hop([]), "run the broadcast_latency cell")
    _fails(ex11.predict_redis_hop(4.0), "write one of")
