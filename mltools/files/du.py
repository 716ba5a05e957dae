"""Where did the disk go? The library behind ``mltools du``.

One walk per root, by directory fd (so trees deeper than PATH_MAX are summed in full;
symlinks not followed, staying on the root's filesystem like ``du -x``), sums apparent
sizes (``st_size``) and on-disk sizes (``st_blocks * 512``), counting each hard-linked
inode once by ``(st_dev, st_ino)``, and keeps the biggest directories (down to
``depth``) and the biggest files. Where the cache answers, a big tree is shared by
forked workers (``du_walk``: the GIL would serialize threads); where the storage answers
slowly, threads read directories at once (``_walk_parallel``). Both leave one record per
directory, and ``_report`` settles them in the serial walk's order, so the numbers never
depend on the walk. ``df`` numbers come from ``os.statvfs``.
"""

from __future__ import annotations

import errno
import heapq
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mltools.files.du_walk import walk_records
from mltools.files.exclude import Exclude
from mltools.files.walk import join, open_dir


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


def _walk(
    root: str,
    depth: int,
    top: int,
    want_files: bool,
    one_file_system: bool,
    exclude: Exclude,
    processes: int = 1,
) -> DuReport:
    """The walk where the cache answers: one process, or ``processes`` forked ones sharing
    a big tree (``du_walk``); the numbers never depend on how many."""
    root_st = os.lstat(root)  # a symlink named on the command line is not followed (du -P)
    if not stat.S_ISDIR(root_st.st_mode):
        size, disk = root_st.st_size, root_st.st_blocks * 512
        entry = DuEntry(root, size, disk)
        return DuReport(
            root, size, disk, 1, 0, 0, disk_free(root), [], [entry] if want_files else []
        )
    records, in_order = walk_records(
        root,
        one_file_system=one_file_system,
        excluded=exclude.excluded if exclude else None,
        want_files=want_files,
        top=top,
        depth=depth,
        processes=processes,
    )
    return _report(root, depth, top, want_files, records, in_order=in_order)


class _Dir:
    """A directory being walked: its open fd stays open until every subdirectory is opened."""

    __slots__ = ("depth", "fd", "parts", "path", "pending", "record")

    def __init__(
        self, fd: int, path: str, parts: tuple[str, ...], record: int, pending: int
    ) -> None:
        self.fd = fd
        self.path = path
        self.parts = parts
        self.depth = len(parts)
        self.record = record
        self.pending = pending


def _walk_parallel(
    root: str,
    depth: int,
    top: int,
    want_files: bool,
    one_file_system: bool,
    exclude: Exclude,
    threads: int,
) -> DuReport:
    """``_walk`` with ``threads`` threads reading directories at once (same numbers).

    Each directory is opened relative to its parent's fd (``O_NOFOLLOW``), listed and its
    entries stat'ed by whichever thread takes it; the parent's fd is closed once its last
    subdirectory is open. System calls release the GIL, so on storage with latency (NFS,
    FUSE, a cold disk) the waits overlap. Everything order-dependent (which directory a
    hard-linked inode is charged to, the order of errors) is settled afterwards in the
    serial walk's order (depth-first, directory listing order), so the result is ``_walk``'s.
    """
    import threading
    from collections import deque

    root_st = os.lstat(root)
    if not stat.S_ISDIR(root_st.st_mode):
        return _walk(root, depth, top, want_files, one_file_system, exclude)
    # one record per directory tried: [path, depth, parent record, ordinal, st or None,
    # apparent, blocks, files, linked entries, top candidates, errors]
    records: list[list[Any]] = []
    tasks: deque[tuple[_Dir | None, str, int]] = deque([(None, root, 0)])
    lock = threading.Condition()
    state = {"outstanding": 1, "root_dev": None, "failure": None}

    def release(parent: _Dir | None) -> None:
        if parent is None:
            return
        with lock:
            parent.pending -= 1
            last = parent.pending == 0
        if last:
            os.close(parent.fd)

    def visit(parent: _Dir | None, name: str, ordinal: int) -> list[tuple[_Dir, str, int]]:
        path = root if parent is None else join(parent.path, name)
        parts = () if parent is None else (*parent.parts, name)
        level = 0 if parent is None else parent.depth + 1
        record: list[Any] = [path, level, -1 if parent is None else parent.record, ordinal,
                             None, 0, 0, 0, [], [], []]  # fmt: skip
        records.append(record)  # list.append is atomic: the index is this record's
        index = len(records) - 1
        try:
            try:
                fd = open_dir(name, None if parent is None else parent.fd, follow=parent is None)
            finally:
                release(parent)
        except OSError as exc:
            record[10].append(f"{path}: {exc.strerror or exc}")
            return []
        try:
            st = os.fstat(fd)
            if parent is None:
                state["root_dev"] = st.st_dev
            elif (one_file_system and st.st_dev != state["root_dev"]) or not stat.S_ISDIR(
                st.st_mode
            ):
                os.close(fd)
                return []
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError as exc:
            os.close(fd)
            record[10].append(f"{path}: {exc.strerror or exc}")
            return []
        apparent, blocks_sum, nfiles = st.st_size, st.st_blocks, 0
        linked = record[8]
        candidates: list[tuple[int, int, str]] = []
        subdirs: list[str] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if exclude and exclude.excluded((*parts, entry.name), is_dir):
                    continue  # neither counted nor entered (du --exclude)
                if is_dir:
                    subdirs.append(entry.name)
                    continue
                est = entry.stat(follow_symlinks=False)
            except OSError as exc:
                record[10].append(f"{join(path, entry.name)}: {exc.strerror or exc}")
                continue
            if est.st_nlink > 1:
                linked.append((est.st_dev, est.st_ino, est.st_size, est.st_blocks, entry.name))
                continue
            apparent += est.st_size
            blocks_sum += est.st_blocks
            nfiles += 1
            if want_files:
                candidates.append((est.st_blocks * 512, est.st_size, entry.name))
        record[4:8] = [st, apparent, blocks_sum, nfiles]
        if want_files:
            record[9] = [(d, a, join(path, n)) for d, a, n in heapq.nlargest(top, candidates)]
        if not subdirs:
            os.close(fd)
            return []
        node = _Dir(fd, path, parts, index, len(subdirs))
        return [(node, sub, i) for i, sub in enumerate(subdirs)]

    def worker() -> None:
        while True:
            with lock:
                while not tasks and state["outstanding"]:
                    lock.wait()
                if not state["outstanding"]:
                    return
                task = tasks.pop()
            try:
                children = visit(*task)
            except BaseException as exc:  # keep the first failure; let the others end
                children = []
                state["failure"] = state["failure"] or exc
            with lock:
                tasks.extend(reversed(children))  # the first child is taken first
                state["outstanding"] += len(children) - 1
                if not state["outstanding"]:
                    lock.notify_all()  # the walk is over: every waiting thread leaves
                elif len(children) > 1:
                    lock.notify(len(children) - 1)  # this thread takes one itself

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, threads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if state["failure"] is not None:
        raise state["failure"]
    return _report(root, depth, top, want_files, records)


