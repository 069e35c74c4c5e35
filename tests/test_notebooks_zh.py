"""The zh-CN edition is in step with the English one: every cell translated from the English
cell as it is now, code cells the same code, the generated notebooks up to date."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("notebooks_zh", ROOT / "tools" / "notebooks_zh.py")
nz = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("notebooks_zh", nz)  # its dataclasses look their module up
_spec.loader.exec_module(nz)

TRANSLATED = nz.translated()


def test_the_zh_cn_edition_is_in_step_with_the_english_one():
    assert nz.check() == []


def test_every_english_notebook_is_translated_or_listed_as_pending():
    english = {p.name for p in (ROOT / "notebooks").glob(nz.PATTERN)}
    done = {p.name for p in TRANSLATED}
    assert done and done.isdisjoint(nz.PENDING)
    assert done | set(nz.PENDING) == english
    assert sorted(p.name for p in (ROOT / "notebooks" / "zh-CN").glob(nz.PATTERN)) == \
        sorted(done)  # no generated notebook without its translation


def _copy(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    (tmp_path / "zh-CN" / "translations").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    stem = pathlib.Path(name).stem
    shutil.copy(nz.TRANSLATIONS / f"{stem}.json", tmp_path / "zh-CN" / "translations")
    return tmp_path / name


def _edit_cell(path: pathlib.Path, kind: str, change) -> str:  # noqa: ANN001
    nb = json.loads(path.read_text("utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == kind)
    cell["source"] = change(nz.source_of(cell))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return cell["id"]


@pytest.mark.parametrize("kind", ["markdown", "code"])
def test_an_english_cell_changed_after_translation_fails(tmp_path, kind):
    path = _copy(tmp_path, TRANSLATED[0].name)
    assert nz.problems(path) == []
    cid = _edit_cell(path, kind, lambda src: src + "\n# one more line")
    found = nz.problems(path)
    assert [(p.cell, "changed after it was translated" in p.what) for p in found] == \
        [(cid, True)]


def test_a_cell_without_translation_fails(tmp_path):
    path = _copy(tmp_path, TRANSLATED[0].name)
    nb = json.loads(path.read_text("utf-8"))
    nb["cells"].append({"cell_type": "markdown", "id": "new-cell", "metadata": {},
                        "source": ["## A new section\n"]})
    path.write_text(json.dumps(nb, indent=1), "utf-8")
    assert [(p.cell, p.what[:14]) for p in nz.problems(path)] == [("new-cell", "no translation")]


def test_a_translation_of_a_removed_cell_fails(tmp_path):
    path = _copy(tmp_path, TRANSLATED[0].name)
    nb = json.loads(path.read_text("utf-8"))
    gone = nb["cells"].pop(0)["id"]
    path.write_text(json.dumps(nb, indent=1), "utf-8")
    assert [p.cell for p in nz.problems(path)] == [gone]


def test_a_generated_notebook_out_of_date_fails(tmp_path, monkeypatch):
    name = TRANSLATED[0].name
    edition = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", edition)
    assert nz.check(edition) == []
    stale = edition / "zh-CN" / name
    stale.write_text(stale.read_text("utf-8").replace("欢迎", "歡迎", 1), "utf-8")
    assert nz.check(edition) == [f"{name}: notebooks/zh-CN/{name} is out of date: run "
                                 "`python tools/notebooks_zh.py build`"]


def test_code_cells_differ_only_in_comments_and_translated_text():
    en = 'x = f(1, "done")   # stop here\nprint("stopped", x)\n'
    assert nz.code_differences(en, 'x = f(1, "done")   # 在这里停\nprint("已停止", x)\n') == ""
    assert nz.code_differences(en, 'x = f(2, "done")\nprint("stopped", x)\n') != ""
    assert nz.code_differences(en, 'x = f(1, "end")\nprint("stopped", x)\n') != ""  # not text
    assert nz.code_differences(en, '# 说明\n# 两行\nx = f(1, "done")\nprint("stopped", x)\n') == ""


def test_the_zh_cn_notebooks_choose_chinese_in_their_first_code_cell():
    for path in TRANSLATED:
        nb = json.loads((ROOT / "notebooks" / "zh-CN" / path.name).read_text("utf-8"))
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]).startswith(nz.SET_LANGUAGE)
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        english = json.loads(path.read_text("utf-8"))
        assert [c["id"] for c in nb["cells"]] == [c["id"] for c in english["cells"]]


def test_chinese_text_is_never_broken_between_two_characters():
    """A line break inside a paragraph renders as a space: between two Chinese characters
    that is a stray gap ("一条典型的 消息"), so Chinese paragraphs are not hard-wrapped."""
    cjk = nz.CJK.pattern
    broken = []
    for path in TRANSLATED:
        markdown = {c["id"] for c in json.loads(path.read_text("utf-8"))["cells"]
                    if c["cell_type"] == "markdown"}
        for cid, entry in nz.load(path.name)["cells"].items():
            if cid not in markdown:
                continue
            text, fence = entry.get("zh") or "", False
            lines = text.split("\n")
            for a, b in zip(lines, lines[1:], strict=False):
                fence ^= a.lstrip().startswith("```")
                if fence or b.lstrip().startswith(("- ", "* ", "|", "#", ">", "```")):
                    continue
                if re.search(cjk + "$", a) and re.match(r"\s*" + cjk, b):
                    broken.append(f"{path.name} {cid}: {a[-10:]!r} / {b[:10]!r}")
    assert not broken, broken[:10]
