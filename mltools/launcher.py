"""Run one child command the way a shell would, passing its output through: the one launcher.

``ddp-doctor run`` and ``record -- CMD`` use it. :func:`run_child` starts ``argv``,
copies its stdout and stderr, line by line as they come, to the given sinks (and, if
asked, to a log and a per-line callback), and waits. It answers like a shell: the
child's exit code, 128+N when signal N killed it, 127 when the command does not exist,
126 when it cannot be executed.

SIGINT, SIGTERM and SIGHUP (``KeyboardInterrupt`` under :mod:`mltools._signals`) are
forwarded to the child, which gets ``grace`` seconds to exit before SIGKILL. A Ctrl-C
typed on the terminal already reached the child (same foreground process group), so
it is not sent twice. After a SIGTERM/SIGHUP the interruption is re-raised once the
child is gone (mltools then exits 128+N); after a Ctrl-C the child's code is returned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mltools._signals import deferred

LINE_BYTES = 1 << 20  # one line of the child's output, at most, held in memory at once
EXIT_NOT_FOUND = 127  # as sh: command not found
EXIT_NOT_EXECUTABLE = 126  # as sh: found but cannot be executed

#: ``on_line(stream, line)``: stream is "stdout" or "stderr"; called from a reader thread
LineCallback = Callable[[str, bytes], None]


@dataclass
class ChildResult:
    """How the child ended."""

    returncode: int  # as a shell reports it: 128 + N when signal N killed it; 127, 126
    pid: int | None  # None when it never started
    error: str | None = None  # why it did not start (127/126), else None
    log_error: str | None = None  # why the log stopped being written (a full disk), if it did
    interrupted_by: int | None = None  # the signal we forwarded to it, if any


class _Log:
    """The log file, shared by both pumps; a failed write (full disk) stops logging only."""

    def __init__(self, fh: IO[bytes] | None) -> None:
        self.fh, self.lock, self.error = fh, threading.Lock(), None

    def write(self, data: bytes) -> None:
        if self.fh is None:
            return
        with self.lock:
            if self.error is not None:
                return
            try:
                self.fh.write(data)
                self.fh.flush()
            except OSError as exc:
                self.error = exc.strerror or str(exc)


def _pump(
    name: str, source: IO[bytes], sink: IO[bytes] | None, log: _Log, on_line: LineCallback | None
) -> None:
    while line := source.readline(LINE_BYTES):
        if sink is not None:
            try:
                sink.write(line)
                sink.flush()
            except (BrokenPipeError, ValueError, OSError):
                sink = None  # the reader went away: keep logging, stop echoing
        log.write(line)
        if on_line is not None:
            on_line(name, line)
    source.close()


def shell_code(returncode: int) -> int:
    """Popen's -N (killed by signal N) as a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def in_foreground() -> bool:
    """True when a terminal's Ctrl-C reaches the child by itself (our process group
    is the terminal's foreground group)."""
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def stop_child(proc: subprocess.Popen[bytes], signum: int, *, grace: float = 30.0) -> int:
    """Forward ``signum`` to the child (unless a terminal's Ctrl-C already reached it),
    give it ``grace`` seconds, then SIGKILL; its raw Popen return code."""
    if signum != signal.SIGINT or not in_foreground():
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)
    try:
        return proc.wait(timeout=grace)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.kill()
        return proc.wait()


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    log: IO[bytes] | None = None,
    on_line: LineCallback | None = None,
    on_start: Callable[[int], None] | None = None,
    grace: float = 30.0,
    inherit: bool = False,
) -> ChildResult:
    """Run ``argv`` to the end, streaming its output; a shell's exit code back.

    ``stdout``/``stderr`` receive the child's streams as they come (None discards
    them); ``log`` gets both, interleaved as they arrive (a failed write stops the log
    only); ``on_line(stream, line)`` sees every line (from a reader thread; lines are
    cut at 1 MiB). ``on_start(pid)`` is called once the child runs. The child's
    stdin is ours. ``inherit``: the child writes to our own file descriptors 1 and 2
    instead (no pipe: on a terminal it sees the terminal, so its output stays
    line-buffered, coloured and its progress bars redraw); the sinks, ``log`` and
    ``on_line`` must then be None.
    """
    if inherit and (stdout or stderr or log or on_line):
        raise ValueError("inherit=True passes the output through untouched: no sinks")
    if inherit:  # what we printed so far comes before what the child prints
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    log_ = _Log(log)
    proc: subprocess.Popen[bytes] | None = None
    interrupted: KeyboardInterrupt | None = None
    threads: list[threading.Thread] = []
    try:
        with deferred():  # an interruption waits until the child is started and watched
            try:
                proc = subprocess.Popen(
                    list(argv),
                    env=None if env is None else dict(env),
                    cwd=cwd,
                    stdout=None if inherit else subprocess.PIPE,
                    stderr=None if inherit else subprocess.PIPE,
                    stdin=None,
                )
            except FileNotFoundError:
                return ChildResult(EXIT_NOT_FOUND, None, f"command not found: {argv[0]}")
            except PermissionError:
                return ChildResult(EXIT_NOT_EXECUTABLE, None, f"permission denied: {argv[0]}")
            except OSError as exc:  # ENOEXEC (no #! line, wrong architecture), ...
                return ChildResult(EXIT_NOT_EXECUTABLE, None, f"cannot execute {argv[0]}: {exc}")
            threads = [
                threading.Thread(
                    target=_pump, args=(name, src, sink, log_, on_line), daemon=True
                )
                for name, src, sink in (("stdout", proc.stdout, stdout), ("stderr", proc.stderr, stderr))
                if src is not None  # None: inherited, nothing to pump
            ]  # fmt: skip
            for t in threads:
                t.start()
            if on_start is not None:
                on_start(proc.pid)
        returncode = proc.wait()
    except KeyboardInterrupt as exc:
        if proc is None:  # Popen itself failed to finish
            raise
        interrupted = exc
        returncode = stop_child(proc, getattr(exc, "signum", signal.SIGINT), grace=grace)
    for t in threads:
        t.join()
    if interrupted is not None and getattr(interrupted, "signum", None) is not None:
        raise interrupted  # SIGTERM/SIGHUP: the child has been stopped; end like Ctrl-C would
    signum = None if interrupted is None else int(getattr(interrupted, "signum", signal.SIGINT))
    return ChildResult(
        shell_code(returncode), proc.pid, log_error=log_.error, interrupted_by=signum
    )


def find_command(argv0: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Where ``argv0`` would be executed from (PATH of ``env``), or None (a 127 to come)."""
    import shutil

    path = (os.environ if env is None else env).get("PATH")
    found = shutil.which(argv0, path=path)
    if found is not None:
        return Path(found)
    return Path(argv0) if os.sep in argv0 and Path(argv0).is_file() else None
