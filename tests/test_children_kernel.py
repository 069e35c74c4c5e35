"""Children die with their kernel, however it ends, and leave nothing behind.

A real IPython kernel (jupyter_client's KernelManager, this venv's python) starts a
redis-server, an nginx and a process server; then the kernel is killed (SIGKILL: no
atexit, no finally) or terminated (SIGTERM).  Within a timeout every child's pid is
gone, every port they listened on is closed and the kernel's work folder is removed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tests.conftest import wait_until
from wslab.net.services import port_open

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CODE = """
import json, os, wslab
from wslab.net import services, children
from wslab.net.cluster import nginx_config
r = services.redis()
port = services.free_port()
ng = services.Nginx(nginx_config(port=port, upstreams=[services.free_port()]), port=port)
srv = wslab.serve(name="k", process=True)
print(json.dumps({"pids": [r.pid, ng.pid, srv.pid], "ports": [r.port, ng.port, srv.port],
                  "root": children.work_root(), "dirs": [r.workdir, ng.workdir]}))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run(kc, code: str, timeout: float = 60) -> str:
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_children_ports_and_folders_end_with_the_kernel(sig, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "IPYTHONDIR": str(tmp_path / "ipython"),
           "MPLCONFIGDIR": str(tmp_path / "mpl"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.kernel_spec.argv[0] = sys.executable
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        info = json.loads(_run(kc, CODE).strip().splitlines()[-1])
        assert all(_alive(p) for p in info["pids"])
        assert all(port_open("127.0.0.1", p) for p in info["ports"])
        assert all(os.path.isdir(d) for d in info["dirs"])
        kernel_pid = km.provisioner.process.pid
        t0 = time.monotonic()
        os.kill(kernel_pid, sig)
        wait_until(lambda: not any(_alive(p) for p in info["pids"]), 15,
                   what="the kernel's children to end")
        wait_until(lambda: not any(port_open("127.0.0.1", p) for p in info["ports"]), 15,
                   what="the children's ports to close")
        wait_until(lambda: not os.path.exists(info["root"]), 15,
                   what="the kernel's work folder to be removed")
        print(f"{signal.Signals(sig).name}: all gone in {time.monotonic() - t0:.2f} s")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
