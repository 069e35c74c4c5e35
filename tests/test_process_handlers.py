"""serve(process=True) as a full equal of serve(): tls, auth, and handlers defined right here
(as in a notebook) shipped to the child process with cloudpickle; clear errors otherwise."""

from __future__ import annotations

import sys
import threading
import types

import pytest

import wslab
from tests.conftest import wait_until
from wslab.net.errors import HandlerNotSendable

SUFFIX = "!"  # a global the handler uses: copied to the child with it


def test_on_message_ships_a_function_defined_here():
    server = wslab.serve(name="ph-decorator", process=True)
    try:
        seen = ["first"]  # a closure variable: copied when the function is sent

        @server.on_message
        def shout(conn, message):
            conn.send(message.upper() + SUFFIX + seen[0])

        assert shout.__name__ == "shout"  # the decorator returns the function itself
        with wslab.connect(server.url) as c:
            c.send("hi")
            assert c.recv() == "HI!first"
            server.on_message(None)  # back to the default echo
            c.send("again")
            assert c.recv() == "again"
    finally:
        server.stop()


def test_serve_handler_function_async_and_print_goes_to_stderr():
    async def reply(conn, message):
        print('{"result": "not a reply to the parent"}')  # must not confuse the JSON channel
        conn.send(f"async {message}")

    server = wslab.serve(name="ph-handler", process=True, handler=reply)
    try:
        with wslab.connect(server.url) as c:
            c.send("x")
            assert c.recv() == "async x"
        assert len(server.clients) in (0, 1)  # the channel still answers
        wait_until(lambda: any("not a reply" in line for line in server.stderr_tail),
                   timeout=10, what="the handler's print in the child's stderr")
    finally:
        server.stop()


def test_a_function_that_cannot_be_sent_is_a_clear_error():
    lock = threading.Lock()

    def guarded(conn, message):
        with lock:
            conn.send(message)

    server = wslab.serve(name="ph-bad", process=True)
    try:
        with pytest.raises(HandlerNotSendable, match="guarded.*cannot be sent.*lock") as info:
            server.on_message(guarded)
        assert isinstance(info.value, TypeError) and isinstance(info.value, wslab.WSLabError)
        with pytest.raises(ValueError, match="handler is a function"):
            server.on_message("no colon here")
        with wslab.connect(server.url) as c:  # the server is unharmed, still the echo
            c.send("still echo")
            assert c.recv() == "still echo"
    finally:
        server.stop()
    with pytest.raises(HandlerNotSendable):  # at serve() time: no child is left behind
        wslab.serve(name="ph-bad2", process=True, handler=guarded)
    assert "ph-bad2" not in wslab.servers()


def test_a_function_the_child_cannot_load_is_a_clear_error(monkeypatch):
    mod = types.ModuleType("wslab_only_in_this_process")
    exec("def handler(conn, message):\n    conn.send(message)\n", mod.__dict__)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)  # pickled by reference: no import there
    server = wslab.serve(name="ph-unloadable", process=True)
    try:
        with pytest.raises(HandlerNotSendable, match="could not load.*wslab_only_in_this_process"):
            server.on_message(mod.handler)
    finally:
        server.stop()


def test_tls_and_auth_in_a_process_server():
    server = wslab.serve(name="ph-tls", process=True, tls=True, auth="s3cret",
                         handler=lambda conn, message: conn.send(f"secure {message}"))
    try:
        assert server.url.startswith("wss://") and server.ca_file and server.tls
        with wslab.connect(server.url + "?token=s3cret", ca_file=server.ca_file) as c:
            c.send("hello")
            assert c.recv() == "secure hello"
        with pytest.raises(wslab.ConnectionFailed) as info:
            wslab.connect(server.url, ca_file=server.ca_file)
        assert info.value.status == 401
        with pytest.raises(wslab.ConnectionFailed) as info:
            wslab.connect(server.url, ca_file=server.ca_file,
                          headers={"Authorization": "Bearer wrong"})
        assert info.value.status == 403
        assert [e.code for e in server.events.of("reject")] == [401, 403]
    finally:
        server.stop()
