"""A real packet capture on the loopback interface (layer 2, I/O: child processes, files).

:class:`LoopbackCapture` runs Wireshark's ``dumpcap`` as a bounded child process
(:mod:`wslab.net.children`): on ``lo``, with a capture filter on the experiment's
TCP ports, at most ``max_seconds`` long and ``max_kib`` big, into a file in
the children's work folder.  What it records are the packets the kernel sent,
headers and all: every byte is the byte on the wire.  (``Tap.to_pcap()`` is a
different thing: a file *made up* around the bytes a relay copied.)

The capture is known to be live, and known to hold everything sent before a
moment, by a probe: a UDP datagram to a port nobody listens on, inside the same
filter.  Packets on ``lo`` reach the capture in the order they were sent, so once
a probe sent after the traffic is in the file, so is the traffic.  The probes
are in the file (Wireshark shows them as UDP); :func:`read_pcap` keeps TCP only.

Reading: :func:`tshark_packets` reads a capture with ``tshark`` (Wireshark's own
dissectors) into the same :class:`~wslab.net.pcap.TcpPacket` values as wslab's
reader :func:`~wslab.net.pcap.read_pcap`; :func:`find_tshark` says whether tshark
is there (``WSLAB_TSHARK`` names another one, or ``none`` to use wslab's reader).
:func:`socket_states` reads the kernel's table of TCP sockets (Linux
``/proc/net/tcp``), to see who holds TIME_WAIT.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..protocol.errors import WSLabError
from . import loop as lab
from .children import Child, ChildExited, ChildTimeout, spawn, work_dir
from .pcap import Address, TcpPacket, read_pcap

__all__ = ["CaptureUnavailable", "LoopbackCapture", "SocketState", "find_dumpcap", "find_tshark",
           "run_lines", "socket_states", "tshark_packets", "tshark_summary", "tshark_version"]

START_TIMEOUT = 10.0    # seconds for dumpcap to start capturing
MAX_SECONDS = 120       # a capture stops itself after this long (dumpcap -a duration)
MAX_KIB = 64 * 1024     # ... or this big (dumpcap -a filesize, in KiB)
PROBE_EVERY = 0.25      # seconds between probes while waiting for one to show up
TSHARK_TIMEOUT = 60.0   # seconds tshark may take to read a capture
_PROBE = re.compile(rb"wslab probe (\d+)\.")


class CaptureUnavailable(WSLabError):
    """No capture on this machine: dumpcap is missing or may not capture (the message says
    which, and what to do)."""


def find_dumpcap() -> str:
    """dumpcap's path (``WSLAB_DUMPCAP`` names another one); CaptureUnavailable if none."""
    chosen = os.environ.get("WSLAB_DUMPCAP")
    if chosen is not None:
        path = chosen if os.access(chosen, os.X_OK) else shutil.which(chosen)
    else:
        path = shutil.which("dumpcap") or next(
            (p for p in ("/usr/bin/dumpcap", "/usr/sbin/dumpcap") if os.access(p, os.X_OK)), None)
    if path is None:
        raise CaptureUnavailable("dumpcap is not installed, so wslab cannot capture packets "
                                 "(Debian/Ubuntu: sudo apt install tshark, which brings dumpcap)")
    return path


def _why_not(tail: str) -> str:
    text = " ".join(line.strip() for line in tail.splitlines()
                    if line.strip() and not line.startswith("Capturing on"))
    if "ermission" in text or "not permitted" in text:
        return (f"dumpcap may not capture on this machine ({text}). On Debian/Ubuntu: sudo "
                "dpkg-reconfigure wireshark-common (answer Yes), sudo usermod -aG wireshark "
                "$USER, then log in again and restart JupyterLab")
    return f"dumpcap could not capture: {text or 'it exited without a message'}"


