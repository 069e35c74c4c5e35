"""wslab installed the plain way: a wheel built from the checkout, in a fresh venv outside it.

``build()`` makes the source distribution and, from it, the wheel (``python -m build`` in a
small builder venv: what a release does; the in-tree ``pip wheel .`` that ``pip install .``
runs is compared with it in tests/test_packaging.py).  ``Installed.create()`` makes a venv
in a temporary folder WITHOUT ``--system-site-packages`` (so nothing the wheel lacks can come
from elsewhere), installs the wheel with pip (its dependencies from the package index), runs
``pip check`` and imports every module of the installed package from there, and times each
step.  Every command runs with the checkout out of reach: another working directory and no
PYTHONPATH.  The session fixture ``installed_wslab`` (tests/conftest.py) makes one per test
run; ``hub_environment()`` adds JupyterHub to it for tests/test_hub.py, after those checks.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Seconds: the whole set-up stays under pytest's 600 s per test, in which it is counted
# (measured: about 20 s to build, 60 s to install on 2 busy cores).
BUILD_TIMEOUT = 150
INSTALL_TIMEOUT = 300
IMPORT_ALL = """
import importlib, json, pkgutil, sys, wslab
names = sorted(m.name for m in pkgutil.walk_packages(wslab.__path__, "wslab."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "file": wslab.__file__, "python": sys.executable}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would let the checkout be imported."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def run(argv: list[str], *, cwd: pathlib.Path, timeout: float,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _venv(path: pathlib.Path, *, cwd: pathlib.Path) -> pathlib.Path:
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", path], cwd=cwd, timeout=120)
    return path / "bin" / "python"


def build(out: pathlib.Path, *, work: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(sdist, wheel built from that sdist) of the checkout, into ``out``."""
    python = _venv(work / "builder", cwd=work)
    run([python, "-m", "pip", "install", "--quiet", "build"], cwd=work, timeout=BUILD_TIMEOUT)
    run([python, "-m", "build", "--outdir", out, ROOT], cwd=work, timeout=BUILD_TIMEOUT)
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return sdist, wheel


PATHS = ("root", "python", "sdist", "wheel")


@contextlib.contextmanager
def exclusive(lock: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (between processes, e.g. xdist workers)."""
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class Installed:
    """A venv outside the checkout with the wslab wheel installed (see the module doc)."""

    root: pathlib.Path
    python: pathlib.Path
    sdist: pathlib.Path
    wheel: pathlib.Path
    modules: list[str]
    package_file: str
    seconds: dict[str, float] = field(default_factory=dict)
    with_hub: bool = False

    @property
    def bindir(self) -> pathlib.Path:
        return self.python.parent

    @classmethod
    def create(cls, root: pathlib.Path | None = None) -> Installed:
        root = root or pathlib.Path(tempfile.mkdtemp(prefix="wslab-installed-"))
        root.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float] = {}
        t = time.monotonic()
        sdist, wheel = build(root / "dist", work=root)
        seconds["build sdist and wheel"] = time.monotonic() - t
        t = time.monotonic()
        python = _venv(root / "venv", cwd=root)
        run([python, "-m", "pip", "install", "--quiet", wheel], cwd=root,
            timeout=INSTALL_TIMEOUT)
        seconds["venv and pip install of the wheel"] = time.monotonic() - t
        run([python, "-m", "pip", "check"], cwd=root, timeout=60)
        t = time.monotonic()
        found = json.loads(run([python, "-c", IMPORT_ALL], cwd=root, timeout=120).stdout
                           .strip().splitlines()[-1])
        seconds["import every module"] = time.monotonic() - t
        return cls(root=root, python=python, sdist=sdist, wheel=wheel,
                   modules=found["modules"], package_file=found["file"], seconds=seconds)

    @classmethod
    def shared(cls, folder: pathlib.Path) -> Installed:
        """The one install of this test run in ``folder``, made by whichever process (a
        pytest-xdist worker) asks first; the others wait for it and read its description."""
        state = folder / "installed.json"
        with exclusive(folder / "installed.lock"):
            if state.is_file():
                data = json.loads(state.read_text())
                return cls(**{k: pathlib.Path(v) if k in PATHS else v for k, v in data.items()})
            made = cls.create(folder / "installed")
            state.write_text(json.dumps({k: str(v) if k in PATHS else v
                                         for k, v in asdict(made).items()}))
            return made

    def hub_environment(self) -> Installed:
        """Add JupyterHub (the hub's own version: its jupyterhub-singleuser) to the venv,
        once, whichever process asks (a marker in the venv says it is there)."""
        marker = self.root / "with-hub"
        with exclusive(self.root / "hub.lock"):
            if not marker.exists():
                from importlib import metadata
                t = time.monotonic()
                run([self.python, "-m", "pip", "install", "--quiet",
                     f"jupyterhub=={metadata.version('jupyterhub')}"], cwd=self.root,
                    timeout=INSTALL_TIMEOUT)
                self.seconds["pip install jupyterhub"] = time.monotonic() - t
                marker.write_text("jupyterhub installed\n")
        self.with_hub = True
        return self

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
