"""The course's notebooks, delivered into a student's folder without overwriting their work.

``python -m wslab notebooks DEST`` (or :func:`deliver`) copies every file of the course into
``DEST`` by these rules, so it can run at every login (a hub image's start hook) or by hand:

- a notebook ``DEST`` lacks is added (one a student deleted comes back fresh);
- a notebook identical to the course's is left alone;
- a notebook this command wrote earlier and nobody has changed since is updated to the
  course's new version (nothing of the student's is in it);
- any other notebook that differs (the student worked in it, ran it and saved outputs, or it
  came from elsewhere) is the student's and is never touched.  When the course's version is
  not the one this command gave them (a new version, or none recorded), it is written beside
  theirs as ``NAME.new.ipynb`` (``NAME.new-2.ipynb``... when the student has changed that
  one too) and reported.

What was written is remembered in ``DEST/.wslab-course.json`` (file name -> SHA-256 of the
bytes written), which is how an unchanged copy is told from the student's work.  Running it
again changes nothing.  The course comes from the installed package (``wslab/_course``,
copied from ``notebooks/`` when the wheel is built) or, in a checkout or an editable install,
from the checkout's ``notebooks/`` folder itself.  The zh-CN edition comes along in
``DEST/zh-CN/`` by the same rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .protocol.errors import WSLabError

__all__ = ["MANIFEST", "CourseError", "Delivery", "deliver", "source"]

MANIFEST = ".wslab-course.json"
#: Editions of the course in other languages: a sub-folder each, delivered as ``DEST/zh-CN/``.
EDITIONS = ("zh-CN",)
_CHECKOUT = Path(__file__).resolve().parents[1]


class CourseError(WSLabError):
    """The course cannot be delivered (no course found, a folder that cannot be written)."""


def source() -> Traversable:
    """Where the course is: the installed copy, else the checkout's ``notebooks/``."""
    packaged = resources.files("wslab").joinpath("_course")
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT / "notebooks"
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise CourseError("this wslab has no course notebooks: it was installed without them "
                      "(reinstall it from a wheel or with `pip install` of a checkout)")


def _course_files(folder: Traversable) -> Iterator[tuple[str, Traversable]]:
    """(name in DEST, file): the course's files, then each edition's as ``EDITION/name``."""
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.is_file() and not item.name.startswith("."):
            yield item.name, item
    for edition in EDITIONS:
        sub = folder.joinpath(edition)
        if sub.is_dir():
            for item in sorted(sub.iterdir(), key=lambda t: t.name):
                if item.is_file() and item.name.endswith(".ipynb"):
                    yield f"{edition}/{item.name}", item


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Delivery:
    """What :func:`deliver` did, file by file (names relative to ``dest``)."""

    dest: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    yours: list[str] = field(default_factory=list)  # changed by the student, course the same
    kept: dict[str, str] = field(default_factory=dict)  # student's file -> the new version

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged) + len(self.yours)} unchanged, "
                f"{len(self.kept)} with a new version beside yours")

    def lines(self) -> list[str]:
        """One line per notebook that changed or was kept aside, for the terminal."""
        out = [f"  added      {n}" for n in self.added]
        out += [f"  updated    {n} (you had not changed it)" for n in self.updated]
        out += [f"  kept       {n} is yours (you changed it); the course's new version "
                f"is beside it as {new}" for n, new in self.kept.items()]
        return out


def _aside_names(name: str) -> Iterator[str]:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    yield f"{stem}.new{suffix}"
    for i in range(2, 1000):
        yield f"{stem}.new-{i}{suffix}"


class _Folder:
    """``dest`` and its manifest: every write goes through here (atomically, by rename)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.written = self._read_manifest()

    def _read_manifest(self) -> dict[str, str]:
        try:
            data = json.loads((self.dest / MANIFEST).read_text("utf-8"))
            files = data.get("files", {}) if isinstance(data, dict) else {}
            return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
        except (OSError, ValueError):  # none yet, or damaged: a differing file is the student's
            return {}

    def digest_of(self, name: str) -> str | None:
        """SHA-256 of the file at ``name``; None when there is none ("-" for a folder)."""
        path = self.dest / name
        if path.is_dir():
            return "-"
        try:
            return _digest(path.read_bytes())
        except FileNotFoundError:
            return None

    def ours(self, name: str, digest: str | None) -> bool:
        """Is the file at ``name`` exactly what this command wrote there last?"""
        return digest is not None and self.written.get(name) == digest

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` and remember its digest."""
        self._replace(name, data)
        self.written[name] = _digest(data)

    def _replace(self, name: str, data: bytes) -> None:
        """Write ``name`` whole or not at all (a temporary file renamed over it)."""
        tmp = self.dest / f".wslab-{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.dest / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def save_manifest(self, version: str) -> None:
        text = json.dumps({"wslab": version, "files": dict(sorted(self.written.items()))},
                          indent=1) + "\n"
        path = self.dest / MANIFEST
        if not path.is_file() or path.read_text("utf-8") != text:
            self._replace(MANIFEST, text.encode("utf-8"))


def _place(folder: _Folder, name: str, data: bytes, report: Delivery) -> None:
    want = _digest(data)
    have = folder.digest_of(name)
    if have == want:
        folder.written[name] = want
        report.unchanged.append(name)
    elif have is None:
        folder.write(name, data)
        report.added.append(name)
    elif folder.ours(name, have):
        folder.write(name, data)
        report.updated.append(name)
    elif folder.written.get(name) == want:  # the student's work on the version they were given
        report.yours.append(name)
    else:  # the student's, and the course has a new version: it goes beside theirs
        for aside in _aside_names(name):
            there = folder.digest_of(aside)
            if there == want:
                folder.written.setdefault(aside, want)
                break
            if there is None or folder.ours(aside, there):
                folder.write(aside, data)
                break
        report.kept[name] = aside


def _prepare(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise CourseError(f"{dest} is a file, not a folder: give a folder for the notebooks")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CourseError(f"cannot create the folder {dest}: {exc.strerror}") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise CourseError(f"cannot write into {dest}: permission denied (run this as the "
                          "folder's owner, or give a folder you can write, such as ~/wslab)")


def deliver(dest: str | os.PathLike[str], *, course: Traversable | None = None) -> Delivery:
    """Copy the course (``course``: a folder of notebooks, by default :func:`source`) into
    ``dest`` by the rules above; :class:`CourseError` if it cannot."""
    from . import __version__

    path = Path(dest).expanduser().absolute()
    _prepare(path)
    folder, report = _Folder(path), Delivery(path)
    try:
        for name, item in _course_files(source() if course is None else course):
            if "/" in name:
                (path / name).parent.mkdir(exist_ok=True)
            _place(folder, name, item.read_bytes(), report)
        folder.save_manifest(__version__)
    except PermissionError as exc:
        raise CourseError(f"cannot write into {path}: permission denied "
                          f"({exc.filename or path})") from None
    except OSError as exc:
        raise CourseError(f"cannot write into {path}: {exc.strerror}") from None
    return report
