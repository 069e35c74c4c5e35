"""The lowest supported versions: pyproject's run-time ``>=`` floors as pip constraints.

``make test-floor`` installs wslab with ``-c`` of what this prints (``name==floor`` for every
run-time dependency) and runs the fast tests there, so each floor in pyproject.toml is a
version that was tested.  ``--check`` (run in that venv) fails unless every run-time
dependency is installed at exactly its floor.  Standard library only (Python 3.10 too).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def runtime_requirements(text: str | None = None) -> list[str]:
    """``[project].dependencies`` of pyproject.toml."""
    text = PYPROJECT.read_text("utf-8") if text is None else text
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the array is plain enough to read by hand
        block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S)
        assert block, "no [project] dependencies in pyproject.toml"
        return re.findall(r"\"([^\"]+)\"", block.group(1))
    return list(tomllib.loads(text)["project"]["dependencies"])


def floors(requirements: list[str]) -> dict[str, str]:
    """name -> the version after ``>=`` (every run-time dependency has one)."""
    out = {}
    for req in requirements:
        m = _REQ.match(req)
        assert m, req
        low = re.search(r">=\s*([0-9][^,\s]*)", m.group(2))
        assert low, f"{req} has no lower bound"
        out[m.group(1).lower().replace("_", "-")] = low.group(1)
    return out


def _released(version: str) -> str:
    """'4.0' -> '4.0.0' style comparison key ('6.6' and '6.6.0' are the same release)."""
    parts = [int(p) for p in re.findall(r"\d+", version)]
    while parts and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


def check() -> int:
    wrong = []
    for name, floor in floors(runtime_requirements()).items():
        have = metadata.version(name)
        if _released(have) != _released(floor):
            wrong.append(f"{name} {have} (floor {floor})")
    if wrong:
        print("floors: not installed at the floor: " + ", ".join(wrong), file=sys.stderr)
        return 1
    print("floors: every run-time dependency is at its floor")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        return check()
    for name, floor in floors(runtime_requirements()).items():
        print(f"{name}=={floor}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
