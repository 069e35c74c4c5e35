"""Layer 4 (exercises): model solutions, shown only when a student asks.

Notebooks never contain solution code, so Run All cannot reveal one. A student
who is stuck runs ``exNN.solution("name")`` in a new cell; it displays the
source of ``wslab.exercises.solutions.exNN.name``. Tests run every check on
these solutions (they must pass) and on plausible wrong answers (they must not).
"""

from __future__ import annotations

import html
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SolutionView:
    """The source of one model solution; displays as a code block."""

    notebook: str
    name: str
    source: str

    def __str__(self) -> str:
        return self.source

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(self.source)

    def _repr_html_(self) -> str:
        return (f"<div style='font-size:12px;color:#555'>model solution "
                f"<code>{html.escape(self.notebook)}.{html.escape(self.name)}</code></div>"
                f"<pre style='white-space:pre-wrap;overflow-wrap:anywhere'>"
                f"{html.escape(self.source)}</pre>")


def names(notebook: str) -> list[str]:
    """The solutions available for ``notebook`` (e.g. "ex01")."""
    mod = importlib.import_module(f"wslab.exercises.solutions.{notebook}")
    return sorted(n for n, v in vars(mod).items()
                  if not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__)


def get(notebook: str, name: str) -> object:
    """The solution object itself (for tests and checks)."""
    available = names(notebook)
    if name not in available:
        raise ValueError(f"no solution {name!r} for {notebook}; available: {available}")
    mod = importlib.import_module(f"wslab.exercises.solutions.{notebook}")
    return getattr(mod, name)


def show(notebook: str, name: str) -> SolutionView:
    """What ``exNN.solution(name)`` returns: the solution's source code."""
    obj = get(notebook, name)
    try:
        src = inspect.getsource(obj)  # type: ignore[arg-type]
    except TypeError:
        src = f"{name} = {obj!r}\n"
    return SolutionView(notebook, name, src)


def solution_function(notebook: str) -> Callable[[str], SolutionView]:
    """Build the ``solution(name)`` function an ``exNN`` module exports."""
    def solution(name: str) -> SolutionView:
        """Show the model solution ``name`` (run it in a new cell only when stuck)."""
        return show(notebook, name)
    solution.__qualname__ = f"{notebook}.solution"
    return solution
