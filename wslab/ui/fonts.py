"""Layer 4 (ui): plot text in the learner's language, in a font that has its characters.

Rules:

- English plots are drawn exactly as before: nothing here changes them.
- In Chinese, plot text (titles, axes, legends) comes from the catalogue and matplotlib draws
  the Chinese characters with a CJK font found on this machine (Debian's ``fonts-noto-cjk``,
  Source Han, WenQuanYi, the common Windows and macOS ones) as the fallback family after
  matplotlib's sans-serif, so Latin letters and digits keep their look.  Text takes its
  font when it is created: a plot calls :func:`plot_language` before making its figure.
- A CJK font installed after matplotlib built its font cache is found by file name and added.
- With no CJK font at all, plot text stays English and one note (once per process) says why
  and what to install: never boxes in place of characters.
"""

from __future__ import annotations

import re
import sys

from ..i18n import _, gettext_for, language

__all__ = ["PREFERRED", "P_", "cjk_family", "plot_language", "plot_text", "reset"]

#: CJK font families, best first (Simplified Chinese faces before the other CJK ones).
PREFERRED = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
             "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei",
             "PingFang SC", "Heiti SC", "Noto Sans CJK JP", "Noto Sans CJK TC",
             "Droid Sans Fallback")
_FILES = re.compile(r"CJK|SourceHan|wqy|WenQuanYi|msyh|simhei|PingFang|DroidSansFallback", re.I)
_found: list[str | None] = []  # [] not looked yet; [None] looked, none; [name] found
_noted = False


def _families() -> set[str]:
    from matplotlib import font_manager
    return {f.name for f in font_manager.fontManager.ttflist}


def _add_files_on_disk() -> None:
    """Add CJK font files matplotlib's (older) cache does not list."""
    from matplotlib import font_manager
    for path in font_manager.findSystemFonts():
        if _FILES.search(path):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a damaged or unreadable file
                continue


def cjk_family() -> str | None:
    """The CJK font family matplotlib will use, or None when this machine has none."""
    if not _found:
        names = _families()
        if not any(p in names for p in PREFERRED):
            _add_files_on_disk()
            names = _families()
        _found.append(next((p for p in PREFERRED if p in names), None))
    return _found[0]


def _note_english() -> None:
    global _noted
    if not _noted:
        _noted = True
        print(_("Note: no Chinese font was found for plots, so plot labels stay in English. "
                "Install one (Debian/Ubuntu: apt-get install fonts-noto-cjk) and restart "
                "the kernel."), file=sys.stderr)


def plot_language() -> str:
    """The language plots are labelled in: the learner's, when a font can draw it."""
    lang = language()
    if lang == "en":
        if _found and _found[0]:
            _use(None)  # back to English after Chinese: matplotlib's own fonts only
        return lang
    family = cjk_family()
    if family is None:
        _note_english()
        return "en"
    _use(family)
    return lang


def _use(family: str | None) -> None:
    """Draw text with matplotlib's sans-serif font, falling back to ``family`` for the
    characters it lacks (None: as matplotlib was).  Text takes its font family when it is
    created, so plots call :func:`plot_language` before making their figure."""
    import matplotlib
    want = ["sans-serif", family] if family else ["sans-serif"]
    have = list(matplotlib.rcParams["font.family"])
    if have[:1] == ["sans-serif"] and have != want:  # a family the user chose is left alone
        matplotlib.rcParams["font.family"] = want


def plot_text(message: str) -> str:
    """``message`` (an English msgid, marked with ``N_`` where written) as a plot shows it."""
    return gettext_for(plot_language()).gettext(message) if message else message


def reset() -> None:
    """Look for fonts again and note again (tests; a font installed meanwhile)."""
    global _noted
    _found.clear()
    _noted = False


def P_(message: str) -> str:  # noqa: N802 - a gettext-style marker: literal messages only
    """:func:`plot_text` of a literal message (the catalogue scan finds these)."""
    return plot_text(message)
