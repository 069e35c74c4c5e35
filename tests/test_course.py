"""`python -m wslab notebooks DEST`: the course reaches a student's folder, and their work stays.

The rules (wslab/course.py): missing notebooks are added, untouched ones updated, a notebook
the student changed is never written; a new course version goes beside it as NAME.new.ipynb.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wslab.course import MANIFEST, CourseError, deliver, source

ROOT = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A small course of three notebooks whose versions a test can change."""
    folder = tmp_path / "course"
    folder.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        (folder / name).write_text(json.dumps({"cells": [], "v": 1, "name": name}))
    return folder


def _new_version(course: Path, name: str) -> bytes:
    data = json.dumps({"cells": [], "v": 2, "name": name}).encode()
    (course / name).write_bytes(data)
    return data


def test_in_a_checkout_the_course_is_its_notebooks_folder():
    """(An installed wheel's is wslab/_course: tests/test_packaging.py.)"""
    assert source() == ROOT / "notebooks"


def test_fresh_dest_gets_every_notebook_byte_for_byte(tmp_path):
    dest = tmp_path / "home" / "wslab"  # made, parents too
    report = deliver(dest)
    wanted = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    wanted += sorted(f"zh-CN/{p.name}" for p in (ROOT / "notebooks" / "zh-CN").glob("*.ipynb"))
    assert "zh-CN/00_welcome.ipynb" in wanted  # the Chinese edition comes along
    assert report.added == wanted and not report.updated and not report.kept
    for name in wanted:
        assert (dest / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    manifest = json.loads((dest / MANIFEST).read_text())
    assert sorted(manifest["files"]) == wanted
    assert not [p for p in dest.iterdir() if p.name.endswith(".tmp")]


def test_rerun_changes_nothing(tmp_path, course):
    dest = tmp_path / "dest"
    deliver(dest, course=course)
    before = _snapshot(dest)
    report = deliver(dest, course=course)
    assert report.unchanged == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    assert not (report.added or report.updated or report.kept or report.yours)
    assert _snapshot(dest) == before  # not even rewritten (mtimes kept), manifest included


def test_a_notebook_the_student_changed_is_never_written(tmp_path, course):
    dest = tmp_path / "dest"
    deliver(dest, course=course)
    mine = b'{"cells": ["my answer"]}'
    (dest / "02_b.ipynb").write_bytes(mine)
    # the course has not changed: their file is theirs, and no copy is added beside it
    report = deliver(dest, course=course)
    assert report.yours == ["02_b.ipynb"] and not report.kept
    assert (dest / "02_b.ipynb").read_bytes() == mine
    assert not (dest / "02_b.new.ipynb").exists()
    # a new course version: theirs stays, the new one goes beside it, with a note
    new = _new_version(course, "02_b.ipynb")
    report = deliver(dest, course=course)
    assert report.kept == {"02_b.ipynb": "02_b.new.ipynb"}
    assert (dest / "02_b.ipynb").read_bytes() == mine
    assert (dest / "02_b.new.ipynb").read_bytes() == new
    assert "02_b.new.ipynb" in "\n".join(report.lines())
    # again: nothing moves
    before = _snapshot(dest)
    assert deliver(dest, course=course).kept == {"02_b.ipynb": "02_b.new.ipynb"}
    assert _snapshot(dest) == before
    # the student works in the .new copy too; a third version goes to .new-2
    (dest / "02_b.new.ipynb").write_bytes(b'{"cells": ["my second answer"]}')
    third = json.dumps({"cells": [], "v": 3}).encode()
    (course / "02_b.ipynb").write_bytes(third)
    assert deliver(dest, course=course).kept == {"02_b.ipynb": "02_b.new-2.ipynb"}
    assert (dest / "02_b.new.ipynb").read_bytes() == b'{"cells": ["my second answer"]}'
    assert (dest / "02_b.new-2.ipynb").read_bytes() == third


def test_untouched_notebooks_are_updated_and_deleted_ones_come_back(tmp_path, course):
    dest = tmp_path / "dest"
    deliver(dest, course=course)
    new = _new_version(course, "01_a.ipynb")
    (dest / "03_c.ipynb").unlink()
    (course / "04_d.ipynb").write_text("{}")
    report = deliver(dest, course=course)
    assert report.updated == ["01_a.ipynb"]
    assert report.added == ["03_c.ipynb", "04_d.ipynb"]
    assert (dest / "01_a.ipynb").read_bytes() == new
    assert not (dest / "01_a.new.ipynb").exists()


def test_a_folder_with_notebooks_of_unknown_origin_keeps_them(tmp_path, course):
    """No record of what was given (copied by hand earlier): a differing file is theirs."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "01_a.ipynb").write_bytes(b"from last term")
    report = deliver(dest, course=course)
    assert report.kept == {"01_a.ipynb": "01_a.new.ipynb"}
    assert (dest / "01_a.ipynb").read_bytes() == b"from last term"


def test_a_damaged_record_only_makes_it_more_careful(tmp_path, course):
    dest = tmp_path / "dest"
    deliver(dest, course=course)
    (dest / MANIFEST).write_text("{not json")
    _new_version(course, "01_a.ipynb")
    report = deliver(dest, course=course)
    assert report.kept == {"01_a.ipynb": "01_a.new.ipynb"}  # no proof it was untouched
    assert json.loads((dest / MANIFEST).read_text())["files"]  # and the record is whole again


def test_dest_that_is_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("x")
    with pytest.raises(CourseError, match="is a file, not a folder"):
        deliver(target)


def _without_write_rights() -> list[str]:
    """A prefix that runs a command unable to write where its owner's bits forbid (root
    included: the capabilities that let root ignore them are dropped)."""
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run a command as root without "
                    "CAP_DAC_OVERRIDE")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, "--bounding-set", drop, "--inh-caps", drop]


def test_non_writable_dest_is_a_clear_error_not_a_traceback():
    parent = Path(tempfile.mkdtemp(prefix="wslab-ro-"))
    try:
        os.chmod(parent, 0o555)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for dest, says in ((parent, f"cannot write into {parent}: permission denied"),
                           (parent / "sub", f"cannot create the folder {parent / 'sub'}")):
            proc = subprocess.run([*_without_write_rights(), sys.executable, "-m", "wslab",
                                   "notebooks", str(dest)], env=env, capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 2, proc.stderr
            assert says in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
        assert list(parent.iterdir()) == []
    finally:
        os.chmod(parent, 0o755)
        shutil.rmtree(parent)


def test_the_command_reports_what_it_did(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dest = tmp_path / "wslab"
    run = [sys.executable, "-m", "wslab", "notebooks", str(dest)]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    count = len(list((ROOT / "notebooks").glob("*.ipynb")))
    count += len(list((ROOT / "notebooks" / "zh-CN").glob("*.ipynb")))  # the zh-CN edition
    assert f": {count} added, 0 updated, 0 unchanged" in first.stdout, first.stdout
    assert "  added      03_echo_server_and_client.ipynb" in first.stdout
    mine = dest / "03_echo_server_and_client.ipynb"
    mine.write_text(mine.read_text().replace('"cells": [', '"cells": [\n', 1))
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "0 added, 0 updated" in again.stdout, again.stdout
    assert "added      " not in again.stdout and again.stderr == ""


def test_readme_gives_the_hub_the_spawner_command_the_hub_test_runs():
    """README's jupyterhub_config.py lines are the ones tests/test_hub.py starts servers with."""
    import re
    import types

    from tests.hub import SPAWNER_CMD

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (block,) = [b for b in blocks if "c.Spawner.cmd" in b]
    c = types.SimpleNamespace(Spawner=types.SimpleNamespace())
    exec(block, {"c": c})  # noqa: S102 - our own README
    assert c.Spawner.cmd == SPAWNER_CMD
