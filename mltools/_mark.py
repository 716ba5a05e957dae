"""``mltools.mark("eval")``: name a phase of a run that ``mltools record`` is recording.

Tiny and dependency-free on purpose (a training script may import it on every rank):
it appends one JSON line (the name, ``time.monotonic()``, the pid) to the file the
recorder names in ``$MLTOOLS_RECORD_MARKS`` for the command it starts. Outside a
recording, or when the file is gone, it does nothing and never raises.
"""

from __future__ import annotations

import json
import os
import time

MARKS_ENV = "MLTOOLS_RECORD_MARKS"
_MAX_NAME = 200


def mark(name: str) -> None:
    """Put a marker named ``name`` on the recording's timeline, now (a no-op when not recorded)."""
    path = os.environ.get(MARKS_ENV)
    if not path:
        return
    line = json.dumps({"t_monotonic": time.monotonic(), "name": str(name)[:_MAX_NAME],
                       "pid": os.getpid()})  # fmt: skip
    try:
        # no O_CREAT: only the file the recorder made; one write of a short line with
        # O_APPEND lands whole even when every rank marks at once
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)