class LoopbackCapture:
    """``dumpcap`` capturing TCP on ``ports`` on the loopback interface (see the module doc).

    Use :meth:`packets` to read what is in the file so far, :meth:`settle` to wait
    until everything sent up to now is in it, :meth:`stop` to end the capture.
    """

    _stop_order = 1  # before servers, so a server's last packets are captured first

    def __init__(self, ports: Iterable[int], *, interface: str = "lo",
                 max_seconds: int = MAX_SECONDS, max_kib: int = MAX_KIB,
                 timeout: float = START_TIMEOUT) -> None:
        self.ports = tuple(dict.fromkeys(int(p) for p in ports))
        if not self.ports or not all(0 < p < 65536 for p in self.ports):
            raise ValueError(f"ports are TCP port numbers 1-65535, got {self.ports!r}")
        for name, value in (("max_seconds", max_seconds), ("max_kib", max_kib)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} is a positive integer, got {value!r}")
        self._probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._probe.bind(("127.0.0.1", 0))
        self.probe_port = self._probe.getsockname()[1]  # sends to itself; nobody reads it
        self.filter = " or ".join([f"tcp port {p}" for p in self.ports]
                                  + [f"udp dst port {self.probe_port}"])
        self.path = os.path.join(work_dir("capture"), "capture.pcapng")
        self._probes_sent = 0
        self._scanned = 0  # bytes of the file already searched for probes
        self._newest = 0   # the newest probe found there
        self._child: Child | None = None
        try:
            argv = [find_dumpcap(), "-i", interface, "-f", self.filter, "-w", self.path,
                    "-a", f"duration:{max_seconds}", "-a", f"filesize:{max_kib}"]
            self._child = spawn(argv, what="dumpcap", stdin=False)
            self._wait_live(timeout)
        except CaptureUnavailable:
            self._close()
            raise
        except WSLabError as exc:
            self._close()
            raise CaptureUnavailable(f"dumpcap could not start: {exc}") from None
        lab.register(self)

    def _wait_live(self, timeout: float) -> None:
        """Probe until a probe is in the file: from then on the capture records."""
        try:
            self.settle(timeout=timeout)
        except ChildTimeout:
            tail = self._child.stderr_tail if self._child is not None else ""
            raise CaptureUnavailable(_why_not(tail) if "Capturing on" not in tail else
                                     f"dumpcap recorded nothing within {timeout} s") from None

    def _send_probe(self) -> None:
        self._probes_sent += 1
        with contextlib.suppress(OSError):
            self._probe.sendto(b"wslab probe %d." % self._probes_sent,
                               ("127.0.0.1", self.probe_port))

    def _newest_probe_in_file(self) -> int:
        """The number of the newest probe the file holds so far (0: none yet).  Reads only
        what was written since the last look (a probe cut in two is read again whole)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._scanned)
                data = fh.read()
        except OSError:
            return self._newest
        found = [int(n) for n in _PROBE.findall(data)]
        self._newest = max([self._newest, *found])
        self._scanned += max(0, len(data) - 32)  # a probe's text is shorter than 32 bytes
        return self._newest

    def settle(self, *, timeout: float = 5.0) -> None:
        """Return once every packet sent before this call is in the file.

        Sends a probe and waits until it is written (dumpcap writes its file every
        fraction of a second), sending another now and then in case the first left
        before the capture began; :class:`ChildTimeout` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        first = self._probes_sent + 1
        next_probe = 0.0
        while self._newest_probe_in_file() < first:
            child = self._child
            if child is None or not child.running:
                if child is not None:
                    child.stop(1.0)  # joins its output threads: the whole message is read
                raise CaptureUnavailable(_why_not(child.stderr_tail if child else ""))
            now = time.monotonic()
            if now > deadline:
                raise ChildTimeout(f"the capture did not record a probe within {timeout} s")
            if now >= next_probe:
                self._send_probe()
                next_probe = now + PROBE_EVERY
            time.sleep(0.005)

    def wait_for(self, predicate: Callable[[list[TcpPacket]], bool], *,
                 timeout: float = 5.0) -> bool:
        """Wait until ``predicate(packets)`` holds for the packets in the file; False when it
        still does not after ``timeout`` seconds (the capture goes on)."""
        deadline = time.monotonic() + timeout
        while True:
            self.settle(timeout=max(0.1, deadline - time.monotonic()))
            if predicate(self.packets()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def packets(self) -> list[TcpPacket]:
        """The TCP packets in the file so far (wslab's reader)."""
        return read_pcap(self.path) if os.path.exists(self.path) else []

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """End the capture (dumpcap writes its last packets and exits).  Safe to call twice."""
        self._close(timeout)
        lab.unregister(self)

    def _close(self, timeout: float = 5.0) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout)
        with contextlib.suppress(OSError):
            self._probe.close()

    def __enter__(self) -> LoopbackCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "capturing" if self.running else "stopped"
        return f"<LoopbackCapture {state} {self.filter!r} -> {self.path}>"


# --- tshark ------------------------------------------------------------------------------

def find_tshark() -> str | None:
    """tshark's path, or None: ``WSLAB_TSHARK`` names one, or ``none`` for wslab's reader."""
    chosen = os.environ.get("WSLAB_TSHARK")
    if chosen is not None:
        if chosen.strip().lower() in ("", "none", "0", "no"):
            return None
        return chosen if os.access(chosen, os.X_OK) else shutil.which(chosen)
    return shutil.which("tshark")


