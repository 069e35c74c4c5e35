"""Layer 4 (exercises): was a secret compared in constant time?

``==`` on two strings stops at the first character that differs, so how long a
refusal takes tells an attacker how many leading characters of a guess were
right; ``hmac.compare_digest`` takes the same time whatever matches.  A check
judges the learner's code by what it does, never by words in it (a comment
naming ``compare_digest`` proves nothing):

* behaviour: the secret-bearing argument is handed over as a :class:`Watched`
  string.  The values derived from it (``split``, slices, ``encode``, ...) stay
  watched, and every ``==`` / ``!=`` between a watched value and another string
  of four characters or more is recorded with the line that ran it (the calling
  frame's instruction is a ``COMPARE_OP``: a dict or set lookup is not one).
  ``hmac.compare_digest`` reads the characters directly and records nothing.
* the function's syntax tree, for what behaviour cannot follow (``bytes(t,
  "ascii")`` or ``str(t)`` make unwatched copies): a ``==`` / ``!=`` between a
  value computed from the secret-bearing parameter and anything but a short
  literal or a ``len(...)``.
"""

from __future__ import annotations

import ast
import dis
import inspect
import linecache
import pathlib
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_LEN = 4  # shorter strings are separators and empty checks, not secrets
_COMPARE = dis.opmap["COMPARE_OP"]
_WSLAB = str(pathlib.Path(__file__).resolve().parents[1])  # the checks' own comparisons


@dataclass(frozen=True)
class Comparison:
    """One ``==``/``!=`` on a secret: where it ran."""

    line: int
    function: str
    code: str

    def __str__(self) -> str:
        code = f" (`{self.code}`)" if self.code else ""
        return f"line {self.line} of {self.function}(){code}"


@dataclass
class Watch:
    """What a check saw: the comparisons made on watched values (thread-safe)."""

    seen: list[Comparison] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, frame: Any) -> None:
        if (frame is None or frame.f_code.co_code[frame.f_lasti] != _COMPARE
                or frame.f_code.co_filename.startswith(_WSLAB)):
            return
        code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        with self._lock:
            if len(self.seen) < 20:
                self.seen.append(Comparison(frame.f_lineno, frame.f_code.co_name, code))

    def text(self, value: object) -> object:
        """``value`` watched when it is a string or bytes, else unchanged."""
        if isinstance(value, str) and not isinstance(value, Watched):
            return Watched(value, self)
        if isinstance(value, bytes) and not isinstance(value, WatchedBytes):
            return WatchedBytes(value, self)
        return value


def _long(value: object) -> bool:
    return isinstance(value, (str, bytes)) and len(value) >= MIN_LEN


class _Recording:
    """``==``/``!=`` recorded against another long string or bytes (mixed into both)."""

    _watch: Watch

    def __new__(cls, value: Any, watch: Watch) -> Any:
        self = super().__new__(cls, value)  # type: ignore[call-arg]
        self._watch = watch
        return self

    def _seen(self, other: object) -> None:
        if _long(self) and _long(other):
            self._watch.note(sys._getframe(2))  # the frame that ran the comparison

    def __eq__(self, other: object) -> bool:
        self._seen(other)
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        self._seen(other)
        return super().__ne__(other)


class Watched(_Recording, str):
    """A str that records ``==``/``!=`` against another long string."""

    __hash__ = str.__hash__

    def _w(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(self._watch.text(v) for v in value)
        return self._watch.text(value)

    def __getitem__(self, key: Any) -> Any:
        return self._w(str.__getitem__(self, key))

    def split(self, *args: Any, **kwargs: Any) -> Any:
        return self._w(str.split(self, *args, **kwargs))

    def rsplit(self, *args: Any, **kwargs: Any) -> Any:
        return self._w(str.rsplit(self, *args, **kwargs))

    def partition(self, sep: str) -> Any:
        return self._w(str.partition(self, sep))

    def rpartition(self, sep: str) -> Any:
        return self._w(str.rpartition(self, sep))

    def strip(self, chars: str | None = None) -> Any:
        return self._w(str.strip(self, chars))

    def lower(self) -> Any:
        return self._w(str.lower(self))

    def upper(self) -> Any:
        return self._w(str.upper(self))

    def removeprefix(self, prefix: str) -> Any:
        return self._w(str.removeprefix(self, prefix))

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> Any:
        return self._w(str.encode(self, encoding, errors))


class WatchedBytes(_Recording, bytes):
    """Bytes that record ``==``/``!=`` against other long bytes or strings."""

    __hash__ = bytes.__hash__

    def __getitem__(self, key: Any) -> Any:
        return self._watch.text(bytes.__getitem__(self, key))

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> Any:
        return self._watch.text(bytes.decode(self, encoding, errors))


# --- the syntax tree --------------------------------------------------------------------------

_HARMLESS_CALLS = {"len", "isinstance", "type"}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _short_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        v = node.value
        return not isinstance(v, (str, bytes)) or len(v) < MIN_LEN
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _HARMLESS_CALLS)


def _targets(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return set().union(*(_names(t) for t in targets))
    if isinstance(node, (ast.For, ast.comprehension)):
        return _names(node.target)
    return set()


def _value(node: ast.AST) -> ast.AST | None:
    if isinstance(node, (ast.For, ast.comprehension)):
        return node.iter
    return getattr(node, "value", None)


def tree_comparisons(fn: Callable[..., Any], param: int) -> list[Comparison]:
    """``==``/``!=`` in ``fn``'s source between a value computed from its parameter number
    ``param`` and anything but a short literal or ``len(...)``; [] without a source."""
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return []
    func = next((n for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))), None)
    if func is None or len(func.args.args) <= param:
        return []
    tainted = {func.args.args[param].arg}
    assigns = [n for n in ast.walk(func) if _targets(n)]
    for _ in range(len(assigns) + 1):  # to a fixed point: names computed from tainted names
        grown = {t for n in assigns if (v := _value(n)) is not None and _names(v) & tainted
                 for t in _targets(n)}
        if grown <= tainted:
            break
        tainted |= grown
    found = []
    name = getattr(func, "name", "<lambda>")
    for node in ast.walk(func):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, sides, sides[1:], strict=False):
            if not isinstance(op, (ast.Eq, ast.NotEq)):
                continue
            if _short_literal(left) or _short_literal(right):
                continue
            if (_names(left) | _names(right)) & tainted:
                line = first + node.lineno - 1
                found.append(Comparison(line, name, ast.get_source_segment(
                    textwrap.dedent("".join(lines)), node) or ""))
    return found


def insecure(watch: Watch, fn: Callable[..., Any], param: int) -> Comparison | None:
    """The first ``==``/``!=`` on the secret ``fn`` made (seen) or would make (in its
    source), or None when it compared the secret only in constant time."""
    if watch.seen:
        return watch.seen[0]
    found = tree_comparisons(fn, param)
    return found[0] if found else None
