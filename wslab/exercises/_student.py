"""Layer 4 (exercises): run a student's code and describe how it failed.

A check never raises into the notebook: an unfinished function
(``raise NotImplementedError``) or one that crashes becomes a hint that names
the exception and the line of the student's own code where it happened.
"""

from __future__ import annotations

import inspect
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..i18n import _


class StudentError(Exception):
    """Raised by :func:`call` when the student's code raised; ``hint`` says what and where."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


@dataclass(frozen=True)
class NotWritten:
    """Marker: the student's function still raises NotImplementedError."""


_LIBRARY_DIRS = tuple(p for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"),
                                   sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
                      if p)


def _is_students(filename: str) -> bool:
    """A frame of the student's own code: not wslab, not the standard library or site-packages."""
    name = filename.replace("\\", "/")
    return "/wslab/" not in name and not filename.startswith(_LIBRARY_DIRS)


def where(exc: BaseException) -> str:
    """'line N of f()' for the innermost frame of the student's own code (a notebook cell)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if _is_students(f.filename)]
    if not mine:
        return ""
    f = mine[-1]
    code = f" ({f.line.strip()})" if f.line else ""
    return _(" at line {line} of {function}(){code}").format(line=f.lineno, function=f.name,
                                                              code=code)


def call(fn: Callable[..., Any], *args: Any, what: str = "your function", **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn any exception into :class:`StudentError`."""
    if not callable(fn):
        raise StudentError(_("{what} should be a function (def ...), got {type}").format(
            what=what, type=type(fn).__name__))
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise StudentError(_("{what} is not written yet: replace `raise NotImplementedError` "
                             "with your code").format(what=what)) from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a hint
        detail = f": {exc}" if str(exc) else ""
        raise StudentError(_("{what} raised {error}{detail}{where}").format(
            what=what, error=type(exc).__name__, detail=detail, where=where(exc))) from None


def takes(fn: Callable[..., Any], n: int, *, what: str) -> None:
    """Check ``fn`` accepts ``n`` positional arguments, with a clear message if not."""
    if not callable(fn):
        raise StudentError(_("{what} should be a function (def ...), got {type}").format(
            what=what, type=type(fn).__name__))
    try:
        inspect.signature(fn).bind(*range(n))
    except TypeError:
        raise StudentError(_("{what} should take {n} argument(s); its signature is "
                             "{signature}").format(
            what=what, n=n, signature=f"{fn.__name__}{inspect.signature(fn)}")) from None
    except ValueError:  # builtins without a signature: let the call decide
        return


def first_difference(got: bytes, want: bytes) -> str:
    """Where two byte strings first differ, as a learner-friendly sentence."""
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return _("byte {i} differs: yours is 0x{a:02x} ({a:08b}), "
                     "expected 0x{b:02x} ({b:08b})").format(i=i, a=a, b=b)
    if len(got) != len(want):
        return _("the first {same} bytes match, but yours has {got} bytes and the right "
                 "answer {want}").format(same=min(len(got), len(want)), got=len(got),
                                         want=len(want))
    return _("identical")
