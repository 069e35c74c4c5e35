"""serve(process=True): the same API with the server in a child process; the GIL experiment."""

from __future__ import annotations

import os

import pytest

import wslab
from tests.conftest import wait_until
from wslab.labs.gil import gil_experiment, one_cpu, responsive
from wslab.net.loop import lab_thread_id


def test_process_server_has_the_lab_server_api():
    server = wslab.serve(name="child", process=True)
    pid = server.pid
    try:
        assert pid != os.getpid()
        with wslab.connect(server.url) as a, wslab.connect(server.url) as b:
            a.send("hi")
            assert a.recv() == "hi"
            # b's 101 can arrive before the child has run b's open(): wait for the child
            wait_until(lambda: len(server.clients) == 2, what="the child counts both")
            assert server.broadcast(b"\x01") == 2
            assert a.recv() == b"\x01" and b.recv() == b"\x01"
            ids = [c.id for c in server.clients]
            server.send(ids[1], "just b")
            assert b.recv() == "just b"
            server.close_client(ids[0], 4000, "bye")
            with pytest.raises(wslab.ConnectionClosed):
                a.recv(timeout=5)
            assert a.close_code == 4000
        kinds = [e.kind for e in server.events]
        assert "open" in kinds and "message" in kinds and "close" in kinds
        assert any(e.data == b"\x01" for e in server.events.of("message"))
        with pytest.raises(ValueError, match="handler is a function"):
            server.on_message(42)  # functions cross to the child (tests/test_process_handlers.py)
        with pytest.raises(ValueError, match="unknown id|no connected client"):
            server.send(999, "x")
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(OSError):
        os.kill(pid, 0)  # the child is gone
    server.stop()  # twice is fine


def test_process_server_with_an_importable_handler():
    server = wslab.serve(name="child-handler", process=True, handler="tests.handlers:shout")
    try:
        with wslab.connect(server.url) as c:
            c.send("quiet")
            assert c.recv() == "QUIET"
    finally:
        server.stop()
    with pytest.raises(ValueError, match="process=True"):
        wslab.serve(name="nope", handler="tests.handlers:shout")


def test_gil_experiment_and_responsive():
    cpus = os.sched_getaffinity(0), os.sched_getaffinity(lab_thread_id())
    records = gil_experiment(n=30, seconds=0.5)
    assert [r.busy for r in records] == [False, True, True, False, True]
    assert all(len(r.samples_s) == 30 and r.p50_ms > 0 for r in records)
    # the kernel's threads were on one CPU for every measurement (Linux), and are free again
    assert {r.cpu for r in records} == {min(cpus[0])}
    assert (os.sched_getaffinity(0), os.sched_getaffinity(lab_thread_id())) == cpus
    before = responsive(True, interval=0.001)
    try:
        import sys
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        import sys
        sys.setswitchinterval(before)
    with pytest.raises(ValueError, match="interval"):
        responsive(True, interval=1)


def test_one_cpu_places_this_thread_and_the_lab_loop_and_restores_them():
    before = os.sched_getaffinity(0)
    loop_before = os.sched_getaffinity(lab_thread_id())
    with one_cpu() as cpu:
        assert cpu == min(before)
        assert os.sched_getaffinity(0) == {cpu}
        assert os.sched_getaffinity(lab_thread_id()) == {cpu}
    assert os.sched_getaffinity(0) == before
    assert os.sched_getaffinity(lab_thread_id()) == loop_before


def test_serve_can_keep_the_interpreter_responsive_and_stop_all_restores():
    import sys
    before = sys.getswitchinterval()
    server = wslab.serve(name="responsive", responsive=True)
    try:
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        server.stop()
        wslab.stop_all()
    assert sys.getswitchinterval() == pytest.approx(before)
    plain = wslab.serve(name="plain")  # outside a kernel: left alone by default
    try:
        assert sys.getswitchinterval() == pytest.approx(before)
    finally:
        plain.stop()
