"""`python -m wslab serve`: the standalone server (the classic `node server.js`)."""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import sys

import pytest
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as ws_connect

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


# --- the options: made from ServerOptions, mapped onto it, help in plain text -------------

def _parse(*argv: str):
    from wslab.cli.main import parser
    return parser().parse_args(["serve", *argv])


def test_every_server_option_is_an_option_or_said_not_to_be():
    from dataclasses import fields

    from wslab.cli.serve_options import GROUPS, HELP, NOT_ON_THE_COMMAND_LINE
    from wslab.net.server.options import ServerOptions

    names = {f.name for f in fields(ServerOptions)}
    assert set(HELP) | set(NOT_ON_THE_COMMAND_LINE) == names
    assert not set(HELP) & set(NOT_ON_THE_COMMAND_LINE)
    assert {group for group, _, _ in HELP.values()} <= set(GROUPS)


def test_the_options_users_reach_for_map_onto_server_options(monkeypatch):
    from wslab.cli.serve_options import AUTH_ENV, server_options
    from wslab.net.server.admission import TokenAuth
    from wslab.net.server.options import ServerOptions

    monkeypatch.delenv(AUTH_ENV, raising=False)
    args = _parse("--port", "0", "--compression", "--subprotocols", "b.v1, a.v1",
                  "--tls", "--auth", "s3cret", "--max-message-size", "100",
                  "--max-connections", "5", "--rate-limit", "20", "--send-buffer-max", "none",
                  "--max-per-address", "2", "--ping-interval", "2.5", "--ping-timeout", "1",
                  "--backplane", "redis://127.0.0.1:6379/0", "--origin", "http://a:1",
                  "--origin", "http://b:2,http://c:3", "--no-app-heartbeat",
                  "--handshake-timeout", "3", "--paths", "/,/chat")
    assert server_options(args) == ServerOptions(
        port=0, name="cli", compression=True, subprotocols=("b.v1", "a.v1"), tls=True,
        auth=TokenAuth("s3cret"), max_message_size=100, max_connections=5, rate_limit=20,
        send_buffer_max=None, max_per_address=2, ping_interval=2.5, ping_timeout=1.0,
        backplane="redis://127.0.0.1:6379/0",
        origins=("http://a:1", "http://b:2", "http://c:3"), app_heartbeat=False,
        handshake_timeout=3.0, paths=("/", "/chat"))
    # nothing given: serve()'s defaults, but on the terminal's known port
    assert server_options(_parse()) == ServerOptions(port=8080, name="cli")
    # the token from the environment (a command line is readable by every user in ps)
    monkeypatch.setenv(AUTH_ENV, "from-env")
    assert server_options(_parse()).auth == TokenAuth("from-env")
    assert server_options(_parse("--auth", "given")).auth == TokenAuth("given")


@pytest.mark.parametrize(("argv", "says"), [
    (["--ping-interval", "-1"], "--ping-interval is a number of seconds > 0"),
    (["--max-connections", "0"], "--max-connections is a positive integer"),
    (["--backplane", "http://x"], "--backplane is a Redis URL"),
    (["--port", "70000"], "--port is an integer 0-65535"),
    (["--handler", "mymod:fn"], "--handler runs in a server process: add --process"),
])
def test_a_bad_value_is_one_line_naming_the_option(capsys, argv, says):
    from wslab.cli.main import main

    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_a_value_of_the_wrong_type_is_refused_by_the_parser(capsys):
    from wslab.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["serve", "--max-message-size", "lots"])
    assert stop.value.code == 2
    assert "--max-message-size: invalid integer value: 'lots'" in capsys.readouterr().err


def test_help_is_plain_text():
    from wslab.cli.main import parser

    top = parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for text in [top.format_help(), *(p.format_help() for p in sub.choices.values())]:
        for markup in ("``", ":class:", ":func:", ":mod:", ":attr:", ":meth:", ".. "):
            assert markup not in text, (markup, text)
    serve_help = sub.choices["serve"].format_help()
    for option in ("--compression", "--subprotocols", "--tls", "--auth", "--max-message-size",
                   "--max-connections", "--rate-limit", "--ping-interval", "--ping-timeout",
                   "--process", "--backplane", "--no-app-heartbeat"):
        assert option in serve_help
    assert "(default: 8 MiB)" in serve_help and "(default: 8080)" in serve_help


