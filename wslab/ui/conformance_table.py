"""The conformance run as a table (layer 4, presentation).

:func:`conformance_table` shows a :class:`wslab.labs.conformance.ConformanceReport`: a
summary line with the counts, then one row per case (id, the case and what it expects,
result, what came back, RFC 6455 section), grouped, with the groups that hold a NON-STRICT or FAILED
case open.  When every case ended the same way (a server that refuses every handshake),
one line says so instead of 55 identical rows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..i18n import _, shown
from ..labs.conformance import FAILED, NON_STRICT, OK, CaseResult, ConformanceReport

COLOURS = {OK: ("#1a7f43", "#e7f7ec"), NON_STRICT: ("#8a5a00", "#fff4d6"),
           FAILED: ("#b3261e", "#fbe9ea")}
_CELL = "padding:2px 6px;vertical-align:top;text-align:left"
BLOCKED = "the opening handshake failed"   # how the run reports a case that could not start


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(outcome: str) -> str:
    fg, _bg = COLOURS[outcome]
    return (f"<span style='display:inline-block;padding:0 5px;border-radius:3px;"
            f"background:{fg};color:#fff;font:600 11px sans-serif;white-space:nowrap'>"
            f"{_esc(outcome)}</span>")


def _row(r: CaseResult) -> str:
    _fg, bg = COLOURS[r.outcome]
    got = _esc(shown(r.got))
    if r.note:
        got += f"<br><i>{_esc(shown(r.note))}</i>"
    if not r.ok and r.hint:
        got += (f"<br><span style='color:#5e5c64'>"
                f"{_esc(_('look at: {hint}').format(hint=shown(r.hint)))}</span>")
    return (f"<tr class='wslab-case' data-case='{_esc(r.id)}' data-outcome='{_esc(r.outcome)}' "
            f"style='background:{bg if not r.ok else 'transparent'};"
            f"border-top:1px solid #f0efee'>"
            f"<td style='{_CELL};white-space:nowrap'>{_esc(r.id)}</td>"
            f"<td style='{_CELL}'>{_esc(shown(r.title))}<br><span style='color:#5e5c64'>"
            f"{_esc(_('expected: {what}').format(what=shown(r.expected)))}</span></td>"
            f"<td style='{_CELL}'>{_badge(r.outcome)}</td>"
            f"<td style='{_CELL};overflow-wrap:anywhere'>{got}</td>"
            f"<td style='{_CELL}'>{_esc(r.rfc)}</td></tr>")


def _group(name: str, rows: list[CaseResult]) -> str:
    counts = {o: sum(r.outcome == o for r in rows) for o in (OK, NON_STRICT, FAILED)}
    bad = counts[NON_STRICT] + counts[FAILED]
    tally = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    head = "<tr>" + "".join(f"<th style='{_CELL}'>{h}</th>" for h in
                            ("#", _("case, and what RFC 6455 expects"), _("result"),
                             _("what came back"), "RFC 6455")) + "</tr>"
    body = "".join(_row(r) for r in rows)
    return (f"<details {'open' if bad else ''} style='margin:2px 0'>"
            f"<summary style='cursor:pointer;font-weight:600'>{_esc(shown(name))}: {_esc(tally)}"
            f"</summary><table style='border-collapse:collapse;width:100%;table-layout:fixed'>"
            f"<colgroup><col style='width:3.2em'><col style='width:31%'><col style='width:6.6em'>"
            f"<col><col style='width:4.9em'></colgroup>"
            f"<thead>{head}</thead><tbody>{body}</tbody></table></details>")


@dataclass(frozen=True)
class ConformanceTable:
    """A report that displays as HTML in a notebook (and as text elsewhere)."""

    report: ConformanceReport

    def __str__(self) -> str:
        return str(self.report)

    def _repr_pretty_(self, p, cycle) -> None:  # noqa: ANN001
        p.text(str(self.report))

    def _repr_html_(self) -> str:
        report = self.report
        c = report.counts
        summary = (f"<div style='margin-bottom:4px'><b>{_esc(report.url)}</b>: "
                   f"{_badge(OK)} {c[OK]} &nbsp;{_badge(NON_STRICT)} {c[NON_STRICT]} "
                   f"&nbsp;{_badge(FAILED)} {c[FAILED]} &nbsp;"
                   + _esc(_("of {n} cases in {seconds:.1f} s").format(
                       n=len(report.results), seconds=report.seconds)) + "</div>")
        results = report.results
        if len(results) > 1 and len({(r.outcome, r.got) for r in results}) == 1:
            first = results[0]
            body = (f"<div>{_esc(_('every case:'))} {_badge(first.outcome)} "
                    f"{_esc(shown(first.got))}"
                    f"{'<br><i>' + _esc(shown(first.note)) + '</i>' if first.note else ''}</div>")
            return self._wrap(summary, body)
        visible = [r for r in results if r.group == "handshake"]
        blocked = [r for r in results if r.group != "handshake"]
        if not (visible and blocked and all(r.got.startswith(BLOCKED) for r in blocked)):
            visible, blocked = results, []
        groups: dict[str, list[CaseResult]] = {}
        for r in visible:
            groups.setdefault(r.group, []).append(r)
        body = "".join(_group(name, rows) for name, rows in groups.items())
        if blocked:
            body += (f"<div style='margin-top:4px'>{_badge(FAILED)} "
                     + _esc(_("the other {n} cases could not start: {why}. Fix the handshake "
                              "first.").format(n=len(blocked), why=shown(blocked[0].got)))
                     + "</div>")
        return self._wrap(summary, body)

    @staticmethod
    def _wrap(summary: str, body: str) -> str:
        return (f"<div class='wslab-conformance' style='font:12px/1.35 system-ui,sans-serif;"
                f"max-width:100%'>{summary}{body}</div>")


def conformance_table(report: ConformanceReport) -> ConformanceTable:
    """Show ``report`` (from ``run_conformance``) as a table in a notebook."""
    if not isinstance(report, ConformanceReport):
        raise ValueError(f"conformance_table shows what run_conformance returns, "
                         f"got {type(report).__name__}")
    return ConformanceTable(report)
