"""wslab.net.children: one way to spawn, read, drain and stop a child process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from wslab.net.children import ChildExited, ChildTimeout, spawn

PY = sys.executable


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


def test_a_child_that_prints_a_line():
    child = spawn([PY, "-c", "import sys; print('ready', flush=True); sys.stdin.readline()"],
                  what="the test child")
    try:
        assert child.readline(10) == "ready"
        assert child.running
    finally:
        code = child.stop(5)
    assert code == 0  # closing stdin was enough: it read EOF and exited
    assert not child.running


def test_a_child_that_never_prints_times_out_and_is_stopped():
    child = spawn([PY, "-c", "import time; time.sleep(60)"], what="the silent child")
    t0 = time.monotonic()
    with pytest.raises(ChildTimeout, match="the silent child printed no line within 0.3 s"):
        child.readline(0.3)
    assert 0.25 < time.monotonic() - t0 < 5
    child.stop(2)
    assert _wait_gone(child.pid, 5)


def test_output_that_ends_raises_child_exited_with_its_stderr():
    child = spawn([PY, "-c", "import sys; sys.stderr.write('no config here\\n'); sys.exit(3)"],
                  what="the failing child")
    with pytest.raises(ChildExited, match=r"(?s)exit status 3.*no config here"):
        child.readline(10)
    with pytest.raises(ChildExited):  # and again, without waiting
        child.readline(10)
    assert child.stop(2) == 3


def test_once_the_child_has_exited_its_whole_stderr_is_in_the_tail():
    """The exit is seen (wait) before the draining thread may have read the last bytes;
    the tail waits for it (each run: 64 KiB written just before exiting)."""
    script = "import sys; sys.stderr.write('x' * 65000 + '\\nInvalid frame\\n'); sys.exit(1)"
    for _ in range(5):
        child = spawn([PY, "-c", script], what="the crashing child")
        try:
            assert child.wait(10) == 1
            assert child.tail_lines(1) == ["Invalid frame"]
        finally:
            child.stop(2)


def test_a_grandchild_holding_the_pipes_neither_delays_the_tail_nor_outlives_stop():
    child = spawn([PY, "-c", "import subprocess, sys; "
                             "p = subprocess.Popen(['sleep', '30']); "
                             "print(p.pid, flush=True); sys.stderr.write('parent done\\n')"],
                  what="the parent child")
    try:
        grandchild = int(child.readline(10))
        child.wait(10)
        t0 = time.monotonic()
        assert "parent done" in child.stderr_tail
        assert time.monotonic() - t0 < 3  # one bounded join, not until the grandchild ends
        assert not _gone(grandchild)
    finally:
        t0 = time.monotonic()
        child.stop(2)
        stopped_in = time.monotonic() - t0
    assert stopped_in < 6, f"stop(2) took {stopped_in:.1f} s"  # was 30 s: the sleep's end
    assert _wait_gone(grandchild, 5), "the grandchild outlived stop()"


def test_a_child_flooding_stderr_does_not_block_and_the_tail_is_bounded():
    # 4 MiB on stderr, far beyond a pipe's 64 KiB, then a line on stdout
    code = ("import sys\n"
            "for i in range(4096): sys.stderr.write(f'{i:07d}' + 'x' * 1016 + '\\n')\n"
            "sys.stderr.flush(); print('done', flush=True)")
    child = spawn([PY, "-c", code], what="the noisy child", tail_bytes=8192)
    try:
        assert child.readline(30) == "done"
        assert child.wait(10) == 0
    finally:
        child.stop(2)
    tail = child.stderr_tail
    assert len(tail.encode()) <= 8192
    assert tail.endswith("x\n") and "0004095" in tail  # the newest bytes are kept


def test_stop_escalates_to_sigterm_then_sigkill():
    ignores_term = textwrap.dedent("""
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        sys.stdin.close()   # closing its stdin does not end it either
        time.sleep(60)
    """)
    child = spawn([PY, "-c", ignores_term], what="the stubborn child")
    assert child.readline(10) == "ready"
    t0 = time.monotonic()
    code = child.stop(0.3)
    assert code == -signal.SIGKILL
    assert time.monotonic() - t0 < 5
    assert _wait_gone(child.pid, 1)

    polite = spawn([PY, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
                   what="the sleeping child")
    assert polite.readline(10) == "ready"
    assert polite.stop(0.3) == -signal.SIGTERM  # stdin closed: ignored; SIGTERM: gone


def test_kill_and_merged_output():
    child = spawn([PY, "-c", "import sys, time; print('out'); print('err', file=sys.stderr,"
                   " flush=True); sys.stdout.flush(); time.sleep(60)"],
                  what="the merged child", merge_stderr=True, stdin=False)
    deadline = time.monotonic() + 10
    while "err" not in child.stderr_tail or "out" not in child.stderr_tail:
        assert time.monotonic() < deadline, child.stderr_tail
        time.sleep(0.02)
    with pytest.raises(ChildExited):  # nothing comes on stdout: it is all the log
        child.readline(1)
    assert child.kill() == -signal.SIGKILL


def test_bad_arguments():
    with pytest.raises(ValueError, match="argv"):
        spawn([], what="nothing")
    with pytest.raises(ValueError, match="tail_bytes"):
        spawn([PY, "-c", "pass"], what="x", tail_bytes=0)
    with pytest.raises(OSError, match="cannot start the missing program"):
        spawn(["/nonexistent/wslab-program"], what="the missing program")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_when_its_parent_is_sigkilled():
    # the parent spawns from a short-lived thread (as cluster() does): the child must
    # outlive that thread, and die with the parent's process
    parent_code = textwrap.dedent(f"""
        import sys, threading, time
        from wslab.net.children import spawn
        box = []
        t = threading.Thread(target=lambda: box.append(spawn(
            [{PY!r}, "-c", "import time; time.sleep(60)"], what="grandchild")))
        t.start(); t.join()
        time.sleep(0.3)
        print(box[0].pid, box[0].running, flush=True)
        time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([PY, "-c", parent_code], stdout=subprocess.PIPE, text=True,
                              env=env)
    child_pid = None
    try:
        assert select.select([parent.stdout], [], [], 30)[0], "the parent printed nothing"
        line = parent.stdout.readline().split()
        assert line[1] == "True", line  # alive after the spawning thread ended
        child_pid = int(line[0])
        assert not _gone(child_pid)
        parent.kill()
        parent.wait(5)
        assert _wait_gone(child_pid, 5), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        parent.stdout.close()
        if child_pid is not None and not _gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)