# --- end to end: the options reach the wire ----------------------------------------------

def _banner(proc: subprocess.Popen, until: str) -> str:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, f"the server ended: {''.join(lines)}{proc.stderr.read()}"
        lines.append(line)
        if line.startswith(until):
            return "".join(lines)


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_subprotocol_compression_token_and_limit_on_the_wire():
    proc = _start("--port", "0", "--subprotocols", "b.v1", "--compression", "--auth", "s3cret",
                  "--max-message-size", "100", "--quiet")
    try:
        text = _banner(proc, "  subprotocols:")
        assert "auth:   a token is required" in text and "subprotocols: b.v1" in text
        echo = re.search(r"echo:\s+(ws://\S+)", text).group(1)
        from websockets.exceptions import InvalidStatus
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(echo, open_timeout=5)
        assert refused.value.response.status_code == 401
        with ws_connect(echo + "?token=s3cret", subprotocols=["a.v1", "b.v1"],
                        compression="deflate", open_timeout=5) as ws:
            assert ws.subprotocol == "b.v1"
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith(
                "permessage-deflate")
            ws.send("x" * 50)
            assert ws.recv(timeout=5) == "x" * 50
            ws.send("x" * 101)
            with pytest.raises(WsClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1009
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_tls_prints_the_ca_that_clients_trust():
    proc = _start("--port", "0", "--tls", "--quiet")
    try:
        text = _banner(proc, "  tls:")
        echo = re.search(r"echo:\s+(wss://\S+)", text).group(1)
        ca = re.search(r"trust the CA in (\S+)", text).group(1)
        context = ssl.create_default_context(cafile=ca)
        with ws_connect(echo, ssl=context, open_timeout=5) as ws:
            ws.send("secret")
            assert ws.recv(timeout=5) == "secret"
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_process_server_serves_prints_events_and_stops():
    proc = _start("--port", "0", "--process", "--ping-interval", "30")
    try:
        text = _banner(proc, "  process:")
        assert re.search(r"process: pid \d+", text)
        echo = re.search(r"echo:\s+(ws://\S+)", text).group(1)
        with ws_connect(echo, open_timeout=10) as ws:
            ws.send("from the child")
            assert ws.recv(timeout=5) == "from the child"
            # the child's events are fetched and printed (polled every 0.5 s)
            seen = ""
            while "from the child" not in seen:
                line = proc.stdout.readline()
                assert line, "the server ended"
                seen += line
            proc.send_signal(signal.SIGINT)
            with pytest.raises(WsClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 1001
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# --- outside the right environment ---------------------------------------------------------

def test_without_its_dependencies_the_command_says_how_to_run_it(tmp_path):
    """A Python lacking tornado (a stand-in package that fails as a missing one does)."""
    fake = tmp_path / "tornado"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tornado'\", name='tornado')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "wslab", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "lacks 'tornado', which wslab needs" in proc.stderr
    assert "-m wslab" in proc.stderr  # how to run it
    # a program importing wslab still gets the real error
    imported = subprocess.run([sys.executable, "-c", "import wslab"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 1 and "ModuleNotFoundError" in imported.stderr


def _conformance(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wslab", "conformance", *args],
                          capture_output=True, text=True, timeout=120)


def test_conformance_grades_a_server_by_url_and_says_so_in_its_exit_status():
    import wslab

    server = wslab.serve(name="cli-conformance")
    try:
        done = _conformance(server.url, "--case", "2", "--case", "7.1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "11 OK, 0 NON-STRICT, 0 FAILED of 11 cases" in done.stdout, done.stdout
    finally:
        server.stop()
    # nothing listening: every case fails, exit status 1, no traceback
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _conformance(f"ws://127.0.0.1:{port}/", "--case", "2.1", "--timeout", "0.5")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    done = _conformance("http://127.0.0.1:1/")
    assert done.returncode == 2 and "wslab conformance:" in done.stderr
    assert "Traceback" not in done.stderr
