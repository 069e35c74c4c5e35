"""docs/glossary.zh-CN.md fixes one translation per term, and the zh-CN texts follow it."""

from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.zh-CN.md"


def _rows() -> list[list[str]]:
    rows = []
    for line in GLOSSARY.read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and cells[0] not in ("English", "---"):
            rows.append(cells)
    return rows


def _chinese_texts() -> dict[str, str]:
    from wslab.i18n import po
    texts = {}
    for e in po.read(ROOT / "wslab" / "locale" / "zh_CN" / "LC_MESSAGES" / "wslab.po"):
        if e.msgid:
            texts[f"wslab.po: {e.msgid[:40]!r}"] = e.msgstr
    for path in (ROOT / "notebooks" / "zh-CN" / "translations").glob("*.json"):
        for cid, entry in json.loads(path.read_text("utf-8"))["cells"].items():
            texts[f"{path.name} cell {cid}"] = entry.get("zh", "")
    for path in [ROOT / "README.zh-CN.md", ROOT / "docs" / "teaching.zh-CN.md"]:
        texts[path.name] = path.read_text("utf-8")
    return texts


def test_the_glossary_has_one_translation_per_term():
    rows = _rows()
    assert len(rows) >= 30
    english = [r[0] for r in rows]
    assert len(set(english)) == len(english)
    assert all(r[1] and "、" not in r[1] for r in rows), "one translation per term"
    for term in ("握手", "帧", "掩码", "心跳", "子协议", "扩展", "关闭码", "重连", "背压"):
        assert any(term == r[1] or term in r[1].split(" / ") for r in rows), term


def test_the_zh_cn_texts_never_use_the_variants_the_glossary_rules_out():
    avoided = {w.strip(): r[0] for r in _rows() for w in r[3].split("、") if w.strip()}
    assert avoided, "the glossary names variants not to use"
    found = [f"{where}: {word} ({term})" for where, text in _chinese_texts().items()
             for word, term in avoided.items() if word in text]
    assert not found, found
