"""`python -m wslab serve`: the standalone server (the classic `node server.js`)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as ws_connect


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wslab", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_prints_urls_serves_and_stops_on_ctrl_c():
    proc = _start("--port", "0")
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        text = "".join(lines)
        assert "Ctrl-C" in text
        echo = re.search(r"echo:\s+(ws://127\.0\.0\.1:\d+/echo)", text).group(1)
        assert re.search(r"page:\s+http://127\.0\.0\.1:\d+/", text)
        with ws_connect(echo, open_timeout=5) as ws:
            ws.send("from a terminal")
            assert ws.recv(timeout=5) == "from a terminal"
            lines = [proc.stdout.readline() for _ in range(3)]
            assert "message" in "".join(lines)
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            with pytest.raises(WsClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1001  # going away
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_port_in_use_is_a_clear_error():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        proc = _start("--port", str(blocker.getsockname()[1]))
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 2
        assert "already in use" in err and "Traceback" not in err
    finally:
        blocker.close()
