"""Layer 4 (exercises): the result of a check, as a notebook shows it.

Marks are plain text in a coloured box (no emoji: classroom machines often lack
an emoji font and would show empty boxes).  The mark and the exercise's name are shown in
the language in use (:mod:`wslab.i18n`); the message was written in it by the check.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..i18n import _, translate


@dataclass(frozen=True)
class Result:
    """``ok`` and a message: what passed, or what is wrong and where."""

    ok: bool
    message: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.ok

    @property
    def mark(self) -> str:
        return _("PASS") if self.ok else _("NOT YET")

    @property
    def title(self) -> str:
        """The exercise's name as shown (names are marked with ``N_`` where written)."""
        return translate(self.exercise)

    def __str__(self) -> str:
        head = f"{self.title}: " if self.exercise else ""
        return f"{head}[{self.mark}] {self.message}"

    def _repr_html_(self) -> str:
        colour, bg = ("#1a7f43", "#e7f7ec") if self.ok else ("#b3261e", "#fbe9ea")
        head = f"<b>{html.escape(self.title)}</b> " if self.exercise else ""
        badge = (f"<span style='display:inline-block;padding:0 6px;margin-right:6px;"
                 f"border-radius:3px;background:{colour};color:#fff;font-weight:600;"
                 f"font-size:12px'>{self.mark}</span>")
        body = html.escape(self.message).replace("\n", "<br>")
        return (f"<div class='wslab-result' data-ok='{str(self.ok).lower()}' "
                f"style='border-left:4px solid {colour};background:{bg};padding:4px 10px;"
                f"overflow-wrap:anywhere'>{badge}{head}{body}</div>")

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))


def passed(exercise: str, message: str) -> Result:
    return Result(True, message, exercise)


def hint(exercise: str, message: str) -> Result:
    return Result(False, message, exercise)
