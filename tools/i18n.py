"""The message catalogues: add new messages to the .po files, compile them to .mo.

    python tools/i18n.py extract   # every _()/N_() message of wslab/ into each .po
                                   # (new ones with an empty msgstr, to translate)
    python tools/i18n.py compile   # each .po -> its .mo (committed; a test compares)
    python tools/i18n.py check     # what a catalogue still lacks

Rules: the .po files are the source a translator edits; the .mo files are built from them and
committed, so an installed wslab needs no build tool.  Entries no message uses any more are
kept, marked "#~ unused" by extract, so a translator sees them go.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wslab.i18n import DOMAIN, LOCALE_DIR  # noqa: E402
from wslab.i18n.catalogue import missing, scan  # noqa: E402
from wslab.i18n.po import Entry, compile_mo, quote, read  # noqa: E402


def catalogues() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _format(entries: list[Entry]) -> str:
    out = []
    for e in entries:
        out += e.comments
        out.append(f"msgid {quote(e.msgid)}")
        out.append(f"msgstr {quote(e.msgstr)}")
        out.append("")
    return "\n".join(out)


def extract() -> None:
    messages = scan(ROOT / "wslab")
    wanted: dict[str, list[str]] = {}
    for m in messages:
        wanted.setdefault(m.msgid, []).append(m.where)
    for po in catalogues():
        entries = read(po)
        have = {e.msgid for e in entries}
        for e in entries:
            e.comments = [c for c in e.comments if not c.startswith(("#:", "#~ unused"))]
            if e.msgid and e.msgid not in wanted:
                e.comments.append("#~ unused")
            elif e.msgid:
                e.comments.append("#: " + " ".join(wanted[e.msgid][:3]))
        new = [Entry(i, "", ["#: " + " ".join(w[:3])]) for i, w in wanted.items() if i not in have]
        po.write_text(_format(entries + new), "utf-8")
        print(f"{po.relative_to(ROOT)}: {len(new)} new, "
              f"{len(missing(messages, entries + new))} to translate")


def compile_all() -> None:
    for po in catalogues():
        po.with_suffix(".mo").write_bytes(compile_mo(read(po)))
        print(f"{po.with_suffix('.mo').relative_to(ROOT)} written")


def check() -> int:
    messages = scan(ROOT / "wslab")
    bad = 0
    for po in catalogues():
        for m in missing(messages, read(po)):
            print(f"{po.parent.parent.name}: no entry for {m.msgid!r} ({m.where})")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "extract":
        extract()
    elif command == "compile":
        compile_all()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
