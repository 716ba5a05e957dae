"""``mltools record``: what a run did to the machine, recorded into one folder.

:func:`record_command` runs a command and records it; :func:`record_pid` attaches to
a running process tree. :func:`load_run` reads a recording folder back, and
:func:`summarize` / :func:`compare_runs` work from the files alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltools.record.recorder import (
    DEFAULT_INTERVAL,
    Recorder,
    RecordResult,
    record_command,
    record_pid,
    write_outputs,
)
from mltools.record.store import Run, load_run
from mltools.record.summary import compare_summaries, summarize


def compare_runs(a: str | Path, b: str | Path) -> dict[str, Any]:
    """The summaries of recordings ``a`` and ``b`` side by side (B - A and B / A per metric)."""
    return compare_summaries(summarize(load_run(a)), summarize(load_run(b)))


__all__ = [
    "DEFAULT_INTERVAL",
    "RecordResult",
    "Recorder",
    "Run",
    "compare_runs",
    "load_run",
    "record_command",
    "record_pid",
    "summarize",
    "write_outputs",
]
