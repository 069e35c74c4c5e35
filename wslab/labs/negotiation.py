"""Subprotocol negotiation with a server function you write, and what Chromium does (layer 3).

:class:`SelectingServer` is a minimal WebSocket server on the lab loop whose
opening handshake calls ``select(offered) -> name | None`` (RFC 6455 4.2.2:
the server picks one of the client's offers, or none and omits the header).
Every byte is built and parsed by :mod:`wslab.protocol.handshake`; after the
101 it sends one text message naming the choice and closes (1000).

:func:`offer` is a client that follows RFC 6455 section 4.1 to the letter: it
fails the connection when the server names a subprotocol it never offered.
:func:`chromium_offer` opens ``new WebSocket(url, protocols)`` in headless
Chromium (Debian's /usr/bin/chromium through Playwright, in a child process)
and reports what the page saw: browsers fail the connection when they offered
subprotocols and the server selected none (Chromium reports close code 1006).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..i18n import _
from ..net import loop as lab
from ..net import public_url
from ..net.raw import open_websocket
from ..protocol import frames as fr
from ..protocol import handshake as hs
from ..protocol.errors import HandshakeError, WSLabError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class SelectingServer:
    """A server whose handshake asks ``select(offered)`` which subprotocol to speak."""

    _stop_order = 2

    def __init__(self, select: Callable[[list[str]], object]) -> None:
        self.select = select
        self.errors: list[BaseException] = []  # what select() raised, in order
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        lab.run(self._astart(), what="starting SelectingServer")
        lab.register(self)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def _astart(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            try:
                request = hs.parse_request(head)
            except HandshakeError as exc:
                writer.write(hs.build_error_response(exc.status or 400, exc.rule or str(exc)))
                return
            try:
                choice = self.select(list(request.subprotocols))
                answer = hs.build_response(key=request.key,
                                           subprotocol=choice)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - the learner's function: reported, answered 500
                self.errors.append(exc)
                writer.write(hs.build_error_response(500, f"select() failed: {exc}"))
                return
            writer.write(answer)
            writer.write(fr.encode_frame(fr.Frame.text(f"speaking {choice}")))
            writer.write(fr.encode_frame(fr.Frame.close(1000, "")))
            await writer.drain()
            await asyncio.wait_for(reader.read(4096), 2)  # the client's Close, or EOF
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        lab.run(self._astop(), timeout=timeout, what="stopping SelectingServer")
        lab.unregister(self)


@dataclass(frozen=True)
class Offer:
    """One handshake: what the client offered and how it ended."""

    offered: tuple[str, ...]
    status: int | None
    chosen: str | None
    failed: str | None  # the RFC rule the client applied to fail the connection, or None
    response_head: bytes = b""


def offer(url: str, offered: Iterable[str], *, timeout: float = 5.0) -> Offer:
    """Offer ``offered`` to ``url`` with a hand-built request; check the answer (RFC 6455 4.1)."""
    offered = tuple(offered)

    async def run() -> Offer:
        conn, _request, head, key = await open_websocket(url, subprotocols=offered, timeout=timeout)
        try:
            try:
                resp = hs.check_response(head, key, subprotocols=offered)
            except HandshakeError as exc:
                got = exc.response.status if exc.response is not None else None
                return Offer(offered, got, None, exc.rule or str(exc), head)
            return Offer(offered, resp.status, resp.subprotocol, None, head)
        finally:
            await conn.close()

    return lab.run(run(), timeout=timeout + 5, what=f"offer {list(offered)} to {url}")


# --- Chromium -------------------------------------------------------------------------------

_PAGE_SCRIPT = r"""
import json, sys, tempfile
from playwright.sync_api import sync_playwright
exe, page_url, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
args = json.loads(sys.argv[4])
JS = '''([url, protocols]) => new Promise(done => {
  const seen = {opened: false, protocol: null, error: false};
  const ws = protocols.length ? new WebSocket(url, protocols) : new WebSocket(url);
  ws.onopen = () => { seen.opened = true; seen.protocol = ws.protocol; ws.close(1000); };
  ws.onerror = () => { seen.error = true; };
  ws.onclose = e => { seen.code = e.code; seen.clean = e.wasClean; done(seen); };
  setTimeout(() => done(Object.assign(seen, {timeout: true})), 8000);
})'''
out = []
with tempfile.TemporaryDirectory(prefix="wslab-chromium-") as profile, sync_playwright() as p:
    ctx = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True,
                                               args=args)
    try:
        page = ctx.new_page()
        console = []
        page.on("console", lambda m: console.append(m.text))
        page.goto(page_url)
        for url, protocols in cases:
            console.clear()
            seen = page.evaluate(JS, [url, protocols])
            seen["console"] = [c for c in console if "WebSocket" in c]
            out.append(seen)
    finally:
        ctx.close()
print(json.dumps(out))
"""


@dataclass(frozen=True)
class BrowserOutcome:
    """What ``new WebSocket(url, protocols)`` did in Chromium."""

    url: str
    protocols: tuple[str, ...]
    opened: bool
    # ws.protocol once open: the server's choice, or "" (the empty string, never null, when
    # it chose none); None here only when the socket never opened and it was not read
    protocol: str | None
    close_code: int | None
    error_event: bool
    console: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        how = (_("open, ws.protocol = {protocol!r}").format(protocol=self.protocol)
               if self.opened else _("failed: never opened"))
        err = _(", error event") if self.error_event else ""
        return _("offered {offered}: {how}{err}, close code {code}").format(
            offered=list(self.protocols), how=how, err=err, code=self.close_code)


def chromium_available() -> str | None:
    """None when headless Chromium can run here, else why not."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"no Chromium at {CHROMIUM}"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def chromium_offer(page_url: str, cases: Iterable[tuple[str, Iterable[str]]], *,
                   timeout: float = 60.0) -> list[BrowserOutcome]:
    """Open a page of ``page_url``'s server in headless Chromium and run
    ``new WebSocket(url, protocols)`` for each ``(url, protocols)`` case.

    Raises :class:`WSLabError` saying why when Chromium or Playwright is missing.
    """
    # this Chromium runs on the kernel's machine: direct URLs, even under a Jupyter server
    page_url = public_url.direct(page_url)
    cases = [(public_url.direct(u), list(p)) for u, p in cases]
    why = chromium_available()
    if why:
        raise WSLabError(f"cannot run Chromium here: {why}")
    exe = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    proc = subprocess.run([sys.executable, "-c", _PAGE_SCRIPT, exe, page_url, json.dumps(cases),
                           json.dumps(CHROMIUM_ARGS)], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WSLabError(f"headless Chromium failed: {last}")
    seen = json.loads(proc.stdout)
    return [BrowserOutcome(u, tuple(p), bool(s.get("opened")), s.get("protocol"),
                           s.get("code"), bool(s.get("error")), list(s.get("console", [])))
            for (u, p), s in zip(cases, seen, strict=True)]