def run_lines(argv: list[str], *, what: str, timeout: float = TSHARK_TIMEOUT) -> list[str]:
    """The lines a short-lived program prints (stderr kept apart), within ``timeout`` s."""
    child = spawn(argv, what=what, stdin=False)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                lines.append(child.readline(max(0.01, deadline - time.monotonic())))
            except ChildExited:
                break
        code = child.wait(max(0.1, deadline - time.monotonic()))
    finally:
        child.stop(1.0)
    if code != 0:
        tail = " ".join(child.tail_lines(3))
        raise WSLabError(f"{what} failed (exit status {code}): {tail}")
    return lines


def tshark_version(tshark: str) -> str:
    """``"tshark 4.0.17"`` (from the first line of ``tshark --version``)."""
    lines = run_lines([tshark, "--version"], what="tshark --version", timeout=TSHARK_TIMEOUT)
    words = lines[0].split() if lines else []
    version = next((w for w in words if w[:1].isdigit()), "")
    return f"tshark {version}".strip()


_FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
           "ipv6.dst", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
           "tcp.window_size_value", "tcp.options.mss_val", "tcp.options.wscale.shift",
           "tcp.payload")


def _ns(epoch: str) -> int:
    whole, _, frac = epoch.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _row(line: str) -> TcpPacket:
    f = dict(zip(_FIELDS, line.split("\t"), strict=False))
    flags = int(f["tcp.flags"], 16)
    return TcpPacket(
        int(f["frame.number"]), _ns(f["frame.time_epoch"]),
        (f["ip.src"] or f["ipv6.src"], int(f["tcp.srcport"])),
        (f["ip.dst"] or f["ipv6.dst"], int(f["tcp.dstport"])),
        int(f["tcp.seq_raw"]), int(f["tcp.ack_raw"]), flags, int(f["tcp.window_size_value"]),
        bytes.fromhex(f.get("tcp.payload", "").replace(":", "")),
        int(f["tcp.options.mss_val"]) if f.get("tcp.options.mss_val") else None,
        int(f["tcp.options.wscale.shift"]) if f.get("tcp.options.wscale.shift") else None)


def tshark_packets(path: str, tshark: str) -> list[TcpPacket]:
    """The TCP packets of ``path`` as tshark dissects them (same values as read_pcap)."""
    argv = [tshark, "-r", path, "-n", "-Y", "tcp", "-T", "fields", "-E", "separator=/t",
            "-o", "tcp.desegment_tcp_streams:FALSE"]
    for name in _FIELDS:
        argv += ["-e", name]
    return [_row(line) for line in run_lines(argv, what="tshark") if line]


def tshark_summary(path: str, tshark: str, display_filter: str, *,
                   http_ports: Iterable[int] = ()) -> list[tuple[str, str, str, str, str]]:
    """tshark's packet list for ``display_filter``: (No., source port, destination port,
    frame bytes, Info) per packet; ``http_ports`` are decoded as HTTP (then WebSocket)."""
    argv = [tshark, "-r", path, "-n", "-Y", display_filter, "-T", "fields", "-E",
            "separator=/t", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport",
            "-e", "frame.len", "-e", "_ws.col.Info"]
    for port in http_ports:
        argv += ["-d", f"tcp.port=={port},http"]
    rows = []
    for line in run_lines(argv, what="tshark"):
        no, sport, dport, size, info = (line.split("\t") + [""] * 5)[:5]
        rows.append((no, sport, dport, size, info))
    return rows


# --- the kernel's socket table ---------------------------------------------------------

@dataclass(frozen=True)
class SocketState:
    """One TCP socket of this machine: its two addresses and its state (RFC 9293 3.3.2)."""

    local: Address
    remote: Address
    state: str


_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECEIVED", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2",
           6: "TIME_WAIT", 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
           11: "CLOSING"}


def _proc_address(text: str) -> Address:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = str(ipaddress.IPv4Address(raw[::-1]))
    else:  # four 32-bit words, each in host (little-endian) order
        ip = str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return ip, int(port, 16)


def socket_states(ports: Iterable[int]) -> list[SocketState] | None:
    """TCP sockets of this machine with a local or remote port in ``ports`` (Linux
    ``/proc/net/tcp`` and ``tcp6``); None where the table cannot be read."""
    wanted = set(ports)
    found: list[SocketState] = []
    read_any = False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        read_any = True
        for row in rows:
            parts = row.split()
            if len(parts) < 4:
                continue
            local, remote = _proc_address(parts[1]), _proc_address(parts[2])
            if local[1] in wanted or remote[1] in wanted:
                found.append(SocketState(local, remote, _STATES.get(int(parts[3], 16), "?")))
    return found if read_any else None
