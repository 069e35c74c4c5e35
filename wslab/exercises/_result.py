"""The result of an exercise check (rendered in notebooks)."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """``ok`` and a message: the praise, or a hint that points at the fix."""

    ok: bool
    message: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "✅ correct" if self.ok else "❌ not yet"
        head = f"{self.exercise}: " if self.exercise else ""
        return f"{head}{mark}: {self.message}"

    def _repr_html_(self) -> str:
        colour, bg = ("#26a269", "#e7f7ec") if self.ok else ("#c01c28", "#fbe9ea")
        mark = "✅ correct" if self.ok else "❌ not yet, hint"
        head = f"<b>{html.escape(self.exercise)}</b> " if self.exercise else ""
        return (f"<div class='wslab-result' data-ok='{str(self.ok).lower()}' "
                f"style='border-left:4px solid {colour};background:{bg};padding:4px 10px'>"
                f"{head}{mark}: {html.escape(self.message)}</div>")

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


def passed(exercise: str, message: str) -> Result:
    return Result(True, message, exercise)


def hint(exercise: str, message: str) -> Result:
    return Result(False, message, exercise)
