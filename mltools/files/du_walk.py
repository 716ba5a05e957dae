"""du's walk where the cache answers: one process, or several sharing the tree (``fork``).

On a warm cache GNU du is bound by system time (one ``fstatat`` per entry), and a
Python walk adds about 1 us of interpreter time per entry on top. Threads cannot share
that (the GIL); processes can. So a big tree is split between forked workers:

- the parent walks alone first (``SERIAL_ENTRIES`` entries): a small tree never forks;
- then each worker takes part of the pending directories and walks them depth-first,
  each directory opened relative to its parent's open fd with ``O_NOFOLLOW`` (as
  ``walk.walk_fd``), so no path is resolved again and no symlink is followed;
- a worker that runs out asks for more: the parent (which only coordinates) raises a flag
  in shared memory, a busy worker sees it between two directories and gives away the
  shallowest half of its pending directories, as their parent directories' fds (passed
  over a Unix socket, ``SCM_RIGHTS``) and names. Nothing is re-resolved by path;
- each worker sends back one record per directory; the parent settles everything that
  depends on order (which directory a hard-linked inode is charged to, the order of
  errors) in the serial walk's order, so the numbers never depend on the split.

A record is ``[path, depth, parent ref, ordinal, listed, apparent, blocks, files, linked
entries, top files, errors]``, the shape ``du._report`` sums; a ref is ``index * slots +
worker`` until the parent renumbers them.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import heapq
import marshal
import mmap
import os
import select
import signal
import stat
from collections.abc import Callable
from itertools import repeat
from typing import TYPE_CHECKING, Any

from mltools import _signals
from mltools.errors import MltoolsError
from mltools.files import walk

if TYPE_CHECKING:
    import socket

# The parent walks this many entries before it forks (below it the fork costs more than it saves).
SERIAL_ENTRIES = 1000
# At most this many pending directories (of that many parents) are given away at once.
GIVE_MAX = 128
GIVE_PARENTS = 8
_MSG = 1 << 20  # the largest control message (a gift: names and paths)


class _Node:
    """An open directory whose subdirectories are still to be opened (its fd closes after)."""

    __slots__ = ("fd", "parts", "path", "pending", "prefix", "ref")

    def __init__(self, fd: int, path: str, parts: tuple[str, ...], ref: int, pending: int):
        self.fd = fd
        self.path = path
        self.prefix = path if path.endswith(os.sep) else path + os.sep  # walk.join's
        self.parts = parts
        self.ref = ref
        self.pending = pending


class _Walker:
    """One process's share of the walk: a stack of ``(node, name, ordinal)`` and its records."""

    def __init__(
        self,
        *,
        root_dev: int,
        one_file_system: bool,
        excluded: Callable[[tuple[str, ...], bool], bool] | None,
        want_files: bool,
        top: int,
        root: str,
        show_depth: int,
    ) -> None:
        self.root = root
        self.show_depth = show_depth
        self.root_dev = root_dev
        self.one_file_system = one_file_system
        self.excluded = excluded
        self.want_files = want_files
        self.top = top
        self.records: list[list[Any]] = []
        self.stack: list[tuple[_Node, str, int]] = []
        self.slots = 1
        self.worker = 0
        self.entries = 0

    def ref(self) -> int:
        """The ref of the record made last."""
        return (len(self.records) - 1) * self.slots + self.worker

    def failed(self, path: str, depth: int, parent: int, ordinal: int, exc: OSError) -> None:
        self.records.append(
            [
                path,
                depth,
                parent,
                ordinal,
                0,
                0,
                0,
                0,
                None,
                None,
                [f"{path}: {exc.strerror or exc}"],
            ]
        )

    def scan(
        self,
        fd: int,
        st: os.stat_result,
        path: str,
        parts: tuple[str, ...],
        parent: int,
        ordinal: int,
    ) -> None:
        """List the open directory ``fd``, sum its entries, stack its subdirectories."""
        depth = len(parts)
        # the path only where the report shows it (the rest travels back from a worker)
        shown = path if depth <= self.show_depth else None
        record: list[Any] = [shown, depth, parent, ordinal, 0, 0, 0, 0, None, None, None]
        self.records.append(record)
        apparent, blocks, nfiles = st.st_size, st.st_blocks, 0
        excluded = self.excluded
        linked: list[tuple[int, int, int, int, str]] = []
        errors: list[str] = []
        files: list[tuple[int, int, str]] | None = [] if self.want_files else None
        subdirs: list[str] = []
        listed = 0
        try:
            # entries one at a time (a list of them all, each with its stat, costs memory);
            # a listing that fails half-way drops the whole directory, as walk_fd does
            with os.scandir(fd) as it:
                for entry in it:
                    listed += 1
                    try:
                        # d_type's answers; calls without keywords (parsing one costs more
                        # than a call): for an entry that is not a symlink stat() is lstat()
                        if entry.is_symlink():
                            if excluded is not None and excluded((*parts, entry.name), False):
                                continue
                            est = entry.stat(follow_symlinks=False)  # the link, never followed
                        elif entry.is_dir():
                            if excluded is None or not excluded((*parts, entry.name), True):
                                subdirs.append(entry.name)
                            continue
                        else:
                            if excluded is not None and excluded((*parts, entry.name), False):
                                continue  # neither counted nor entered (du --exclude)
                            est = entry.stat()
                    except OSError as exc:
                        errors.append(f"{walk.join(path, entry.name)}: {exc.strerror or exc}")
                        continue
                    if est.st_nlink > 1:  # settled in walk order by the caller
                        linked.append(
                            (est.st_dev, est.st_ino, est.st_size, est.st_blocks, entry.name)
                        )
                        continue
                    apparent += est.st_size
                    blocks += est.st_blocks
                    nfiles += 1
                    if files is not None:
                        files.append((est.st_blocks * 512, est.st_size, entry.name))
        except OSError as exc:
            os.close(fd)
            record[10] = [f"{path}: {exc.strerror or exc}"]
            return
        self.entries += listed
        if linked:
            record[8] = linked
            record[0] = path  # a hard-linked file may be listed under it
        if errors:
            record[10] = errors
        record[4:8] = [1, apparent, blocks, nfiles]
        if files:
            record[9] = [(d, a, walk.join(path, n)) for d, a, n in heapq.nlargest(self.top, files)]
        if not subdirs:
            os.close(fd)
            return
        count = len(subdirs)
        node = _Node(fd, path, parts, self.ref(), count)
        subdirs.reverse()  # the first listed on top
        self.stack += zip(repeat(node, count), subdirs, range(count - 1, -1, -1))

    def step(self) -> None:
        """Open the directory on top of the stack (relative to its parent's fd) and scan it."""
        node, name, ordinal = self.stack.pop()
        path = node.prefix + name
        parts = (*node.parts, name)
        try:
            try:
                fd = os.open(name, walk.DIR_FLAGS, dir_fd=node.fd)
            except OSError as exc:
                if exc.errno != errno.EMFILE:
                    raise
                fd = walk.open_dir(name, node.fd)  # raises the fd limit first
            finally:
                node.pending -= 1
                if not node.pending:
                    os.close(node.fd)
        except OSError as exc:
            self.failed(path, len(parts), node.ref, ordinal, exc)
            return
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            self.failed(path, len(parts), node.ref, ordinal, exc)
            return
        if (self.one_file_system and st.st_dev != self.root_dev) or not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            return  # another filesystem (du -x), or no longer a directory: not entered
        self.scan(fd, st, path, parts, node.ref, ordinal)

    def run(self, until: int | None = None, flags: mmap.mmap | None = None, give=None) -> None:
        """Walk the stack empty (or until ``until`` entries were listed); between two
        directories, give work away when ``flags`` says a worker is waiting for it."""
        stack, step, me = self.stack, self.step, self.worker
        while stack:
            if flags is not None and flags[me] and len(stack) > 1:
                give()
            step()
            if until is not None and self.entries >= until:
                return

    def take_gift(self, data: bytes, fds: list[int]) -> None:
        """Stack the directories another worker gave away (their parents' fds in ``fds``)."""
        for fd, (parts, ref, names) in zip(fds, marshal.loads(data), strict=True):
            path = self.root
            for name in parts:
                path = walk.join(path, name)
            node = _Node(fd, path, tuple(parts), ref, len(names))
            self.stack.extend((node, name, ordinal) for name, ordinal in reversed(names))

    def gift(self) -> tuple[bytes, list[int], list[_Node]]:
        """Take the bottom (shallowest) half of the stack off, grouped by parent directory
        (at most ``GIVE_MAX`` names of ``GIVE_PARENTS`` parents: one message, few fds)."""
        limit = min(len(self.stack) // 2, GIVE_MAX)
        groups: dict[int, tuple[_Node, list[tuple[str, int]]]] = {}
        count = 0
        for node, name, ordinal in self.stack:
            if count == limit or (id(node) not in groups and len(groups) == GIVE_PARENTS):
                break
            groups.setdefault(id(node), (node, []))[1].append((name, ordinal))
            count += 1
        del self.stack[:count]
        nodes = [node for node, _ in groups.values()]
        payload = [(n.parts, n.ref, names) for n, names in groups.values()]
        for node, names in groups.values():
            node.pending -= len(names)
        return marshal.dumps(payload), [n.fd for n in nodes], nodes


def walk_records(
    root: str,
    *,
    one_file_system: bool,
    excluded: Callable[[tuple[str, ...], bool], bool] | None,
    want_files: bool,
    top: int,
    depth: int,
    processes: int,
) -> tuple[list[list[Any]], bool]:
    """The records of the tree at ``root`` (paths kept down to ``depth``), and whether they
    are in walk order already (one process walked); parent refs are list indexes."""
    walker = _Walker(
        root_dev=0, one_file_system=one_file_system, excluded=excluded, want_files=want_files,
        top=top, root=root, show_depth=depth,
    )  # fmt: skip
    enabled = gc.isenabled()
    gc.disable()  # a record and a few tuples per directory: nothing cyclic to collect
    try:
        return _walk(walker, processes)
    finally:
        if enabled:
            gc.enable()


def _walk(walker: _Walker, processes: int) -> tuple[list[list[Any]], bool]:
    root = walker.root
    if processes > 1:
        walker.slots = processes + 1  # refs that stay valid when workers add theirs
    try:
        fd = walk.open_dir(root, None, follow=True)  # the root as named (find -H)
    except OSError as exc:
        walker.failed(root, 0, -1, 0, exc)
        return walker.records, True
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        walker.failed(root, 0, -1, 0, exc)
        return walker.records, True
    walker.root_dev = st.st_dev
    walker.scan(fd, st, root, (), -1, 0)
    if processes <= 1:
        walker.run()
        return walker.records, True
    walker.run(until=SERIAL_ENTRIES)
    if walker.stack:
        records = _forked(walker, processes)
        if records is not None:
            return records, False
        walker.run()
    for record in walker.records:
        if record[2] > 0:
            record[2] //= walker.slots
    return walker.records, True


def _forked(walker: _Walker, processes: int) -> list[list[Any]] | None:
    """Finish ``walker``'s stack in ``processes`` forked workers; all records, renumbered.
    None when no worker could be started (no process or fd left): the stack is intact."""
    import socket

    slots = processes + 1  # worker 0 is this process (the records it has so far)
    flags = mmap.mmap(-1, slots)
    workers: list[tuple[int, socket.socket, int]] = []  # pid, control socket, records pipe
    pending = walker.stack
    nodes = {id(node): node for node, _, _ in pending}

    def start(w: int) -> None:
        share = pending[w - 1 :: processes]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            records_r, records_w = os.pipe()
        except OSError:
            ours.close()
            theirs.close()
            raise
        with _signals.deferred():  # an interruption here must not leave a child unknown
            try:
                pid = os.fork()
            except OSError:
                for fd in (records_r, records_w):
                    os.close(fd)
                ours.close()
                theirs.close()
                raise
            if pid == 0:
                code = 1
                try:
                    ours.close()
                    os.close(records_r)
                    for _, other, pipe in workers:
                        other.close()
                        os.close(pipe)
                    _child(walker, w, slots, share, nodes, flags, theirs, records_w)
                    code = 0
                finally:
                    os._exit(code)
            workers.append((pid, ours, records_r))
            theirs.close()
            os.close(records_w)

    try:
        try:
            for w in range(1, slots):
                start(w)
        except OSError:  # EAGAIN, EMFILE: this process walks on alone
            _stop(workers)
            return None
        for node in nodes.values():
            os.close(node.fd)
        walker.stack = []
        parts = _coordinate(workers, flags)
    except BaseException:
        _stop(workers)
        raise
    finally:
        for pid, sock, pipe in workers:
            sock.close()
            with contextlib.suppress(OSError):
                os.close(pipe)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    offsets = [0] * slots
    records = walker.records
    for w, part in enumerate(parts, start=1):
        offsets[w] = len(records)
        records += part
    for record in records:
        ref = record[2]
        if ref >= 0:
            record[2] = offsets[ref % slots] + ref // slots
    return records


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One control message and the fds passed with it (all of them, or an error)."""
    import socket

    data, fds, flags, _ = socket.recv_fds(sock, _MSG, GIVE_PARENTS)
    if flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):  # the fd table was full
        for fd in fds:
            os.close(fd)
        raise OSError(errno.EMFILE, "du walk: a folder handed over was lost (too many open files)")
    return data, fds


def _stop(workers: list[tuple[int, Any, int]]) -> None:
    """SIGKILL every worker (they are reaped by the caller): waits on nothing they hold."""
    for pid, _, _ in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _child(
    walker: _Walker,
    me: int,
    slots: int,
    share: list[tuple[_Node, str, int]],
    nodes: dict[int, _Node],
    flags: mmap.mmap,
    sock: socket.socket,
    records_w: int,
) -> None:
    """A worker: walk its share, ask for more, give work away when asked; then send records."""
    import socket

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    walker.worker, walker.slots = me, slots
    walk.raise_fd_limit()  # folders handed over arrive as fds: room for them in this process
    walker.records = []
    walker.stack = share
    for node in nodes.values():  # count only this worker's names; close the other parents
        node.pending = 0
    for node, _, _ in share:
        node.pending += 1
    for node in nodes.values():
        if not node.pending:
            os.close(node.fd)

    def give() -> None:
        data, fds, given = walker.gift()
        flags[me] = 0
        socket.send_fds(sock, [b"G" + data], fds)
        for node in given:
            if not node.pending:
                os.close(node.fd)

    while True:
        walker.run(flags=flags, give=give)
        flags[me] = 0
        sock.send(b"I")
        data, fds = _receive(sock)
        if data[:1] == b"W":
            walker.take_gift(data[1:], fds)
            continue
        break  # b"X": the walk is over (or the parent is gone)
    out = memoryview(marshal.dumps(walker.records))
    while out:
        out = out[os.write(records_w, out) :]


def _coordinate(workers: list[tuple[int, socket.socket, int]], flags: mmap.mmap) -> list[Any]:
    """Hand gifts to idle workers and ask busy ones for gifts until all are idle; then
    collect every worker's records (in worker order)."""
    import socket

    index = {sock.fileno(): w for w, (_, sock, _) in enumerate(workers, start=1)}
    poller = select.poll()
    for fd in index:
        poller.register(fd, select.POLLIN)
    idle: list[int] = []
    asked: set[int] = set()
    gifts: list[tuple[bytes, list[int]]] = []
    while True:
        for fd, _ in poller.poll():
            w = index[fd]
            data, fds = _receive(workers[w - 1][1])
            if not data:
                raise MltoolsError(
                    f"du walk worker {workers[w - 1][0]} ended early",
                    hint="it was killed or failed (out of memory or of open files?): run it again",
                )
            if data[:1] == b"G":
                gifts.append((b"W" + data[1:], fds))
            else:  # b"I": out of work
                idle.append(w)
            asked.discard(w)
        while idle and gifts:
            data, fds = gifts.pop()
            socket.send_fds(workers[idle.pop() - 1][1], [data], fds)
            for fd in fds:
                os.close(fd)
        if len(idle) == len(workers):
            break
        if idle and not asked:
            for w in range(1, len(workers) + 1):
                if w not in idle:
                    flags[w] = 1
                    asked.add(w)
    for _, sock, _ in workers:
        sock.send(b"X")
    parts = []
    for _, _, pipe in workers:
        chunks = []
        while chunk := os.read(pipe, 1 << 20):
            chunks.append(chunk)
        parts.append(marshal.loads(b"".join(chunks)))
    return parts
