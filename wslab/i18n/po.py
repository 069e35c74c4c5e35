"""Layer 1 (i18n): ``.po`` catalogues read, and compiled to the ``.mo`` files ``gettext`` loads.

The standard library reads ``.mo`` files but has no ``msgfmt``; this is a small one for the
subset of the PO format wslab's catalogues use: ``#`` comments, the ``#, fuzzy`` flag,
``msgid`` and ``msgstr`` with continued string lines and C escapes (no plurals, no contexts).

Rules: a fuzzy or empty ``msgstr`` is left out of the ``.mo`` (so English shows); the ``.mo``
is deterministic (entries sorted by msgid, no hash table), so a committed file can be compared
byte for byte with a fresh compilation (``tools/compile_catalogs.py``; a test does).
"""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol.errors import WSLabError

__all__ = ["Entry", "PoError", "compile_mo", "parse_po", "quote"]


class PoError(WSLabError, ValueError):
    """A ``.po`` file this reader does not understand (the line is named)."""


@dataclass
class Entry:
    """One message: its English ``msgid``, its translation, and its comment lines."""

    msgid: str
    msgstr: str
    comments: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def fuzzy(self) -> bool:
        return any(c.startswith("#,") and "fuzzy" in c for c in self.comments)


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        raise PoError(f"{where}: expected a quoted string, got {text!r}")
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:
        raise PoError(f"{where}: bad string {text!r} ({exc})") from None
    if not isinstance(value, str):
        raise PoError(f"{where}: bad string {text!r}")
    return value


def parse_po(text: str, *, name: str = "catalogue") -> list[Entry]:
    """The entries of a ``.po`` file, the header (msgid "") included, in file order."""
    entries: list[Entry] = []
    comments: list[str] = []
    current: dict[str, list[str]] = {}
    key = ""
    start = 0

    def flush() -> None:
        nonlocal current, comments
        if current:
            if "msgid" not in current or "msgstr" not in current:
                raise PoError(f"{name}:{start}: an entry needs both msgid and msgstr")
            entries.append(Entry("".join(current["msgid"]), "".join(current["msgstr"]),
                                 comments, start))
            current, comments = {}, []

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name}:{n}"
        if not line:
            continue
        if line.startswith("#"):
            if current and "msgstr" in current:
                flush()
            comments.append(line)
        elif line.startswith(("msgid ", "msgstr ")):
            key, _, rest = line.partition(" ")
            if key == "msgid":
                flush()
                start = n
            if key in current:
                raise PoError(f"{where}: a second {key} in one entry")
            current[key] = [_unquote(rest, where)]
        elif line.startswith('"'):
            if not current:
                raise PoError(f"{where}: a string outside an entry")
            current[key].append(_unquote(line, where))
        else:
            raise PoError(f"{where}: not understood: {line[:40]!r} (plurals and contexts "
                          "are not used in wslab's catalogues)")
    flush()
    seen: set[str] = set()
    for e in entries:
        if e.msgid in seen:
            raise PoError(f"{name}:{e.line}: msgid {e.msgid[:40]!r} appears twice")
        seen.add(e.msgid)
    return entries


def compile_mo(entries: list[Entry]) -> bytes:
    """The GNU ``.mo`` bytes of ``entries`` (header kept; fuzzy and empty ones left out)."""
    pairs = sorted((e.msgid.encode("utf-8"), e.msgstr.encode("utf-8")) for e in entries
                   if e.msgstr and (not e.fuzzy or e.msgid == ""))
    n = len(pairs)
    ids_at = 28
    strs_at = ids_at + 8 * n
    data_at = strs_at + 8 * n
    blob = bytearray()
    id_table: list[int] = []
    str_table: list[int] = []
    for msgid, _ in pairs:
        id_table += [len(msgid), data_at + len(blob)]
        blob += msgid + b"\0"
    for _, msgstr in pairs:
        str_table += [len(msgstr), data_at + len(blob)]
        blob += msgstr + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, ids_at, strs_at, 0, data_at)
    return head + struct.pack(f"<{4 * n}I", *id_table, *str_table) + bytes(blob)


def quote(text: str) -> str:
    """``text`` as a PO string literal (one line; ``\\n`` escaped)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out.replace(chr(9), chr(92) + "t")}"'


def read(path: Path) -> list[Entry]:
    """The entries of the ``.po`` file at ``path``."""
    return parse_po(path.read_text("utf-8"), name=path.name)
