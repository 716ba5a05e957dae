"""The one signal policy: SIGTERM and SIGHUP do what Ctrl-C does.

``install()`` (the console entry point calls it) makes both raise
``mltools.errors.Interrupted``, a ``KeyboardInterrupt`` subclass carrying the
signal's number, in the main thread. Every cleanup written for Ctrl-C (temp files
removed, rsync terminated, worker pools and launched children stopped) therefore
runs for them too, and the error table exits ``128 + signum`` (143, 129), as a shell
reports a job killed by that signal. A SIGTERM/SIGHUP that arrives while the first
one's cleanup runs is ignored (it must not cut the cleanup short; SIGKILL still
works). A signal that was ignored when mltools started (``nohup``) stays ignored.

``deferred()`` holds an interruption back while a child process is being started:
one landing between ``fork`` and ``Popen`` returning would leave a child that no
cleanup knows about. (Blocking the signals with ``pthread_sigmask`` instead would be
inherited by the child.) The held signal is raised when the block ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mltools.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_state: dict[str, Any] = {
    "installed": False,
    "depth": 0,
    "pending": None,
    "terminating": False,
    "pid": None,
}


def _interruption(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)


def _handler(signum: int, frame: Any) -> None:
    if _state["pid"] not in (None, os.getpid()):
        _as_default(signum)  # a forked child (a pool's worker): the policy is the parent's
        return
    if signum != signal.SIGINT:
        if _state["terminating"]:
            return
        _state["terminating"] = True
    if _state["depth"]:
        _state["pending"] = _state["pending"] or signum
        return
    raise _interruption(signum)


def _as_default(signum: int) -> None:
    """In a forked child: Ctrl-C is the parent's to handle (ignored here); SIGTERM and SIGHUP
    end the child at once, by the signal, as if no handler had been installed."""
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP through this module (main thread only).

    The routing is this process's: a child forked later (a worker pool's) that still has
    the handler ignores Ctrl-C and dies of SIGTERM/SIGHUP like a process without one, so a
    pool's own shutdown signal never raises inside a worker that may hold a lock.
    """
    for sig in HANDLED:
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN:
            continue
        if sig == signal.SIGINT and current is not signal.default_int_handler:
            continue  # someone else's handler: leave it
        signal.signal(sig, _handler)
    _state["installed"] = True
    _state["pid"] = os.getpid()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends (e.g. around ``Popen``)."""
    if not _state["installed"] or threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending = _state["pending"]
        if pending is not None and not _state["depth"]:
            _state["pending"] = None
            raise _interruption(pending)
