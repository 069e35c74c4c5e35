"""Shared fixtures: real servers on loopback, stopped after every test."""

from __future__ import annotations

import os
import pathlib
import shutil
import threading
import time

import pytest

import wslab

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("WSLAB_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
             if t.ident not in before and t.is_alive() and t.name != "wslab-lab-loop"
             and not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))]
    for t in extra:
        t.join(5)
    assert not [t for t in extra if t.is_alive()], f"threads left running: {extra}"


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
