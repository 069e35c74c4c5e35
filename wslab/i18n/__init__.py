"""Layer 1, beside the protocol (i18n): the language the learner reads, through ``gettext``.

Rules:

- English is the source and the default: an English run prints every message byte for byte as
  written in the code (``gettext`` hands back the msgid itself).
- ``set_language("zh-CN")`` switches the messages of every later check, widget and plot in
  this process; ``set_language(None)`` goes back to what the environment asks for.
- The environment: ``WSLAB_LANG`` first, then ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and
  ``LANG`` (the first one set decides; ``zh_CN.UTF-8``, ``zh-Hans`` and ``zh`` all mean zh-CN).
- Technical identifiers (opcodes, header names, close-code names) are never translated.
- Messages with values use named placeholders: ``_("{n} frames").format(n=3)``.

This package imports the standard library and ``wslab.protocol.errors`` only, so every layer
above the protocol may use it (the protocol itself stays free of it: its errors are English).
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

from ..protocol.errors import WSLabError

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_DIR", "LanguageError", "Later", "N_", "_",
           "gettext_for", "language", "later", "set_language", "shown", "translate"]

DOMAIN = "wslab"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
#: The languages a course can be read in, as ``set_language`` spells them.
LANGUAGES = ("en", "zh-CN")
_ENV = ("WSLAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
_chosen: str | None = None
_catalogues: dict[str, gettext.NullTranslations] = {}


class LanguageError(WSLabError, ValueError):
    """A language wslab has no messages for."""


def normalise(tag: str) -> str | None:
    """``zh_CN.UTF-8``, ``zh-cn``, ``zh-Hans``, ``zh`` -> ``"zh-CN"``; ``en*``, ``C``,
    ``POSIX`` -> ``"en"``; anything else -> None."""
    t = tag.split(".")[0].split("@")[0].strip().replace("_", "-").lower()
    if t in {"zh", "zh-cn", "zh-hans", "zh-hans-cn", "zh-sg"}:
        return "zh-CN"
    if t in {"c", "posix"} or t == "en" or t.startswith("en-"):
        return "en"
    return None


def _from_environment() -> str:
    for var in _ENV:
        value = os.environ.get(var, "")
        for tag in value.split(":"):  # LANGUAGE is a list: "zh_CN:en"
            if tag and (found := normalise(tag)):
                return found
        if value:
            return "en"  # the first variable set decides, even for a language we lack
    return "en"


def set_language(lang: str | None) -> str:
    """Read wslab in ``lang`` ("en" or "zh-CN"); None: as the environment says.  Returns
    the language now in use; :class:`LanguageError` for one wslab has no messages for."""
    global _chosen
    if lang is None:
        _chosen = None
        return language()
    found = normalise(lang)
    if found is None:
        raise LanguageError(f"wslab has no messages in {lang!r}: choose one of "
                            f"{', '.join(LANGUAGES)}")
    _chosen = found
    return found


def language() -> str:
    """The language in use: the one set by :func:`set_language`, else the environment's."""
    return _chosen or _from_environment()


def gettext_for(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (English: no catalogue, every msgid is its own text)."""
    if lang not in _catalogues:
        if lang == "en":
            _catalogues[lang] = gettext.NullTranslations()
        else:
            _catalogues[lang] = gettext.translation(
                DOMAIN, localedir=LOCALE_DIR, languages=[lang.replace("-", "_")])
    return _catalogues[lang]


def _(message: str) -> str:
    """``message`` in the language in use (itself in English, or when it has no entry)."""
    return gettext_for(language()).gettext(message)


def translate(message: str) -> str:
    """:func:`_` for a message held in a variable: one marked with :func:`N_` where it was
    written (the catalogue scan finds it there)."""
    return gettext_for(language()).gettext(message) if message else message


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark ``message`` for the catalogue without translating it here (it is translated where
    it is shown, with :func:`_`)."""
    return message


class Later(str):
    """English text, as written, that keeps its catalogue message and values: a lab builds it
    where the values are known (``later(N_("close code {code}"), code=1000)``), and the
    display translates it with :func:`shown` when the learner reads it."""

    msgid: str
    values: dict[str, object]


def later(message: str, **values: object) -> Later:
    """``message.format(**values)`` in English, translatable later by :func:`shown`
    (``message`` is marked with :func:`N_` where it is written).  Without values nothing is
    formatted: ``later(text)`` also wraps a peer's own words, braces and all, as a value."""
    text = Later(message.format(**values) if values else message)
    text.msgid = message
    text.values = values
    return text


def shown(text: str) -> str:
    """``text`` in the language in use: a :class:`Later` with its values (those that are
    :class:`Later` too, translated), a message marked with :func:`N_` through the
    catalogue, anything else (a server's own words) as it is."""
    if isinstance(text, Later):
        if not text.values:
            return translate(text.msgid)
        values = {k: shown(v) if isinstance(v, Later) else v for k, v in text.values.items()}
        return translate(text.msgid).format(**values)
    return translate(text)
