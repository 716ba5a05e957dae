"""Find and delete junk safely: the library behind ``mltools clean``.

``find_candidates`` walks the roots without following symlinks and returns
what matches; ``delete_candidates`` removes exactly that list (or moves it to
the FreeDesktop trash), re-checking each entry first so that nothing outside
the roots and nothing replaced by a symlink since the preview is touched.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mltools.errors import UsageError
from mltools.files.walk import walk_sorted

PRESETS: dict[str, str] = {
    "mac-junk": ".DS_Store and AppleDouble ._* files",
    "pycache": "__pycache__ directories and stray *.pyc/*.pyo files",
    "ipynb-checkpoints": ".ipynb_checkpoints directories",
    "empty": "empty files and empty directories",
}


@dataclass
class CleanSpec:
    """What to match. Name globs and presets are alternatives (OR); the rest narrow (AND).

    Directories match only by name/preset, ``empty_dirs`` or ``type="d"``: an age or
    size filter alone selects files.
    """

    names: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    empty_files: bool = False
    empty_dirs: bool = False
    smaller_bytes: int | None = None
    larger_bytes: int | None = None
    older_than_seconds: float | None = None
    newer_than_seconds: float | None = None
    type: str | None = None  # "f" or "d"

    def validate(self) -> None:
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise UsageError(
                f"unknown preset {unknown[0]!r}", hint=f"presets: {', '.join(PRESETS)}"
            )
        if self.type not in (None, "f", "d"):
            raise UsageError(f"--type must be f or d, not {self.type!r}")
        if not (
            self.names
            or self.presets
            or self.empty_files
            or self.empty_dirs
            or self.smaller_bytes is not None
            or self.larger_bytes is not None
            or self.older_than_seconds is not None
            or self.newer_than_seconds is not None
        ):
            raise UsageError(
                "no filter given: that would match everything",
                hint="add --name GLOB, --preset NAME, --empty, --older-than AGE, --larger SIZE ...",
            )


@dataclass
class Candidate:
    """One entry that matched: ``size_bytes`` of a directory is the total of its files."""

    path: str
    type: str  # "f" or "d"
    size_bytes: int
    mtime: float
    reason: str
    files: int = 1


@dataclass
class CleanResult:
    deleted: list[Candidate] = field(default_factory=list)
    failed: list[tuple[Candidate, str]] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(c.size_bytes for c in self.deleted)


def _preset_match(name: str, is_dir: bool, presets: list[str]) -> str | None:
    for preset in presets:
        if preset == "mac-junk" and not is_dir and (name == ".DS_Store" or name.startswith("._")):
            return preset
        if preset == "pycache" and (
            (is_dir and name == "__pycache__") or (not is_dir and name.endswith((".pyc", ".pyo")))
        ):
            return preset
        if preset == "ipynb-checkpoints" and is_dir and name == ".ipynb_checkpoints":
            return preset
    return None


def _tree_size(path: str) -> tuple[int, int]:
    """(bytes, files) under a directory, symlinks not followed."""
    total = count = 0
    stack = [path]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                            count += 1
                    except OSError:
                        continue
        except OSError:
            continue
    return total, count


def find_candidates(
    roots: Iterable[str | os.PathLike[str]],
    spec: CleanSpec,
    *,
    now: float | None = None,
    on_error: Callable[[str, OSError], None] | None = None,
) -> list[Candidate]:
    """Everything under ``roots`` that ``spec`` matches, in walk order.

    Symlinks are never followed and never matched. A matched directory is
    listed once (with its total size) and not descended into. A root itself is
    never a candidate. Missing roots raise ``FileNotFoundError``.
    """
    spec.validate()
    now = time.time() if now is None else now
    root_list = [os.fspath(r) for r in roots]
    for root in root_list:
        st = os.lstat(root)
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"not a directory: {root}", hint="clean walks directories; give the folder"
            )
    wants_name = bool(spec.names or spec.presets)
    # a name must match before anything else counts: most entries are ruled out by name alone
    names_only = wants_name and "empty" not in spec.presets
    need_empty_dir = spec.empty_dirs or "empty" in spec.presets
    out: list[Candidate] = []

    def name_reason(name: str, is_dir: bool) -> str | None:
        reason = _preset_match(name, is_dir, spec.presets)
        if reason is None:
            reason = next((g for g in spec.names if fnmatch.fnmatchcase(name, g)), None)
        return reason

    def matches(name: str, st: os.stat_result, is_dir: bool, empty_dir: bool) -> str | None:
        reason = None
        if wants_name:
            reason = name_reason(name, is_dir)
            if reason is None and not (
                "empty" in spec.presets and (empty_dir if is_dir else st.st_size == 0)
            ):
                return None
            reason = reason or "empty"
        if (spec.type == "f" and is_dir) or (spec.type == "d" and not is_dir):
            return None
        if is_dir and reason is None and spec.type != "d" and not (spec.empty_dirs and empty_dir):
            # age/size alone never take a whole directory (a dir's mtime says nothing about
            # the files inside): directories go only by name, preset, --empty-dirs or --type d
            return None
        if spec.empty_files or spec.empty_dirs:
            ok = (spec.empty_dirs and is_dir and empty_dir) or (
                spec.empty_files and not is_dir and st.st_size == 0
            )
            if not ok:
                return None
            reason = reason or "empty"
        if not is_dir:
            if spec.smaller_bytes is not None and not st.st_size < spec.smaller_bytes:
                return None
            if spec.larger_bytes is not None and not st.st_size > spec.larger_bytes:
                return None
        elif (spec.smaller_bytes is not None or spec.larger_bytes is not None) and spec.type != "d":
            return None
        age = now - st.st_mtime
        if spec.older_than_seconds is not None and not age > spec.older_than_seconds:
            return None
        if spec.newer_than_seconds is not None and not age < spec.newer_than_seconds:
            return None
        return reason or "filter"

    for root in root_list:
        for entries, subdirs in walk_sorted(root, on_error):
            for entry in entries:
                try:
                    # d_type from the directory listing: no stat needed to skip most entries
                    if entry.is_symlink():
                        continue
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if names_only and name_reason(entry.name, is_dir) is None:
                        if is_dir:
                            subdirs.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    if on_error:
                        on_error(entry.path, exc)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                empty_dir = False
                if is_dir and need_empty_dir:
                    try:
                        with os.scandir(entry.path) as sub:
                            empty_dir = next(sub, None) is None
                    except OSError:
                        empty_dir = False
                reason = matches(entry.name, st, is_dir, empty_dir)
                if reason is None:
                    if is_dir:
                        subdirs.append(entry.path)
                    continue
                if is_dir:
                    size, files = _tree_size(entry.path)
                    out.append(Candidate(entry.path, "d", size, st.st_mtime, reason, files))
                else:
                    out.append(Candidate(entry.path, "f", st.st_size, st.st_mtime, reason))
    return out


def _inside(path: str, roots: list[str]) -> bool:
    """True when ``path``'s parent resolves to a place inside one of ``roots``."""
    parent = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for root in roots:
        real = os.path.realpath(root)
        if parent == real or parent.startswith(real.rstrip(os.sep) + os.sep):
            return True
    return False


