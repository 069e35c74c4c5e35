"""Layer 1 (i18n): which learner-facing messages the code has, and which a catalogue lacks.

A learner-facing message is a string literal handed to ``_()``, ``N_()`` or ``P_()`` (plot
text, :mod:`wslab.ui.fonts`).  Rules (tests
apply them to every module of wslab):

- the argument of ``_()``/``N_()`` is one literal (never an f-string or a variable: the
  catalogue could not hold it); values go in through named placeholders and ``.format``;
- every message has a non-empty, non-fuzzy entry in each language's catalogue;
- a translation uses exactly the placeholders of its English message (names, format specs
  and conversions: ``{n:,}`` stays ``{n:,}``).
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .po import Entry

__all__ = ["Message", "bad_calls", "missing", "placeholder_mismatches", "scan", "scan_source"]

MARKERS = ("_", "N_", "P_")  # P_: plot text (wslab.ui.fonts)


@dataclass(frozen=True)
class Message:
    """One learner-facing message and where the code has it."""

    msgid: str
    where: str


def _marker_calls(tree: ast.AST) -> Iterable[ast.Call]:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in MARKERS):
            yield node


def scan_source(text: str, *, name: str) -> list[Message]:
    """The messages in one module's source (``name`` labels where they are)."""
    out = []
    for call in _marker_calls(ast.parse(text)):
        if (len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)):
            out.append(Message(call.args[0].value, f"{name}:{call.lineno}"))
    return out


def bad_calls(text: str, *, name: str) -> list[str]:
    """``_()``/``N_()`` calls whose argument is not one string literal."""
    return [f"{name}:{c.lineno}" for c in _marker_calls(ast.parse(text))
            if not (len(c.args) == 1 and not c.keywords and isinstance(c.args[0], ast.Constant)
                    and isinstance(c.args[0].value, str))]


def scan(package: Path) -> list[Message]:
    """Every message in the modules under ``package``, in file order."""
    out: list[Message] = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        out += scan_source(path.read_text("utf-8"), name=rel)
    return out


def missing(messages: Iterable[Message], entries: Iterable[Entry]) -> list[Message]:
    """The messages with no usable translation among ``entries``."""
    done = {e.msgid for e in entries if e.msgstr and not e.fuzzy}
    return [m for m in messages if m.msgid not in done]


def _fields(text: str) -> set[str]:
    """The placeholders of ``text`` with their format spec and conversion: ``{n:,}``."""
    try:
        return {f"{f}!{c or ''}:{spec}" for _, f, spec, c in string.Formatter().parse(text)
                if f is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def placeholder_mismatches(entries: Iterable[Entry]) -> list[str]:
    """Entries whose translation names other placeholders than the English message."""
    return [e.msgid for e in entries
            if e.msgid and e.msgstr and _fields(e.msgid) != _fields(e.msgstr)]
