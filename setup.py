"""The one build step pyproject.toml cannot declare: the course goes into the wheel.

``notebooks/`` stays the course's single source; a wheel (``pip install .``, ``python -m
build``) carries a copy made at build time as ``wslab/_course/``, which ``python -m wslab
notebooks DEST`` hands to students.  An editable install and a checkout read ``notebooks/``
itself (``wslab.course``).  Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

COURSE = Path(__file__).resolve().parent / "notebooks"


#: The course in other languages: ``notebooks/zh-CN/*.ipynb`` goes to ``wslab/_course/zh-CN/``.
EDITIONS = ("zh-CN",)


def course_files(folder: Path = COURSE) -> list[Path]:
    """The files of the course: every visible file directly in ``notebooks/``, and the
    notebooks of each edition's folder (not its translation sources)."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    for edition in EDITIONS:
        files += (folder / edition).glob("*.ipynb")
    return sorted(files)


class BuildWithCourse(build_py):
    """``build_py``, then a fresh copy of the course into ``wslab/_course``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's notebooks/ are read in place
        target = Path(self.build_lib, "wslab", "_course")
        shutil.rmtree(target, ignore_errors=True)  # no notebook left over from an older build
        target.mkdir(parents=True)
        for path in course_files():
            copy = target / path.relative_to(COURSE)
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, copy)


setup(cmdclass={"build_py": BuildWithCourse})
