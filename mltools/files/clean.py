"""Find and delete junk safely: the library behind ``mltools clean``.

``find_candidates`` walks the roots by directory file descriptor (``openat``
with ``O_NOFOLLOW``, see ``walk.walk_fd``), never following symlinks, staying on
the root's filesystem unless asked, and returns what matches, each with the
``(st_dev, st_ino)`` of the entry and of its parent. ``delete_candidates``
removes exactly that list (or moves it to the FreeDesktop trash): it re-opens
the parent from the root one name at a time with ``O_NOFOLLOW``, checks that
the parent and the entry are still the inodes previewed, and removes with
``unlinkat``/``rmdir`` relative to the parent's descriptor (folders by an
fd-based walk of their own). No path is resolved twice, so swapping a path
component for a symlink (``renameat2(RENAME_EXCHANGE)``) while ``clean`` runs
makes the deletion fail instead of redirecting it outside the root.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mltools.errors import UsageError
from mltools.files.exclude import Exclude
from mltools.files.fnmatch3 import GlobError, check_pattern, fnmatch
from mltools.files.walk import join, open_dir, open_parts, walk_fd

# find -type letters; without --type only regular files and directories are candidates
KINDS = {
    "f": "regular file",
    "d": "directory",
    "l": "symbolic link",
    "p": "FIFO",
    "s": "socket",
    "b": "block device",
    "c": "character device",
}
DEFAULT_KINDS = frozenset("fd")

# Folders that are never a sensible root for a bulk delete (refused without allow_system_root)
SYSTEM_ROOTS = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/usr",
        "/var",
        "/usr/bin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/sbin",
        "/usr/share",
        "/usr/include",
        "/var/lib",
        "/var/log",
        "/snap",
        "/mnt",
        "/media",
    ]
)


def kind_letter(mode: int) -> str:
    """``find -type`` letter of a ``st_mode``."""
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    if stat.S_ISFIFO(mode):
        return "p"
    if stat.S_ISSOCK(mode):
        return "s"
    if stat.S_ISBLK(mode):
        return "b"
    return "c"


def parse_types(text: str | None) -> frozenset[str] | None:
    """``"f"``, ``"f,d"``, ``"fd"`` -> a set of find -type letters; ``None`` stays None."""
    if text is None:
        return None
    letters = [ch for ch in text if ch != ","]
    bad = [ch for ch in letters if ch not in KINDS]
    if not letters or bad:
        raise UsageError(
            f"--type must be one or more of {', '.join(KINDS)}, not {text!r}",
            hint="f files, d directories, l symlinks, p FIFOs, s sockets, b/c devices; e.g. --type f,l",
        )
    return frozenset(letters)


PRESETS: dict[str, str] = {
    "mac-junk": ".DS_Store and AppleDouble ._* files",
    "pycache": "__pycache__ directories and stray *.pyc/*.pyo files",
    "ipynb-checkpoints": ".ipynb_checkpoints directories",
    "empty": "empty files and empty directories",
}


@dataclass
class CleanSpec:
    """What to match. Name globs and presets are alternatives (OR); the rest narrow (AND).

    Directories match only by name/preset, ``empty_dirs`` or ``type`` naming ``d``: an
    age or size filter alone selects files. ``type`` takes find's letters (``"f"``,
    ``"d"``, ``"f,l"`` ...); without it only regular files and directories are
    candidates: symlinks, FIFOs, sockets and devices never are unless named.
    ``names`` are ``find -name`` globs (``fnmatch(3)``: ``[!a]``, ``[^a]``,
    ``[[:digit:]]``, backslash escapes). ``exclude`` patterns prune: an excluded entry is
    never a candidate and an excluded directory is not entered (``find -prune``).
    """

    names: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    empty_files: bool = False
    empty_dirs: bool = False
    smaller_bytes: int | None = None
    larger_bytes: int | None = None
    older_than_seconds: float | None = None
    newer_than_seconds: float | None = None
    type: str | None = None  # find -type letters: "f", "d", "f,l" ...
    exclude: list[str] = field(default_factory=list)  # pruned: see mltools.files.exclude

    def kinds(self) -> frozenset[str]:
        return parse_types(self.type) or DEFAULT_KINDS

    def validate(self) -> None:
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise UsageError(
                f"unknown preset {unknown[0]!r}", hint=f"presets: {', '.join(PRESETS)}"
            )
        parse_types(self.type)
        Exclude(self.exclude)  # a bad pattern is a usage error before anything is read
        for glob in self.names:
            try:
                check_pattern(glob)
            except GlobError as exc:
                raise UsageError(
                    f"bad --name: {exc}", hint="give a glob such as '*.tmp' or '[!.]*'"
                ) from None
        for label, value in (
            ("--smaller", self.smaller_bytes),
            ("--larger", self.larger_bytes),
            ("--older-than", self.older_than_seconds),
            ("--newer-than", self.newer_than_seconds),
        ):
            if value is not None and not (value >= 0 and value != float("inf")):
                raise UsageError(f"{label} must be a finite, non-negative value, not {value!r}")
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
    """One entry that matched: ``size_bytes`` of a directory is the total of its files.

    ``type`` is find's letter (``f``, ``d``, ``l`` ...). ``root`` and ``parts`` (the
    names from the root down to the entry) are how ``delete_candidates`` reaches it
    again, and ``key``/``parent_key`` the ``(st_dev, st_ino)`` seen at preview time.
    """

    path: str
    type: str
    size_bytes: int
    mtime: float
    reason: str
    files: int = 1
    root: str = ""
    parts: tuple[str, ...] = ()
    key: tuple[int, int] | None = None
    parent_key: tuple[int, int] | None = None


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


def _tree_size(dir_fd: int, name: str, path: str, one_file_system: bool) -> tuple[int, int]:
    """(bytes, entries) under the directory ``name`` of ``dir_fd``, symlinks not followed."""
    total = count = 0
    for visit in walk_fd(path, None, sort=False, one_file_system=one_file_system, dir_fd=dir_fd):
        for entry in visit.entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    visit.descend.append(entry.name)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
                    count += 1
            except OSError:
                continue
    return total, count


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def check_roots(roots: Iterable[str], *, allow_system_root: bool = False) -> None:
    """Refuse ``/`` and other system folders as roots unless ``allow_system_root``."""
    if allow_system_root:
        return
    home_parent = os.path.dirname(_real(os.path.expanduser("~")))
    for root in roots:
        real = _real(root)
        if real in SYSTEM_ROOTS or real == home_parent:
            raise UsageError(
                f"refusing to clean the system folder {real}",
                hint="name a folder below it, or pass --allow-system-root if you really mean it",
            )


def find_candidates(
    roots: Iterable[str | os.PathLike[str]],
    spec: CleanSpec,
    *,
    now: float | None = None,
    on_error: Callable[[str, OSError], None] | None = None,
    one_file_system: bool = True,
    allow_system_root: bool = False,
) -> list[Candidate]:
    """Everything under ``roots`` that ``spec`` matches, in walk order.

    Symlinks are never followed (nor matched, unless ``spec.type`` has ``l``). A
    matched directory is listed once (with its total size) and not descended
    into. A root itself is never a candidate. Other filesystems mounted below a
    root are not entered unless ``one_file_system=False``. ``/`` and system folders
    are refused (``UsageError``) unless ``allow_system_root``. Missing roots raise
    ``FileNotFoundError``.
    """
    spec.validate()
    kinds = spec.kinds()
    now = time.time() if now is None else now
    root_list = [os.fspath(r) for r in roots]
    check_roots(root_list, allow_system_root=allow_system_root)
    for root in root_list:
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"not a directory: {root}", hint="clean walks directories; give the folder"
            )
    wants_name = bool(spec.names or spec.presets)
    globs = [(g, os.fsencode(g)) for g in spec.names]
    # a name must match before anything else counts: most entries are ruled out by name alone
    names_only = wants_name and "empty" not in spec.presets
    need_empty_dir = spec.empty_dirs or "empty" in spec.presets
    exclude = Exclude(spec.exclude)
    out: list[Candidate] = []

    def name_reason(name: str, is_dir: bool) -> str | None:
        reason = _preset_match(name, is_dir, spec.presets)
        if reason is None and globs:
            raw = os.fsencode(name)
            reason = next((g for g, pat in globs if fnmatch(raw, pat)), None)
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
        if kind_letter(st.st_mode) not in kinds:
            return None
        if (
            is_dir
            and reason is None
            and "d" not in (spec.type or "")
            and not (spec.empty_dirs and empty_dir)
        ):
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
        elif (spec.smaller_bytes is not None or spec.larger_bytes is not None) and "d" not in (
            spec.type or ""
        ):
            return None
        age = now - st.st_mtime
        if spec.older_than_seconds is not None and not age > spec.older_than_seconds:
            return None
        if spec.newer_than_seconds is not None and not age < spec.newer_than_seconds:
            return None
        return reason or "filter"

    excluded = exclude.excluded if exclude else None
    skip_links = "l" not in kinds
    for root in root_list:
        for visit in walk_fd(root, on_error, one_file_system=one_file_system):
            parent_key = (visit.st.st_dev, visit.st.st_ino)
            descend = visit.descend.append
            for entry in visit.entries:
                try:
                    # d_type from the directory listing: no stat needed to skip most entries
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if excluded is not None and excluded((*visit.parts, entry.name), is_dir):
                        continue  # pruned: not a candidate, not entered
                    if skip_links and entry.is_symlink():
                        continue
                    if names_only and name_reason(entry.name, is_dir) is None:
                        if is_dir:
                            descend(entry.name)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    if on_error:
                        on_error(join(visit.path, entry.name), exc)
                    continue
                path = join(visit.path, entry.name)
                is_dir = stat.S_ISDIR(st.st_mode)
                if is_dir and one_file_system and st.st_dev != visit.st.st_dev:
                    continue  # a mount point: neither a candidate nor entered
                empty_dir = False
                if is_dir and need_empty_dir:
                    try:
                        sub_fd = open_dir(entry.name, visit.fd)
                        try:
                            with os.scandir(sub_fd) as sub:
                                empty_dir = next(sub, None) is None
                        finally:
                            os.close(sub_fd)
                    except OSError:
                        empty_dir = False
                reason = matches(entry.name, st, is_dir, empty_dir)
                if reason is None:
                    if is_dir:
                        descend(entry.name)
                    continue
                where = dict(
                    root=root,
                    parts=(*visit.parts, entry.name),
                    key=(st.st_dev, st.st_ino),
                    parent_key=parent_key,
                )
                if is_dir:
                    size, files = _tree_size(visit.fd, entry.name, path, one_file_system)
                    out.append(Candidate(path, "d", size, st.st_mtime, reason, files, **where))
                else:
                    letter = kind_letter(st.st_mode)
                    out.append(Candidate(path, letter, st.st_size, st.st_mtime, reason, 1, **where))
    return out


def keep_newest(candidates: list[Candidate], n: int) -> tuple[list[Candidate], list[Candidate]]:
    """Spare the ``n`` newest candidates of each folder: ``(to delete, kept)``.

    The ML clean-up of checkpoints: every run's folder keeps its ``n`` most recent
    (modification time, then name: ``ls -t``'s order) and the older ones go. Candidates
    are grouped by the folder that holds them, so ``runs/a/`` and ``runs/b/`` each keep
    ``n``. A ``checkpoint-500/`` directory (Hugging Face Trainer) counts as one.
    """
    if n < 0:
        raise UsageError(f"--keep-newest must be 0 or more, not {n}")
    groups: dict[tuple[str, tuple[str, ...]], list[Candidate]] = {}
    for cand in candidates:
        groups.setdefault((cand.root, cand.parts[:-1]), []).append(cand)
    kept: set[int] = set()
    for group in groups.values():
        newest = sorted(group, key=lambda c: (c.mtime, c.path), reverse=True)[:n]
        kept.update(id(c) for c in newest)
    doomed = [c for c in candidates if id(c) not in kept]
    for cand in doomed:
        cand.reason = f"{cand.reason}, older than the {n} newest here"
    return doomed, [c for c in candidates if id(c) in kept]


class _Changed(OSError):
    def __init__(self, path: str, what: str = "changed since the preview, left alone") -> None:
        super().__init__(errno.ESTALE, what, path)


def _locate(cand: Candidate, roots: list[str]) -> tuple[str, tuple[str, ...]]:
    """(root, parts) of a candidate; for a hand-made one, derived from its path."""
    if cand.parts:
        if cand.root not in roots:
            raise PermissionError(errno.EPERM, "outside the given roots, left alone", cand.path)
        return cand.root, cand.parts
    target = os.path.abspath(cand.path)
    for root in roots:
        rel = os.path.relpath(target, os.path.abspath(root))
        if rel != "." and not rel.startswith(".." + os.sep) and rel != "..":
            return root, tuple(rel.split(os.sep))
    raise PermissionError(errno.EPERM, "outside the given roots, left alone", cand.path)


def _same(st: os.stat_result, key: tuple[int, int] | None) -> bool:
    return key is None or (st.st_dev, st.st_ino) == tuple(key)


def remove_tree_fd(parent_fd: int, name: str, key: tuple[int, int] | None, path: str) -> None:
    """Remove the directory ``name`` of ``parent_fd`` and everything in it, by descriptor.

    Each level is opened with ``O_NOFOLLOW`` relative to its parent and checked
    against the ``lstat`` of its name, so a symlink planted or swapped in while
    this runs is unlinked (the link), never followed. The top directory must be
    the inode ``key``. Another filesystem mounted inside is not entered (the
    removal fails with ``EXDEV``). Iterative: any depth, one fd per level.
    """
    top = open_dir(name, parent_fd)
    stack: list[tuple[int, int, str]] = []
    try:
        tst = os.fstat(top)
        if not _same(tst, key):
            os.close(top)
            raise _Changed(path)
        dev = tst.st_dev
        stack.append((top, parent_fd, name))
        while stack:
            fd, pfd, nm = stack[-1]
            pushed = False
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        est = entry.stat(follow_symlinks=False)
                        if est.st_dev != dev:
                            raise OSError(errno.EXDEV, "another filesystem is mounted inside", path)
                        child = open_dir(entry.name, fd)
                        if not _same(os.fstat(child), (est.st_dev, est.st_ino)):
                            os.close(child)
                            raise _Changed(path, "changed while being removed, left alone")
                        stack.append((child, fd, entry.name))
                        pushed = True
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if not pushed:
                os.close(fd)
                stack.pop()
                os.rmdir(nm, dir_fd=pfd)
    finally:
        for fd, _pfd, _nm in stack:
            os.close(fd)


def _delete_one(cand: Candidate, roots: list[str], trash: bool) -> None:
    root, parts = _locate(cand, roots)
    name = parts[-1]
    parent_fd = open_parts(root, parts[:-1])  # ELOOP/ENOTDIR when a component became a link
    try:
        if not _same(os.fstat(parent_fd), cand.parent_key):
            raise _Changed(cand.path)
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        letter = kind_letter(st.st_mode)
        if not _same(st, cand.key) or (letter != cand.type and cand.type in KINDS):
            raise _Changed(cand.path)
        if cand.type not in KINDS and (stat.S_ISDIR(st.st_mode) != (cand.type == "d")):
            raise _Changed(cand.path)
        if letter == "l" and cand.key is None:
            raise _Changed(cand.path)  # a hand-made candidate that is (now) a symlink
        if trash:
            from mltools.files.trash import move_to_trash

            move_to_trash(cand.path, dir_fd=parent_fd, entry=name, st_dev=st.st_dev)
        elif letter == "d":
            remove_tree_fd(parent_fd, name, (st.st_dev, st.st_ino), cand.path)
        else:
            os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def delete_candidates(
    candidates: Iterable[Candidate],
    roots: Iterable[str | os.PathLike[str]],
    *,
    trash: bool = False,
    on_progress: Callable[[Candidate], None] | None = None,
) -> CleanResult:
    """Delete (or trash) exactly ``candidates``; a failure on one is recorded, the rest go on.

    Each entry is reached again from its root one name at a time (``openat`` with
    ``O_NOFOLLOW``); its parent and itself must still be the inodes seen at
    preview time (``(st_dev, st_ino)``), else it is left alone ("changed since the
    preview"). Files are removed with ``unlinkat`` relative to the parent's fd,
    folders with ``remove_tree_fd``. Nothing outside ``roots`` is ever touched.
    """
    root_list = [os.fspath(r) for r in roots]
    result = CleanResult()
    for cand in candidates:
        try:
            _delete_one(cand, root_list, trash)
        except OSError as exc:
            message = exc.strerror or str(exc)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and not isinstance(exc, _Changed):
                message = "changed since the preview (a folder became a link), left alone"
            result.failed.append((cand, message))
        else:
            result.deleted.append(cand)
        if on_progress:
            on_progress(cand)
    return result


def cron_line(schedule: str, argv: list[str]) -> str:
    """A crontab line that runs ``argv`` on ``schedule`` (5 fields or @daily-style).

    A schedule or argument holding a newline (or carriage return, or NUL) is refused: cron
    would read it as the start of another line, i.e. another command.
    """
    import shlex

    for value in (schedule, *argv):
        if any(ch in value for ch in "\n\r\0"):
            raise UsageError(
                f"cannot put a value holding a line break in a crontab line: {value!r}",
                hint="rename the folder or pick a glob without newlines",
            )
    fields = schedule.split()
    if not (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))):
        raise UsageError(
            f"not a cron schedule: {schedule!r}",
            hint='give five fields, e.g. "30 23 * * *", or @daily/@hourly/@weekly',
        )
    command = shlex.join(argv).replace("%", "\\%")  # cron turns a bare % into a newline
    return f"{' '.join(fields)} {command}"
