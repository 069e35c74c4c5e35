"""Outside the right environment: one line saying how to run wslab, not a traceback.

``python -m wslab ...`` with a Python that lacks wslab's dependencies (the system's
``python3`` in a checkout, say) fails while ``wslab/__init__.py`` imports them, before the
command line exists.  That import calls :func:`missing_dependency`, which ends such a run
with one line on stderr and exit status 2; an ``import wslab`` in a program or a notebook
gets the ModuleNotFoundError as usual.  Standard library only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _command_line() -> bool:
    """Is this ``python -m wslab`` (argv[0] is "-m" while runpy finds the module) or the
    ``wslab`` script?"""
    first = sys.argv[0] if sys.argv else ""
    return first == "-m" or os.path.basename(first) == "wslab"


def how_to_run() -> str:
    """The command that has wslab's dependencies, as precisely as this machine tells."""
    venv = _CHECKOUT / ".venv" / "bin" / "python"
    if (_CHECKOUT / "pyproject.toml").is_file():
        if venv.exists():
            return f"run it with {venv} -m wslab (the checkout's venv)"
        return (f"run `make lab` in {_CHECKOUT} once, then {venv} -m wslab, "
                f"or `{sys.executable} -m pip install {_CHECKOUT}`")
    return (f"install wslab with its dependencies into this Python (`{sys.executable} -m pip "
            "install` of the wslab wheel or checkout, without --no-deps), or run the Python "
            "that has them")


def missing_dependency(exc: ModuleNotFoundError) -> None:
    """End a command-line run that lacks a dependency with one line; else return."""
    name = exc.name or "?"
    if not _command_line() or name.split(".")[0] == "wslab":
        return  # a program importing wslab, or wslab's own bug: the traceback is the news
    print(f"wslab: this Python ({sys.executable}) lacks {name!r}, which wslab needs; "
          f"{how_to_run()}", file=sys.stderr)
    raise SystemExit(2)
