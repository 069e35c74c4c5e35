"""The primer's claims next to what was measured (layer 4, presentation).

:func:`claims_table` shows the list :func:`wslab.labs.primer.claims` returns: what the
primer says (and where), what the Node server did, what wslab's server did, and what
RFC 6455 (or RFC 7692) says.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ..i18n import _
from ..labs.primer import Claim

_CELL = "padding:3px 6px;vertical-align:top;text-align:left;overflow-wrap:anywhere"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class ClaimsTable:
    """Claims that display as an HTML table in a notebook, as text elsewhere."""

    claims: tuple[Claim, ...]

    def __str__(self) -> str:
        return "\n".join(f"{c.claim} ({c.where})\n  node server.js: {c.node}\n  wslab: {c.wslab}"
                         f"\n  RFC: {c.rfc}" for c in self.claims)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self))

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in
                       (_("the primer says"), "node server.js (ws)", "wslab", _("the RFC says")))
        rows = "".join(
            f"<tr class='wslab-claim' style='border-top:1px solid #deddda'>"
            f"<td style='{_CELL}'><b>{_esc(c.claim)}</b><br><i>{_esc(c.where)}</i></td>"
            f"<td style='{_CELL};font-family:monospace;font-size:11px'>{_esc(c.node)}</td>"
            f"<td style='{_CELL};font-family:monospace;font-size:11px'>{_esc(c.wslab)}</td>"
            f"<td style='{_CELL}'>{_esc(c.rfc)}</td></tr>" for c in self.claims)
        return (f"<table class='wslab-claims' style='border-collapse:collapse;width:100%;"
                f"table-layout:fixed;font:12px/1.35 system-ui,sans-serif'>"
                f"<colgroup><col style='width:24%'><col style='width:26%'>"
                f"<col style='width:22%'><col></colgroup>"
                f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def claims_table(claims: Sequence[Claim]) -> ClaimsTable:
    """Show the measured claims (from ``wslab.labs.primer.claims``) as a table."""
    items = tuple(claims)
    if not all(isinstance(c, Claim) for c in items):
        raise ValueError("claims_table shows what wslab.labs.primer.claims returns")
    return ClaimsTable(items)
