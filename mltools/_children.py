"""Child processes that an interruption stops, even when worker threads started them.

``run(argv, timeout=..., ...)`` is ``subprocess.run(..., capture_output=True, text=True)``
whose process is registered while it runs. ``stopped_on_interrupt()`` wraps a block (a
thread pool running ``run`` calls): when Ctrl-C, SIGTERM or SIGHUP (or any error) ends
the block, every registered child's process group (each child starts its own) gets
SIGTERM, then SIGKILL after ``grace`` seconds, so the pool's threads return at once
instead of waiting out their timeouts, and no ssh, ProxyCommand or py-spy outlives
mltools. A timeout kills the whole group too (a grandchild holding the pipes open
would otherwise keep ``communicate`` waiting).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

_live: set[subprocess.Popen[str]] = set()
_lock = threading.Lock()


def run(argv: Sequence[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)``."""
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: grandchildren (a ProxyCommand) go with it
        **kwargs,
    ) as proc:
        with _lock:
            _live.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.communicate()
            raise
        finally:
            with _lock:
                _live.discard(proc)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def stop_all(grace: float = 2.0) -> None:
    """SIGTERM every registered child, SIGKILL those still there after ``grace`` s."""
    with _lock:
        procs = list(_live)
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        _signal_group(proc, signal.SIGKILL)  # what is left of its group (a ProxyCommand)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextmanager
def stopped_on_interrupt() -> Iterator[None]:
    """Stop the children ``run`` started when the block ends by an exception."""
    try:
        yield
    except BaseException:
        stop_all()
        raise
