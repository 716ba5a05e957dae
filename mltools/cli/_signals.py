"""The one signal policy: SIGTERM and SIGHUP do what Ctrl-C does.

``install()`` (the console entry point calls it) makes both raise
``mltools.errors.Interrupted``, a ``KeyboardInterrupt`` subclass carrying the
signal's number, in the main thread. Every cleanup written for Ctrl-C (temp files
removed, rsync terminated, worker pools and launched children stopped) therefore
runs for them too, and the error table exits ``128 + signum`` (143, 129), as a shell
reports a job killed by that signal. A signal that arrives while the first one's
cleanup runs is ignored (a second SIGTERM must not cut the cleanup short; SIGKILL
still works). A SIGHUP that was ignored when mltools started (``nohup``) stays ignored.
"""

from __future__ import annotations

import signal
from typing import Any

from mltools.errors import Interrupted

HANDLED = (signal.SIGTERM, signal.SIGHUP)
_interrupted = False


def _handler(signum: int, frame: Any) -> None:
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    raise Interrupted(signum)


def install() -> None:
    """Route SIGTERM and SIGHUP through ``Interrupted`` (main thread only)."""
    for sig in HANDLED:
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue
        signal.signal(sig, _handler)