def delete_candidates(
    candidates: Iterable[Candidate],
    roots: Iterable[str | os.PathLike[str]],
    *,
    trash: bool = False,
    on_progress: Callable[[Candidate], None] | None = None,
) -> CleanResult:
    """Delete (or trash) exactly ``candidates``; a failure on one is recorded, the rest go on.

    Each entry is re-checked first: it must still sit inside one of ``roots``
    (symlinks resolved on the parent) and must not have turned into a symlink.
    Directories are removed with ``shutil.rmtree``, which does not follow
    symlinks inside them.
    """
    root_list = [os.fspath(r) for r in roots]
    result = CleanResult()
    for cand in candidates:
        try:
            if not _inside(cand.path, root_list):
                raise PermissionError(1, "outside the given roots, left alone", cand.path)
            st = os.lstat(cand.path)
            if stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode) != (cand.type == "d"):
                raise PermissionError(1, "changed since the preview, left alone", cand.path)
            if trash:
                from mltools.files.trash import move_to_trash

                move_to_trash(cand.path)
            elif cand.type == "d":
                shutil.rmtree(cand.path)
            else:
                os.unlink(cand.path)
        except OSError as exc:
            result.failed.append((cand, exc.strerror or str(exc)))
        else:
            result.deleted.append(cand)
        if on_progress:
            on_progress(cand)
    return result


def cron_line(schedule: str, argv: list[str]) -> str:
    """A crontab line that runs ``argv`` on ``schedule`` (5 fields or @daily-style)."""
    import shlex

    fields = schedule.split()
    if not (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))):
        raise UsageError(
            f"not a cron schedule: {schedule!r}",
            hint='give five fields, e.g. "30 23 * * *", or @daily/@hourly/@weekly',
        )
    command = shlex.join(argv).replace("%", "\\%")  # cron turns a bare % into a newline
    return f"{' '.join(fields)} {command}"