def _report(
    root: str,
    depth: int,
    top: int,
    want_files: bool,
    records: list[list[Any]],
    *,
    in_order: bool = False,
) -> DuReport:
    """The report from a walk's records (``_walk_parallel``'s or ``du_walk``'s: one per
    directory tried, ``[path, depth, parent index, ordinal, listed, apparent, blocks, files,
    hard-linked entries, top files, errors]``, the root first). Sums are bottom-up; only what
    depends on order (which directory a hard-linked inode is charged to, the order of the
    errors, ties among the biggest directories) follows the serial walk's order: depth-first,
    subdirectories in listing order. ``in_order``: the records are in that order already."""
    count = len(records)

    def rank(i: int) -> Any:  # a record's place in the serial walk: its ordinals from the top
        chain = []
        while i > 0:
            rec = records[i]
            chain.append(rec[3])
            i = rec[2]
        chain.reverse()
        return chain

    key: Callable[[int], Any] = int if in_order else rank
    errors = [e for i in sorted((i for i in range(count) if records[i][10]), key=key)
              for e in records[i][10]]  # fmt: skip
    if not count or not records[0][4]:
        raise (
            OSError(errno.EACCES, "cannot read the directory", root)
            if errors
            else OSError(errno.ENOENT, "No such file or directory", root)
        )
    apparent = [rec[5] for rec in records]
    blocks = [rec[6] for rec in records]
    nfiles = [rec[7] for rec in records]
    seen: set[tuple[int, int]] = set()
    linked = 0
    heap: list[tuple[int, int, str]] = []
    for i in sorted((i for i in range(count) if records[i][8]), key=key):
        rec = records[i]
        for dev, ino, size, nblocks, name in rec[8]:
            if (dev, ino) in seen:
                linked += 1
                continue
            seen.add((dev, ino))
            apparent[i] += size
            blocks[i] += nblocks
            nfiles[i] += 1
            if want_files:
                heap.append((nblocks * 512, size, join(rec[0], name)))
    if want_files:
        for rec in records:
            if rec[9]:
                heap += rec[9]
    if in_order:  # parents before children: children first when reversed
        upward: Iterable[int] = range(count - 1, 0, -1)
    else:
        levels: dict[int, list[int]] = {}
        for i in range(1, count):
            levels.setdefault(records[i][1], []).append(i)
        upward = [i for level in sorted(levels, reverse=True) for i in levels[level]]
    for i in upward:  # a directory not listed adds zeros
        parent = records[i][2]
        apparent[parent] += apparent[i]
        blocks[parent] += blocks[i]
        nfiles[parent] += nfiles[i]
    shown = [i for i in range(1, count) if records[i][1] <= depth and records[i][4]]
    size = {i: (blocks[i], apparent[i]) for i in shown}
    cut = heapq.nlargest(top, size.values())
    tied = [i for i in shown if size[i] >= cut[-1]] if cut else []
    tied.sort(key=key)
    biggest = heapq.nlargest(top, tied, key=size.__getitem__)  # stable: walk order on ties
    return DuReport(
        path=root,
        apparent_bytes=apparent[0],
        disk_bytes=blocks[0] * 512,
        files=nfiles[0],
        dirs=sum(1 for rec in records if rec[4]) - 1,
        hardlinks_counted_once=linked,
        df=disk_free(root),
        biggest_dirs=[
            DuEntry(records[i][0], apparent[i], blocks[i] * 512, nfiles[i]) for i in biggest
        ],
        biggest_files=[DuEntry(p, a, d) for d, a, p in heapq.nlargest(top, heap)],
        errors=errors,
    )


