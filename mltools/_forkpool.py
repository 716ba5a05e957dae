"""Worker processes forked once and fed task numbers through pipes of their own.

``multiprocessing.Pool`` and ``ProcessPoolExecutor`` share one task queue guarded by a
lock in shared memory. A worker killed while it holds that lock (a ``kill -TERM`` to the
process group, Slurm's ``scancel``, the OOM killer) leaves it held for good, and the
parent's ``terminate()`` then waits for it forever; a worker that inherited the parent's
Python-level SIGTERM handler prints ``Interrupted: 15`` tracebacks on the way down. Here:

- each worker has its own task pipe and result pipe, so nothing is shared and a dead
  worker can block nobody; the parent only ever writes a few task numbers (8 bytes each)
  to a pipe that holds 64 KiB, so it never blocks on a write;
- the work itself is inherited by ``fork`` (copy-on-write): only a task's number goes
  in and its pickled result comes out;
- a worker ignores SIGINT (Ctrl-C reaches the whole process group; the parent decides),
  dies at once on SIGTERM/SIGHUP (the default action, no Python handler), and leaves
  with ``os._exit`` (none of the parent's exit handlers run twice);
- shutdown is a close of the task pipes (the workers see end-of-file and exit), or, on
  any exception or interruption in the parent, SIGKILL then ``waitpid``: neither waits
  on anything a worker could be holding.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Iterator
from typing import Any

from mltools import _signals

_LEN = struct.Struct("<Q")


class WorkerDied(RuntimeError):
    """A worker process ended without sending a result (killed, crashed, out of memory)."""

    def __init__(self, pid: int, exit_code: int | None) -> None:
        self.pid = pid
        self.exit_code = exit_code
        super().__init__(f"worker {pid} ended with exit code {exit_code}")


class WorkerFailed(RuntimeError):
    """The task function raised in a worker; ``cause`` is its exception (when picklable)."""

    def __init__(self, cause: BaseException | str) -> None:
        self.cause = cause
        super().__init__(str(cause))


def _read_exact(fd: int, n: int) -> bytes | None:
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _worker_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)


def _serve(fn: Callable[[int], Any], tasks: int, results: int) -> None:
    while True:
        head = _read_exact(tasks, 8)
        if head is None:
            return
        (index,) = _LEN.unpack(head)
        try:
            reply = (index, True, fn(index))
        except Exception as exc:
            try:
                pickle.dumps(exc)
                failure: BaseException | str = exc
            except Exception:
                failure = f"{type(exc).__name__}: {exc}"
            reply = (index, False, failure)
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LEN.pack(len(data)) + data)
        while view:
            view = view[os.write(results, view) :]


class ForkPool:
    """``workers`` processes running ``fn(i)`` for task numbers ``i``; results in order.

    ``fn`` and everything it reads must exist before the pool starts (the workers are
    forked then). Use as a context manager: leaving it normally lets the workers finish
    and exit; leaving it by an exception (Ctrl-C, SIGTERM turned into ``Interrupted``, a
    consumer that stopped early) kills them. ``fn`` raising is ``WorkerFailed``; a worker
    that dies is ``WorkerDied``.
    """

    def __init__(self, fn: Callable[[int], Any], workers: int, *, in_flight: int = 2) -> None:
        self.fn = fn
        self.in_flight = max(1, in_flight)
        self.pids: list[int] = []
        self._tasks: dict[int, int] = {}  # pid -> write end of its task pipe
        self._results: dict[int, int] = {}  # read end of a result pipe -> pid
        self._open: list[int] = []
        try:
            for _ in range(max(1, workers)):
                self._start()
        except BaseException:  # interrupted between two starts: stop the ones started
            self.kill()
            raise

    def _start(self) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        with _signals.deferred():  # an interruption here must not leave a child unknown
            pid = os.fork()
            if pid == 0:  # the worker
                try:
                    _worker_signals()
                    for fd in self._open:
                        os.close(fd)
                    os.close(task_w)
                    os.close(result_r)
                    _serve(self.fn, task_r, result_w)
                    code = 0
                except BaseException:
                    code = 1
                os._exit(code)
            self.pids.append(pid)
        os.close(task_r)
        os.close(result_w)
        self._tasks[pid] = task_w
        self._results[result_r] = pid
        self._open += [task_w, result_r]

    def imap(self, count: int) -> Iterator[Any]:
        """``fn(0)``, ``fn(1)`` ... ``fn(count - 1)``, each as it is due, in order."""
        pending: dict[int, list[int]] = {pid: [] for pid in self.pids}
        done: dict[int, Any] = {}
        poller = select.poll()
        for fd in self._results:
            poller.register(fd, select.POLLIN)
        next_task = 0
        due = 0
        while due < count:
            for pid, queue in pending.items():  # top every worker up to ``in_flight`` tasks
                while len(queue) < self.in_flight and next_task < count:
                    os.write(self._tasks[pid], _LEN.pack(next_task))
                    queue.append(next_task)
                    next_task += 1
            for fd, _event in poller.poll():
                pid = self._results[fd]
                head = _read_exact(fd, 8)
                data = None if head is None else _read_exact(fd, _LEN.unpack(head)[0])
                if data is None:
                    poller.unregister(fd)
                    raise WorkerDied(pid, self._reap(pid))
                index, ok, value = pickle.loads(data)
                if not ok:
                    raise WorkerFailed(value)
                pending[pid].remove(index)
                done[index] = value
            while due in done:
                yield done.pop(due)
                due += 1

    def _reap(self, pid: int) -> int | None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None
        self.pids.remove(pid)
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        """Let the workers go: end-of-file on their task pipes, then wait for them."""
        self._close_pipes()
        for pid in list(self.pids):
            self._reap(pid)

    def kill(self) -> None:
        """Stop every worker now (SIGKILL) and reap it: waits on nothing a worker holds."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._close_pipes()
        for pid in list(self.pids):
            self._reap(pid)

    def _close_pipes(self) -> None:
        for fd in self._open:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._open = []

    def __enter__(self) -> ForkPool:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()
