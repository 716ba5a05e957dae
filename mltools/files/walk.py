"""The one directory walk behind ``clean``, ``du`` and ``filetype``: by directory fd, depth-first.

Every directory below a root is opened relative to its parent's open file
descriptor with ``O_DIRECTORY | O_NOFOLLOW`` (``openat``), and listed with
``os.scandir(fd)``, so

- no path is ever resolved again from the top: a component swapped for a
  symlink while the walk runs cannot lead it outside the root (the open
  fails instead), and
- trees deeper than ``PATH_MAX`` (4096 bytes) are walked in full: no system
  call ever sees more than one name.

Entries are sorted by name (stable previews and reports) unless the caller
does not care (``du``). The caller looks at each directory's entries and puts
the names of the subdirectories to enter in ``descend``, so a matched
directory (clean) or an already seen one is pruned without a second pass.
One descriptor is open per level of the current branch; the soft
``RLIMIT_NOFILE`` is raised to the hard one when a very deep tree needs more.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter

_by_name = attrgetter("name")  # a C key: no Python call per entry
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def join(base: str, name: str) -> str:
    """``base/name`` for display (no system call ever uses these long paths)."""
    return base + name if base.endswith(os.sep) else base + os.sep + name


def raise_fd_limit() -> bool:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; whether it went up."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft >= hard:
            return False
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return True
    except (ImportError, OSError, ValueError):
        return False


def open_dir(name: str, dir_fd: int | None, *, follow: bool = False) -> int:
    """Open a directory relative to ``dir_fd`` (``O_NOFOLLOW`` unless ``follow``)."""
    flags = DIR_FLAGS if not follow else DIR_FLAGS & ~os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.EMFILE and raise_fd_limit():
            return os.open(name, flags, dir_fd=dir_fd)
        raise


@dataclass
class DirVisit:
    """One directory of the walk, valid until the next step of the iterator.

    ``fd`` is the directory's open descriptor: ``entries[i].stat()``, ``os.open(name,
    dir_fd=fd)`` and ``os.unlink(name, dir_fd=fd)`` all work relative to it. ``parts``
    are the names from the root down to here. ``index``/``parent`` number the
    visits in walk order (the root is 0, its parent -1), so that per-directory
    totals can be summed bottom-up.
    """

    fd: int
    path: str
    parts: tuple[str, ...]
    st: os.stat_result
    entries: list[os.DirEntry[str]]
    index: int
    parent: int
    depth: int
    descend: list[str] = field(default_factory=list)


def walk_fd(
    root: str,
    on_error: Callable[[str, OSError], None] | None = None,
    *,
    sort: bool = True,
    one_file_system: bool = False,
    follow_symlinks: bool = False,
    dir_fd: int | None = None,
) -> Iterator[DirVisit]:
    """Yield a ``DirVisit`` for ``root`` and then for each name put in ``descend``.

    The root itself is opened as given (a symlink naming the root is followed,
    like ``find -H``); everything below it is opened with ``O_NOFOLLOW`` unless
    ``follow_symlinks`` (then directory loops are cut by ``(st_dev, st_ino)``).
    With ``one_file_system`` a subdirectory on another device than the root is
    not entered (like ``du -x``/``find -xdev``). A directory that cannot be opened
    or listed is reported to ``on_error`` and skipped. With ``dir_fd``, ``root`` is the
    (display) path of an entry of that open directory: its last name is opened there,
    with ``O_NOFOLLOW`` too.
    """
    try:
        fd = open_dir(
            os.path.basename(root) if dir_fd is not None else root, dir_fd, follow=dir_fd is None
        )
    except OSError as exc:
        if on_error is not None:
            on_error(root, exc)
        return
    seen: set[tuple[int, int]] = set()
    counter = 0
    # each frame: [fd, path, parts, iterator over names to enter, index, depth]
    stack: list[list] = []
    try:

        def listing(fd: int, path: str) -> list[os.DirEntry[str]] | None:
            try:
                with os.scandir(fd) as it:
                    entries = list(it)
            except OSError as exc:
                if on_error is not None:
                    on_error(path, exc)
                return None
            if sort:
                entries.sort(key=_by_name)
            return entries

        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        root_dev = st.st_dev
        seen.add((st.st_dev, st.st_ino))
        entries = listing(fd, root)
        if entries is None:
            os.close(fd)
            return
        visit = DirVisit(fd, root, (), st, entries, 0, -1, 0)
        stack.append([fd, root, (), None, 0, 0])
        yield visit
        stack[-1][3] = iter(visit.descend)
        while stack:
            frame = stack[-1]
            name = next(frame[3], None)
            if name is None:
                os.close(frame[0])
                stack.pop()
                continue
            path = join(frame[1], name)
            try:
                child = open_dir(name, frame[0], follow=follow_symlinks)
            except OSError as exc:
                if on_error is not None:
                    on_error(path, exc)
                continue
            try:
                cst = os.fstat(child)
            except OSError as exc:
                os.close(child)
                if on_error is not None:
                    on_error(path, exc)
                continue
            if (one_file_system and cst.st_dev != root_dev) or not stat.S_ISDIR(cst.st_mode):
                os.close(child)
                continue
            if follow_symlinks:
                key = (cst.st_dev, cst.st_ino)
                if key in seen:
                    os.close(child)
                    continue
                seen.add(key)
            entries = listing(child, path)
            if entries is None:
                os.close(child)
                continue
            counter += 1
            parts = (*frame[2], name)
            visit = DirVisit(child, path, parts, cst, entries, counter, frame[4], frame[5] + 1)
            stack.append([child, path, parts, None, counter, frame[5] + 1])
            yield visit
            stack[-1][3] = iter(visit.descend)
    finally:
        for frame in stack:
            with contextlib.suppress(OSError):
                os.close(frame[0])


def open_parts(root: str, parts: tuple[str, ...] | list[str]) -> int:
    """Open ``root`` and then each of ``parts`` below it with ``O_NOFOLLOW``; the last fd.

    Raises ``OSError`` (``ELOOP``/``ENOTDIR``) when a component is no longer a
    real directory, e.g. swapped for a symlink.
    """
    fd = open_dir(root, None, follow=True)
    for name in parts:
        try:
            child = open_dir(name, fd)
        finally:
            os.close(fd)
        fd = child
    return fd