def disk_usage(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    depth: int = 1,
    top: int = 20,
    files: bool = True,
    one_file_system: bool = True,
    exclude: Iterable[str] = (),
    threads: int | None = None,
    processes: int | None = None,
) -> list[DuReport]:
    """Disk usage of each path: totals, the ``top`` biggest dirs (to ``depth``) and files.

    Hard links are counted once across one root. Symlinks are never followed;
    other filesystems mounted inside a root are skipped unless
    ``one_file_system=False``. ``exclude`` patterns leave entries out, and a directory's
    whole tree (``du --exclude``, see ``mltools.files.exclude``). Missing paths raise
    ``FileNotFoundError``. ``threads`` directories are read at once by threads (for
    storage with latency); ``None`` picks ``SLOW_THREADS`` when the storage answers slowly
    (``slow_storage``) and no threads otherwise (they only add work when every answer comes
    from the cache). Without threads, a big tree is shared by ``processes`` forked workers
    (``None``: one per idle CPU, ``default_processes``; 1: this process
    alone). The numbers never depend on either.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skip = Exclude(exclude)
    reports = []
    for p in paths:
        root = os.fspath(p)
        n = threads if threads is not None else SLOW_THREADS if slow_storage(root) else 1
        if n > 1:
            reports.append(_walk_parallel(root, depth, top, files, one_file_system, skip, n))
        else:
            procs = processes if processes is not None else default_processes()
            reports.append(_walk(root, depth, top, files, one_file_system, skip, procs))
    return reports


# Forked workers at most on a warm cache (the walk is system time: more share little).
MAX_PROCESSES = 4
# The kernel's count of runnable tasks right now (4th field: "running/total").
LOADAVG = "/proc/loadavg"


def default_processes() -> int:
    """Walk processes for the CPUs this process may run on, up to ``MAX_PROCESSES``: one per
    idle CPU, plus the share of one busy CPU this process would get anyway.

    With every CPU busy (as many other runnable tasks as CPUs) one process walks: workers
    that wait for a core add work (forking, handing folders over) and save no time; on 2
    cores kept busy by other jobs (load ~4) two workers walked ``/usr`` in 1.24x the time
    of one process."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open(LOADAVG, "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])  # this process included
    except (OSError, ValueError, IndexError):
        running = 1
    others = max(0, running - 1)
    return max(1, min(cpus - others + 1, cpus, MAX_PROCESSES)) if others < cpus else 1


# Directories read at once on slow storage (network filesystems, FUSE, a cold disk).
SLOW_THREADS = 8
# A stat slower than this (median of a few, in seconds) is not served from the cache.
SLOW_STAT_S = 40e-6


def slow_storage(root: str, probes: int = 24) -> bool:
    """Whether stat calls under ``root`` wait on storage: the median time of up to ``probes``
    stat calls on the root's first entries (one slow call, a preemption, does not count)."""
    import time

    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        with os.scandir(fd) as it:
            names = [entry.name for _, entry in zip(range(probes), it)]
        times = []
        for name in names:  # as the walk stats them: relative to the directory's fd
            start = time.perf_counter()
            try:
                os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            times.append(time.perf_counter() - start)
    except OSError:
        return False
    finally:
        os.close(fd)
    if not times:
        return False
    times.sort()
    return times[len(times) // 2] > SLOW_STAT_S


def report_json(report: DuReport, *, files: bool = True) -> dict[str, Any]:
    """The ``du --json`` document of one root (stable keys; paths as valid UTF-8, ``\\xNN``
    for undecodable bytes). ``files``: with the ``biggest_files`` list."""
    from mltools.jsonable import valid_text

    def entry(e: DuEntry, *, count: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": valid_text(e.path),
            "apparent_bytes": e.apparent_bytes,
            "disk_bytes": e.disk_bytes,
        }
        if count:
            out["files"] = e.files
        return out

    doc: dict[str, Any] = {
        "path": valid_text(report.path),
        "apparent_bytes": report.apparent_bytes,
        "disk_bytes": report.disk_bytes,
        "files": report.files,
        "dirs": report.dirs,
        "hardlinks_counted_once": report.hardlinks_counted_once,
        "filesystem": {
            "mount_point": report.df.mount_point,
            "total_bytes": report.df.total_bytes,
            "used_bytes": report.df.used_bytes,
            "free_bytes": report.df.free_bytes,
            "used_percent": report.df.used_percent,
        },
        "biggest_dirs": [entry(e, count=True) for e in report.biggest_dirs],
        "errors": report.errors,
    }
    if files:
        doc["biggest_files"] = [entry(e, count=False) for e in report.biggest_files]
    return doc
