"""Shared fixtures: real servers on loopback, stopped after every test."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import sys
import threading
import time

import pytest

import wslab

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("WSLAB_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# The `slow` marker: what `make check` (the developer's loop, `-m "not slow"`) leaves out and
# `make test` and CI (`-m slow` after it) run.  One place decides: whole modules here, single
# tests below, and every `browser` test.  tests/test_repo_contract.py checks every name.
SLOW_MODULES = {
    "test_notebooks.py": "runs every notebook in a kernel (nbclient)",
    "test_bench.py": "the peers benchmark and its command line",
    "test_cluster.py": "nginx, redis-server and process servers per test; a soak",
    "test_protocol_fuzz.py": "hypothesis fuzzing: 4-17 s per test on a loaded machine",
    "test_children_kernel.py": "a real kernel started, given children, then killed (~14 s each)",
    "test_screen_lab.py": "every view in a real JupyterLab, side bar open and closed",
    "test_packaging.py": "builds the wheel and installs it into a fresh venv (~2 min)",
    "test_hop_jupyter.py": "a Jupyter server with wslab's hop and a kernel (~10 s)",
}
SLOW_TESTS = {  # measured over 11 s with --durations (2 cores, shared with other jobs)
    "test_reconnect.py::test_soak_10000_messages_through_random_resets": "a soak",
    "test_protocol_differential.py::test_wslab_encodes_wsproto_decodes": "15 s",
    "test_protocol_differential.py::test_wsproto_encodes_wslab_decodes": "14 s",
    "test_exercises_05_10.py::test_ex05_heartbeat_loop": "13 s",
    "test_traces.py::test_notebook_with_model_solutions_and_no_tshark_passes_every_check":
        "notebook 04a in a kernel, 23 s",
    "test_traces.py::test_notebook_without_permission_to_capture_runs_and_says_why":
        "notebook 04a, 24 s",
    "test_exercises_02a.py::test_notebook_with_model_solutions":
        "runs notebook 02a in a kernel with the model solutions loaded (~30 s)",
}


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.name
        short = f"{module}::{item.name.split('[')[0]}"
        if (module in SLOW_MODULES or short in SLOW_TESTS
                or item.get_closest_marker("browser") is not None):
            item.add_marker(pytest.mark.slow)


def need(condition: bool, what: str) -> None:
    """Skip when a peer/browser is missing, but FAIL under CI=true (CI must run everything)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing, and CI=true requires it (.ci/run installs it)")
    pytest.skip(f"{what} is missing")


@pytest.fixture
def chromium_path() -> str:
    need(os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK), f"Chromium at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture
