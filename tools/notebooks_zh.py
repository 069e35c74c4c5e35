"""The zh-CN edition of the course: generated from the English notebooks and translations
kept per cell, so the two editions cannot drift apart unnoticed.

    python tools/notebooks_zh.py build          # write notebooks/zh-CN/NN_*.ipynb
    python tools/notebooks_zh.py check          # what is stale, missing or out of date
    python tools/notebooks_zh.py todo NN_name   # the English cells a translation lacks
    python tools/notebooks_zh.py accept NN_name CELL_ID  # the translation of CELL_ID is
                                                # updated to the English cell as it is now

Rules (tests/test_notebooks_zh.py applies them):

- ``notebooks/zh-CN/translations/NN_name.json`` holds, for every cell of the English
  notebook (by the cell's id), the SHA-256 of the English source it was translated from
  (``"en"``, 16 hex digits) and the Chinese source (``"zh"``).  For a code cell ``"zh"`` may
  be left out: the cell is then the English one.
- An English cell changed after its translation (its hash differs), an English cell without
  an entry, and an entry for a cell the English notebook no longer has are errors.
- A translated code cell has the English tokens, except comments and the text of string
  literals shown to the learner (a string may differ only to hold Chinese).
- The generated notebook is the English one with every cell's source replaced; its first
  code cell starts with ``wslab.set_language("zh-CN")``.  It is committed, without outputs,
  and must equal a fresh build.
- A notebook not translated yet is listed in ``PENDING`` (a new English notebook must be
  added to one or the other).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
EDITION = ENGLISH / "zh-CN"
TRANSLATIONS = EDITION / "translations"
PATTERN = "[0-9][0-9]*_*.ipynb"
SET_LANGUAGE = ("import wslab\n"
                'wslab.set_language("zh-CN")  # 中文版:检查反馈、控件和图表都用中文\n')
#: English notebooks whose translation is still to be written (none now: a new English
#: notebook goes here until its translation exists).
PENDING: tuple[str, ...] = ()
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class Problem:
    """One reason the zh-CN edition is not in step with the English one."""

    notebook: str
    cell: str
    what: str

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell}: {self.what}"


def digest(source: str) -> str:
    """The hash a translation records of the English source it was made from."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def source_of(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _tokens(code: str) -> list[tuple[int, str]]:
    """The tokens that must match: comments and line breaks inside statements left out."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING}
    lines = [line for line in code.splitlines(keepends=True)
             if not line.lstrip().startswith(("%", "!"))]  # IPython magics: not Python
    toks = tokenize.generate_tokens(io.StringIO("".join(lines)).readline)
    out: list[tuple[int, str]] = []
    depth, parts = 0, []  # Python 3.12+ splits an f-string into tokens: join it again
    for t in toks:
        name = tokenize.tok_name.get(t.type, "")
        if name == "FSTRING_START" or depth:
            depth += (name == "FSTRING_START") - (name == "FSTRING_END")
            parts.append(t.string)
            if not depth:
                out.append((tokenize.STRING, "".join(parts)))
                parts = []
        elif t.type not in skip:
            out.append((t.type, t.string))
    return out


def _is_text(kind: int) -> bool:
    return kind == tokenize.STRING


def code_differences(english: str, chinese: str) -> str:
    """"" when ``chinese`` is ``english`` but for comments and translated strings, else why."""
    try:
        en, zh = _tokens(english), _tokens(chinese)
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        return f"the code does not tokenize: {exc}"
    if len(en) != len(zh):
        return f"{len(zh)} tokens where the English cell has {len(en)}"
    for (k1, s1), (k2, s2) in zip(en, zh, strict=True):
        if (k1, s1) == (k2, s2):
            continue
        if k1 == k2 and _is_text(k1) and CJK.search(s2):
            continue  # a learner-facing string, translated
        return f"{s2!r} where the English cell has {s1!r} (only comments and text may change)"
    return ""


def load(name: str, folder: Path = TRANSLATIONS) -> dict:
    path = folder / f"{Path(name).stem}.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def save(name: str, data: dict, folder: Path = TRANSLATIONS) -> None:
    path = folder / f"{Path(name).stem}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")


def translated(english: Path = ENGLISH) -> list[Path]:
    """The English notebooks that have a translation file."""
    folder = english / "zh-CN" / "translations"
    return [p for p in sorted(english.glob(PATTERN)) if (folder / f"{p.stem}.json").is_file()]


def problems(path: Path, *, folder: Path | None = None) -> list[Problem]:
    """Everything that keeps the translation of the English notebook ``path`` from being
    in step with it."""
    folder = folder or path.parent / "zh-CN" / "translations"
    cells = load(path.name, folder).get("cells", {})
    nb = json.loads(path.read_text("utf-8"))
    out = []
    ids = set()
    for cell in nb["cells"]:
        cid, src = cell["id"], source_of(cell)
        ids.add(cid)
        entry = cells.get(cid)
        if entry is None:
            out.append(Problem(path.name, cid, f"no translation ({cell['cell_type']} cell "
                                              f"starting {src[:40]!r})"))
            continue
        if entry.get("en") != digest(src):
            out.append(Problem(path.name, cid, "the English cell changed after it was "
                                              "translated: update the translation, then "
                                              "`python tools/notebooks_zh.py accept "
                                              f"{path.stem} {cid}`"))
        zh = entry.get("zh")
        if zh is None and cell["cell_type"] != "code":
            out.append(Problem(path.name, cid, "a text cell needs its Chinese text (\"zh\")"))
        if zh is not None and cell["cell_type"] == "code":
            why = code_differences(src, zh)
            if why:
                out.append(Problem(path.name, cid, why))
    out += [Problem(path.name, cid, "translation of a cell the English notebook does not have")
            for cid in sorted(set(cells) - ids)]
    return out


def build(path: Path, *, folder: Path | None = None) -> str:
    """The zh-CN notebook of the English notebook ``path``, as the text committed."""
    folder = folder or path.parent / "zh-CN" / "translations"
    cells = load(path.name, folder).get("cells", {})
    nb = json.loads(path.read_text("utf-8"))
    first_code = True
    for cell in nb["cells"]:
        entry = cells.get(cell["id"], {})
        src = entry.get("zh")
        if src is None:
            src = source_of(cell)
        if cell["cell_type"] == "code" and first_code:
            src = SET_LANGUAGE + src
            first_code = False
        cell["source"] = _lines(src)
    nb["metadata"]["wslab"] = {"edition": "zh-CN", "english": path.name}
    return json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def check(english: Path = ENGLISH) -> list[str]:
    """Every problem of the zh-CN edition, as lines to print."""
    out: list[str] = []
    done = translated(english)
    for path in sorted(english.glob(PATTERN)):
        if path not in done and path.name not in PENDING:
            out.append(f"{path.name}: no translation (tools/notebooks_zh.py PENDING lists the "
                       "notebooks still to translate)")
    for path in done:
        out += [str(p) for p in problems(path)]
        target = english / "zh-CN" / path.name
        if not target.is_file() or target.read_text("utf-8") != build(path):
            out.append(f"{path.name}: notebooks/zh-CN/{path.name} is out of date: run "
                       "`python tools/notebooks_zh.py build`")
    return out


def _todo(name: str) -> None:
    path = ENGLISH / f"{Path(name).stem}.ipynb"
    cells = load(path.name).get("cells", {})
    for cell in json.loads(path.read_text("utf-8"))["cells"]:
        src = source_of(cell)
        entry = cells.get(cell["id"])
        if entry is None or entry.get("en") != digest(src):
            print(f"=== {cell['id']} {cell['cell_type']} en={digest(src)}\n{src}\n")


def _accept(name: str, cid: str) -> None:
    path = ENGLISH / f"{Path(name).stem}.ipynb"
    data = load(path.name) or {"english": path.name, "cells": {}}
    cell = next(c for c in json.loads(path.read_text("utf-8"))["cells"] if c["id"] == cid)
    data["cells"].setdefault(cid, {})["en"] = digest(source_of(cell))
    save(path.name, data)


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        for path in translated():
            (EDITION / path.name).write_text(build(path), "utf-8")
            print(f"notebooks/zh-CN/{path.name} written")
        return 0
    if argv[:1] == ["check"]:
        found = check()
        print("\n".join(found) or "the zh-CN edition is in step with the English one")
        return 1 if found else 0
    if argv[:1] == ["todo"] and len(argv) == 2:
        _todo(argv[1])
        return 0
    if argv[:1] == ["accept"] and len(argv) == 3:
        _accept(argv[1], argv[2])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
