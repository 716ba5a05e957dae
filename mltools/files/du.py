"""Where did the disk go? The library behind ``mltools du``.

One walk per root (``os.scandir``, symlinks not followed, staying on the
root's filesystem like ``du -x``) sums apparent sizes (``st_size``) and
on-disk sizes (``st_blocks * 512``), counting each hard-linked inode once by
``(st_dev, st_ino)``, and keeps the biggest directories (down to ``depth``)
and the biggest files. ``df`` numbers come from ``os.statvfs``.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class DiskFree:
    """The filesystem holding a path, like one line of ``df``."""

    mount_point: str
    total_bytes: int
    used_bytes: int
    free_bytes: int  # available to unprivileged users, like df's "Avail"

    @property
    def used_percent(self) -> float:
        usable = self.used_bytes + self.free_bytes
        return round(100.0 * self.used_bytes / usable, 1) if usable else 0.0


@dataclass
class DuEntry:
    path: str
    apparent_bytes: int
    disk_bytes: int
    files: int = 1


@dataclass
class DuReport:
    """Totals for one root, its biggest directories and files, and its filesystem."""

    path: str
    apparent_bytes: int
    disk_bytes: int
    files: int
    dirs: int
    hardlinks_counted_once: int
    df: DiskFree
    biggest_dirs: list[DuEntry] = field(default_factory=list)
    biggest_files: list[DuEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def disk_free(path: str | os.PathLike[str]) -> DiskFree:
    """Size, used and free bytes of the filesystem that holds ``path``."""
    path = os.fspath(path)
    vfs = os.statvfs(path)
    total = vfs.f_blocks * vfs.f_frsize
    free_root = vfs.f_bfree * vfs.f_frsize
    mount = os.path.realpath(path)
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    return DiskFree(mount, total, total - free_root, vfs.f_bavail * vfs.f_frsize)


def _walk(root: str, depth: int, top: int, want_files: bool, one_file_system: bool) -> DuReport:
    root_st = os.lstat(root)
    if not stat.S_ISDIR(root_st.st_mode):
        size, disk = root_st.st_size, root_st.st_blocks * 512
        entry = DuEntry(root, size, disk)
        return DuReport(
            root, size, disk, 1, 0, 0, disk_free(root), [], [entry] if want_files else []
        )
    dev = root_st.st_dev
    seen: set[tuple[int, int]] = set()
    # per directory: [path, depth, parent index, apparent, disk, files]
    dirs: list[list] = [[root, 0, -1, root_st.st_size, root_st.st_blocks * 512, 0]]
    heap: list[tuple[int, int, str]] = []
    errors: list[str] = []
    linked = 0
    i = 0
    while i < len(dirs):
        record = dirs[i]
        apparent = disk = nfiles = 0
        try:
            it = os.scandir(record[0])
        except OSError as exc:
            errors.append(f"{record[0]}: {exc.strerror or exc}")
            i += 1
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    errors.append(f"{entry.path}: {exc.strerror or exc}")
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if one_file_system and st.st_dev != dev:
                        continue
                    dirs.append([entry.path, record[1] + 1, i, st.st_size, st.st_blocks * 512, 0])
                    continue
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        linked += 1
                        continue
                    seen.add(key)
                blocks = st.st_blocks * 512
                apparent += st.st_size
                disk += blocks
                nfiles += 1
                if want_files:
                    item = (blocks, st.st_size, entry.path)
                    if len(heap) < top:
                        heapq.heappush(heap, item)
                    elif item > heap[0]:
                        heapq.heapreplace(heap, item)
        record[3] += apparent
        record[4] += disk
        record[5] += nfiles
        i += 1
    # children come after their parents in ``dirs``: sum bottom-up
    for record in reversed(dirs[1:]):
        parent = dirs[record[2]]
        parent[3] += record[3]
        parent[4] += record[4]
        parent[5] += record[5]
    shown = [r for r in dirs[1:] if r[1] <= depth]
    biggest = heapq.nlargest(top, shown, key=lambda r: (r[4], r[3]))
    total = dirs[0]
    return DuReport(
        path=root,
        apparent_bytes=total[3],
        disk_bytes=total[4],
        files=total[5],
        dirs=len(dirs) - 1,
        hardlinks_counted_once=linked,
        df=disk_free(root),
        biggest_dirs=[DuEntry(r[0], r[3], r[4], r[5]) for r in biggest],
        biggest_files=[DuEntry(p, a, d) for d, a, p in sorted(heap, reverse=True)],
        errors=errors,
    )


def disk_usage(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    depth: int = 1,
    top: int = 20,
    files: bool = True,
    one_file_system: bool = True,
) -> list[DuReport]:
    """Disk usage of each path: totals, the ``top`` biggest dirs (to ``depth``) and files.

    Hard links are counted once across one root. Symlinks are never followed;
    other filesystems mounted inside a root are skipped unless
    ``one_file_system=False``. Missing paths raise ``FileNotFoundError``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [_walk(os.fspath(p), depth, top, files, one_file_system) for p in paths]