def server():
    srv = wslab.serve(name="pytest")
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _no_leaks():
    """Every test stops what it starts: no server, client or stray thread survives it."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leftover = wslab.stop_all()
    assert leftover == 0, f"the test left {leftover} wslab resource(s) running"
    extra = [t for t in threading.enumerate()
             if t.ident not in before and t.is_alive()
             and t.name not in ("wslab-lab-loop", "wslab-spawn")  # both live as long as we do
             and not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))]
    for t in extra:
        t.join(5)
    assert not [t for t in extra if t.is_alive()], f"threads left running: {extra}"


class _LoopErrors(logging.Handler):
    """Collects what the lab loop would print: error log records of asyncio, Tornado and
    wslab, uncaught thread exceptions, and any write to stderr from the lab-loop thread."""

    LOGGERS = ("asyncio", "tornado", "wslab")

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {exc})"
        self.seen.append(f"{record.name} [{record.threadName}]: {text}")


class _StderrTee:
    """sys.stderr stand-in: passes everything through, remembers what the lab loop wrote."""

    def __init__(self, inner, errors: _LoopErrors) -> None:
        self._inner, self._errors = inner, errors

    def write(self, text: str) -> int:
        if text.strip() and threading.current_thread().name == "wslab-lab-loop":
            self._errors.seen.append(f"stderr from the lab loop: {text.strip()[:300]}")
        return self._inner.write(text)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@pytest.fixture(autouse=True)
def _lab_loop_prints_no_exception(request):
    """A traceback on stderr is a defect even when the assertion passed: fail the test.

    A test that provokes such output on purpose says so with
    ``@pytest.mark.loop_errors_expected``.
    """
    errors = _LoopErrors()
    loggers = [logging.getLogger(n) for n in _LoopErrors.LOGGERS]
    for lg in loggers:
        lg.addHandler(errors)
    old_hook, old_stderr = threading.excepthook, sys.stderr

    def hook(args):
        errors.seen.append(f"uncaught in thread {args.thread.name if args.thread else '?'}: "
                           f"{args.exc_type.__name__}: {args.exc_value}")
        old_hook(args)

    threading.excepthook = hook
    sys.stderr = _StderrTee(old_stderr, errors)
    try:
        yield
    finally:
        sys.stderr = old_stderr
        threading.excepthook = old_hook
        for lg in loggers:
            lg.removeHandler(errors)
    if errors.seen and request.node.get_closest_marker("loop_errors_expected") is None:
        pytest.fail("the lab loop printed an exception during this test:\n  "
                    + "\n  ".join(errors.seen[:10]), pytrace=False)


def wait_until(pred, timeout: float = 10.0, *, what: str = "condition") -> None:
    """Poll ``pred`` until true, for state no event announces; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.005)


def artifact_dir() -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def have_program(name: str, package: str) -> bool:
    """Is Debian's ``name`` (from ``package``) installed, as wslab.net.services finds it?"""
    from wslab.net import services
    try:
        services.find_program(name, package=package)
        return True
    except services.ServiceMissing:
        return False


def which(cmd: str) -> str | None:
    return shutil.which(cmd)


@pytest.fixture
def websockets_server():
    """An independent peer: the `websockets` library's echo server in a thread."""
    from websockets.exceptions import ConnectionClosed as WsClosed
    from websockets.sync.server import serve as ws_serve

    def echo(ws):
        try:
            for message in ws:
                ws.send(message)
        except WsClosed:
            pass

    srv = ws_serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, name="websockets-server")
    thread.start()
    yield f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def redis_server():
    """A real redis-server child on a free loopback port (Debian's redis-server)."""
    from wslab.net import services

    need(have_program("redis-server", "redis-server"), "redis-server (Debian package redis-server)")
    r = services.redis()
    yield r
    r.stop()


@pytest.fixture
def pair(redis_server):
    """Server A in this process, server B in a child process, one Redis between them."""
    a = wslab.serve(name="pair-a", backplane=redis_server.url)
    b = wslab.serve(name="pair-b", process=True, backplane=redis_server.url)
    yield a, b
    b.stop()
    a.stop()


@pytest.fixture(scope="session")
def installed_wslab(tmp_path_factory):
    """wslab's wheel installed into a fresh venv outside the checkout (tests/wheelenv.py),
    one per test run, shared by every pytest-xdist worker (tests/test_packaging.py and the
    JupyterHub tests use it); the run's end removes it (pytest_sessionfinish)."""
    from tests.wheelenv import Installed

    env = Installed.shared(_run_folder(tmp_path_factory.getbasetemp()))
    (artifact_dir() / "packaging-seconds.json").write_text(
        json.dumps({k: round(v, 1) for k, v in env.seconds.items()}, indent=1))
    return env


def _run_folder(basetemp: pathlib.Path) -> pathlib.Path:
    """The temporary folder of the whole run: a worker's basetemp sits inside it."""
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller (or a run without workers) removes the shared install
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None and factory._basetemp is not None:
        shutil.rmtree(factory._basetemp / "installed", ignore_errors=True)


def backplane_events(server: object, what: str) -> list:
    """The server's ``backplane`` events whose reason is ``what``."""
    return [e for e in server.events if e.kind == "backplane" and e.reason == what]  # type: ignore[attr-defined]
