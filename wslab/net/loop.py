"""The lab loop: one daemon thread with its own asyncio loop (layer 2, I/O).

A Jupyter kernel already runs an asyncio loop, and a cell that blocks freezes
it.  So every wslab server, client, tap and proxy lives on ONE separate loop in
a daemon thread.  Cells reach it through :func:`run`, a synchronous call that
waits with a timeout; async code can ``await`` :func:`run_async` instead.

Functions called *from* the lab loop (a learner's ``on_message`` handler, a
widget callback scheduled there) must not block on the loop they run on:
:func:`in_lab_thread` tells the facade to schedule instead of wait.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import sys as _sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import LabTimeout

T = TypeVar("T")

# Tornado logs e.g. "SSL Error on 7 ..." when a client rejects a certificate; without
# a handler those lines reach stderr (red in a notebook) through logging.lastResort.
# wslab reports such failures itself (ConnectionFailed, events); configure logging to
# see Tornado's own lines: they still propagate to the root logger's handlers.
logging.getLogger("tornado").addHandler(logging.NullHandler())


class _DropTlsRefusals(logging.Filter):
    """A client refusing our certificate is a lesson (notebook 09), not a server fault:
    wslab reports it as ConnectionFailed, so Tornado's "SSL Error on ..." line is dropped
    even where a kernel's root logger would print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SSL Error on")


logging.getLogger("tornado.general").addFilter(_DropTlsRefusals())

DEFAULT_TIMEOUT = 10.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
# Everything started on the lab loop registers here so stop_all() can stop it.
_resources: set[Any] = set()


def _thread_main(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    ready.set()
    try:
        loop.run_forever()
    finally:
        loop.close()


def get_loop() -> asyncio.AbstractEventLoop:
    """Return the lab loop, starting its thread on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=_thread_main, args=(loop, ready),
                                      name="wslab-lab-loop", daemon=True)
            thread.start()
            if not ready.wait(5):
                raise LabTimeout("the wslab lab loop thread did not start within 5 s")
            _loop, _thread = loop, thread
        return _loop


def lab_thread_id() -> int:
    """The OS thread id (``native_id``) of the lab loop's thread, starting it if needed;
    for experiments that place that thread on a CPU (``wslab.labs.gil``)."""
    get_loop()
    assert _thread is not None and _thread.native_id is not None
    return _thread.native_id


def in_lab_thread() -> bool:
    """True when the caller runs on the lab loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def run(coro: Awaitable[T], *, timeout: float | None = DEFAULT_TIMEOUT, what: str = "") -> T:
    """Run ``coro`` on the lab loop and wait for its result (at most ``timeout`` s).

    Errors raised by the coroutine are re-raised here, in the calling cell.
    """
    if in_lab_thread():
        raise RuntimeError(
            "this call blocks until the lab loop answers, but it was made from the lab loop "
            "itself (e.g. inside on_message); use the non-blocking form there")
    loop = get_loop()
    fut = asyncio.run_coroutine_threadsafe(_as_coro(coro), loop)
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        # Since Python 3.11 this is the built-in TimeoutError, which the coroutine may
        # raise itself (recv timeout): only a future that is still running timed out here.
        if fut.done():
            raise
        fut.cancel()
        label = what or getattr(coro, "__qualname__", "operation")
        raise LabTimeout(f"{label} did not finish within {timeout} s") from None


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


async def _apply(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


def call(fn: Callable[..., T], *args: Any, timeout: float | None = DEFAULT_TIMEOUT,
         what: str = "") -> T:
    """Run the plain function ``fn(*args)`` on the lab loop and return its result.

    Called from the lab loop itself (a handler), it runs directly instead of waiting.
    """
    if in_lab_thread():
        return fn(*args)
    return run(_apply(fn, *args), timeout=timeout, what=what or getattr(fn, "__name__", ""))


def run_async(coro: Awaitable[T]) -> asyncio.Future[T]:
    """Schedule ``coro`` on the lab loop; return a future awaitable from *another* loop."""
    if in_lab_thread():
        return asyncio.ensure_future(coro)
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_as_coro(coro), get_loop()))


def call_soon(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the lab loop without waiting (safe from any thread)."""
    if in_lab_thread():
        fn(*args)
    else:
        get_loop().call_soon_threadsafe(fn, *args)


def spawn(coro: Awaitable[Any]) -> None:
    """Start ``coro`` as a task on the lab loop without waiting (safe from any thread)."""
    if in_lab_thread():
        asyncio.ensure_future(coro)
    else:
        asyncio.run_coroutine_threadsafe(_as_coro(coro), get_loop())


def _retrieve(fut: Any) -> None:
    if not fut.cancelled():
        fut.exception()


def fire_and_forget(fut: Any) -> None:
    """Mark a write's future as handled: a write to a connection that closed meanwhile
    must not print "Task exception was never retrieved" into a notebook."""
    if fut is not None and hasattr(fut, "add_done_callback"):
        fut.add_done_callback(_retrieve)


def register(resource: Any) -> None:
    """Remember a started resource (it must have ``stop()``) for :func:`stop_all`."""
    _resources.add(resource)


def unregister(resource: Any) -> None:
    _resources.discard(resource)


RESPONSIVE_INTERVAL = 0.0005
DEFAULT_SWITCH_INTERVAL = 0.005  # CPython's default (sys.getswitchinterval())
_saved_switch: float | None = None


def keep_responsive() -> None:
    """Lower the thread switch interval to 0.5 ms until :func:`stop_all` (see serve())."""
    global _saved_switch
    import sys
    if _saved_switch is None:
        _saved_switch = sys.getswitchinterval()
    sys.setswitchinterval(RESPONSIVE_INTERVAL)


def responsive(on: bool = True, *, interval: float = RESPONSIVE_INTERVAL) -> float:
    """Lower (or restore) Python's thread switch interval; returns the previous one.

    With ``on``, a thread waiting for the GIL (the lab server) gets it after at
    most ``interval`` seconds instead of 5 ms.  Layer 2: it changes a setting of
    the whole interpreter, so it is a deliberate call, never a side effect.
    """
    if not 1e-6 <= interval <= 0.1:
        raise ValueError(f"interval is seconds between 1e-6 and 0.1, got {interval!r}")
    before = _sys.getswitchinterval()
    _sys.setswitchinterval(interval if on else DEFAULT_SWITCH_INTERVAL)
    return before



def stop_all(*, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Stop every server, client, tap and proxy started on the lab loop.

    Returns how many were stopped.  Safe to call twice or when nothing runs.
    """
    items = list(_resources)
    # Clients first, then relays, then servers: each closes cleanly against a live peer.
    items.sort(key=lambda r: getattr(r, "_stop_order", 1))
    stopped = 0
    for item in items:
        try:
            item.stop(timeout=timeout)
            stopped += 1
        except Exception:  # noqa: BLE001 - stop_all must try every resource
            pass
        _resources.discard(item)
    global _saved_switch
    if _saved_switch is not None:
        import sys
        sys.setswitchinterval(_saved_switch)
        _saved_switch = None
    return stopped


def _shutdown_at_exit() -> None:
    if _loop is None or _thread is None or not _thread.is_alive():
        return
    try:
        stop_all(timeout=2)
    finally:
        _loop.call_soon_threadsafe(_loop.stop)
        _thread.join(2)


atexit.register(_shutdown_at_exit)
