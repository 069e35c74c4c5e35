"""What the tests need beyond Python packages: Debian programs and two npm packages.

One table, read by ``make test`` (through ``python3 tests/sysdeps.py``: it reports what is
missing, which tests cannot run, and the apt line that fixes it; exit status 1 under
``CI=true`` when anything is missing) and by ``.ci/run`` (``--apt``: the Debian packages to
install).  Standard library only: it runs before any virtual environment exists.

The npm packages are installed without root by ``make`` into the git-ignored
``.cache/node`` (``npm install --prefix .cache/node``) whenever npm exists.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_CACHE = ROOT / ".cache" / "node"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Need:
    """One thing some tests need: how to find it, what installs it, who needs it."""

    name: str
    apt: str | None  # the Debian package that brings it (None: npm, see ``npm``)
    tests: str  # which tests cannot run without it
    npm: str | None = None  # the npm package spec installed into .cache/node

    def present(self) -> bool:
        return _FINDERS[self.name]()


def _program(name: str, *dirs: str) -> bool:
    if shutil.which(name):
        return True
    return any(os.access(os.path.join(d, name), os.X_OK) for d in dirs)


FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")


def has_file(pattern: str, dirs: tuple[str, ...]) -> bool:
    """Whether a file matching ``pattern`` is anywhere below one of ``dirs``."""
    return any(next(Path(d).glob(f"**/{pattern}"), None) is not None for d in dirs)


def _chromium() -> bool:
    path = os.environ.get("WSLAB_CHROMIUM", "/usr/bin/chromium")
    return os.path.isfile(path) and os.access(path, os.X_OK)


_FINDERS = {
    "chromium": _chromium,
    "redis-server": lambda: _program("redis-server", "/usr/sbin", "/sbin"),
    "nginx": lambda: _program("nginx", "/usr/sbin", "/sbin"),
    "tshark": lambda: _program("tshark"),
    "node": lambda: _program("node"),
    "npm": lambda: _program("npm"),
    "ws": lambda: (NODE_CACHE / "node_modules" / "ws" / "package.json").is_file(),
    "fonts-noto-cjk": lambda: has_file("NotoSansCJK*", FONT_DIRS),
    "configurable-http-proxy": lambda: os.access(
        NODE_CACHE / "node_modules" / ".bin" / "configurable-http-proxy", os.X_OK),
}

NEEDS = (
    Need("chromium", "chromium",
         "every browser test (pages, JupyterLab, JupyterHub, screens, notebooks in a browser)"),
    Need("redis-server", "redis-server",
         "the backplane, /ack store and cluster tests, notebook 11"),
    Need("nginx", "nginx", "the cluster and proxy-host tests, notebook 11"),
    Need("tshark", "tshark", "the pcap check in tests/test_tap_and_by_hand.py"),
    Need("fonts-noto-cjk", "fonts-noto-cjk",
         "Chinese plot text (tests/test_fonts_zh.py; the zh-CN notebooks' plots)"),
    Need("node", "nodejs", "the Node ws peer (tests/test_bench.py) and the JupyterHub test"),
    Need("npm", "npm", "installing ws and configurable-http-proxy into .cache/node"),
    Need("ws", None, "the Node ws peer (tests/test_bench.py)", npm="ws@8"),
    Need("configurable-http-proxy", None, "the JupyterHub test (tests/test_hub.py)",
         npm="configurable-http-proxy@5"),
)


def missing() -> list[Need]:
    return [n for n in NEEDS if not n.present()]


def report(absent: list[Need]) -> str:
    """What cannot run, and the commands that fix it."""
    lines = ["make test: these are missing, so some tests cannot run"
             + (" (CI=true: that is a failure)" if IN_CI else " (they are skipped)") + ":"]
    lines += [f"  {n.name:<24} {n.tests}" for n in absent]
    apt = sorted({n.apt for n in absent if n.apt})
    npm = [n.npm for n in absent if n.npm]
    if npm and "npm" not in {n.name for n in absent}:
        lines.append(f"  (npm could not install {' '.join(npm)} into .cache/node; "
                     "is the npm registry reachable?)")
    elif npm:
        apt = sorted({*apt, "nodejs", "npm"})
    if apt:
        lines.append(f"fix: sudo apt-get install -y --no-install-recommends {' '.join(apt)}")
        if npm:
            lines.append("     (then `make test` installs the npm packages into .cache/node)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    absent = missing()
    if argv[1:] == ["--apt"]:  # for .ci/run: the Debian packages to install
        print(" ".join(sorted({n.apt for n in absent if n.apt})))
        return 0
    if argv[1:] == ["--npm"]:  # for make: the npm packages to install
        print(" ".join(n.npm for n in absent if n.npm))
        return 0
    if not absent:
        return 0
    print(report(absent), file=sys.stderr)
    return 1 if IN_CI else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
