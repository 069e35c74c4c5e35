"""Which loopback ports the Jupyter server's hop may reach: the kernel's list, checked (layer 2).

wslab's hop (:mod:`wslab.net.jupyter_ext`) is no open proxy: it reaches only servers
that a kernel of *this* Jupyter server handed to a browser.  Two facts decide:

1. **The kernel's list.**  When the hop is on, the Jupyter server gives every kernel
   it starts the environment variable ``WSLAB_HOP_DIR``, a folder only its user can
   read.  Whenever a kernel makes a browser URL through the hop for a server at
   ``port`` (:mod:`wslab.net.public_url`), it adds the port to its own file there,
   ``<pid>.json``.  The hop reads the files of the kernels it runs now, by their
   process ids, and no other file.
2. **Who listens (Linux).**  The socket listening on that loopback port must belong to
   that kernel or to one of its descendants (a process server, the cluster's nginx):
   ``/proc/net/tcp`` names the socket's inode, ``/proc/<pid>/fd`` who holds it.  A port
   the kernel listed and then freed, now taken by another program, is refused.  Where
   there is no ``/proc`` (macOS) the list alone decides.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import threading
from collections.abc import Iterable

__all__ = ["ENV_DIR", "LOOPBACK", "listening_inodes", "owned_by", "register", "registered"]

ENV_DIR = "WSLAB_HOP_DIR"
#: The addresses the hop dials: a port is reached on one of these only.
LOOPBACK = ("127.0.0.1", "::1")
_lock = threading.Lock()


def hop_dir(environ: dict[str, str] | None = None) -> pathlib.Path | None:
    """The folder the Jupyter server's hop reads (None when no hop started this kernel)."""
    value = (os.environ if environ is None else environ).get(ENV_DIR, "").strip()
    return pathlib.Path(value) if value else None


def register(port: int, host: str = "127.0.0.1", *, directory: pathlib.Path | None = None,
             pid: int | None = None) -> bool:
    """Add ``port`` (listening on loopback ``host``) to this process's list for the hop.

    Returns False (and writes nothing) when no hop started this process, or when its
    folder is gone (the Jupyter server stopped).  The file is replaced whole (written
    beside it, then renamed), readable by its owner only.
    """
    folder = directory if directory is not None else hop_dir()
    if folder is None:
        return False
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError(f"port is an integer 1-65535, got {port!r}")
    address = "::1" if host.strip("[]") in ("::1", "::") else "127.0.0.1"
    me = os.getpid() if pid is None else pid
    path = folder / f"{me}.json"
    with _lock:
        ports = registered(folder, me)
        if ports.get(port) == address:
            return True
        ports[port] = address
        text = json.dumps({"pid": me, "ports": {str(p): h for p, h in sorted(ports.items())}})
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{me}-", suffix=".json")
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, path)
        except OSError:
            pathlib.Path(tmp).unlink(missing_ok=True)
            return False
    return True


def registered(directory: pathlib.Path, pid: int) -> dict[int, str]:
    """The ports (and loopback addresses) process ``pid`` listed in ``directory``."""
    try:
        data = json.loads((directory / f"{int(pid)}.json").read_text())
    except (OSError, ValueError):
        return {}
    ports = data.get("ports") if isinstance(data, dict) else None
    if not isinstance(ports, dict) or data.get("pid") != pid:
        return {}
    out = {}
    for key, host in ports.items():
        if key.isdigit() and 0 < int(key) <= 65535 and host in LOOPBACK:
            out[int(key)] = host
    return out


# --- who listens on a port (Linux /proc) ----------------------------------------------
def _parse_listeners(text: str, port: int) -> set[int]:
    """Inodes of sockets in LISTEN state on ``port`` in a ``/proc/net/tcp[6]`` table."""
    inodes = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A":  # 0A: TCP_LISTEN
            continue
        _, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port:
            inodes.add(int(fields[9]))
    return inodes


def listening_inodes(port: int, *, proc: pathlib.Path = pathlib.Path("/proc")
                     ) -> set[int] | None:
    """Inodes of the sockets listening on ``port``; None when ``/proc`` cannot tell."""
    found: set[int] = set()
    readable = False
    for table in ("tcp", "tcp6"):
        try:
            text = (proc / "net" / table).read_text()
        except OSError:
            continue
        readable = True
        found |= _parse_listeners(text, port)
    return found if readable else None


def _children(proc: pathlib.Path) -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _family(pid: int, proc: pathlib.Path) -> list[int]:
    tree = _children(proc)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo += tree.get(p, [])
    return out


def _holds(pid: int, inodes: Iterable[int], proc: pathlib.Path) -> bool:
    wanted = {f"socket:[{i}]" for i in inodes}
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in wanted:
                return True
        except OSError:
            continue
    return False


def owned_by(port: int, pid: int, *, proc: pathlib.Path = pathlib.Path("/proc")
             ) -> bool | None:
    """Whether the socket listening on ``port`` belongs to ``pid`` or a descendant of it.

    None when this system has no ``/proc`` to tell; False when nothing listens there.
    """
    inodes = listening_inodes(port, proc=proc)
    if inodes is None:
        return None
    if not inodes:
        return False
    return any(_holds(p, inodes, proc) for p in _family(pid, proc))
