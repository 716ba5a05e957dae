"""The record the smoke test's ranks keep, and how it is read back: the protocol between
the program inside each rank (:mod:`mltools.ddp.smoke_rank`) and the driver around them
(:mod:`mltools.ddp.smoke`).

Each rank appends JSON lines (``start``, ``step_start``, ``step_end``, ``exit``) to
``rank{N}.jsonl`` in the folder ``$MLTOOLS_SMOKE_DIR`` names; the driver reads them while
the ranks run, and after, to say which rank reached which step. Both sides also name
the faults outside the program that a rank's error text shows (:func:`external_fault`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STEPS = ("init", "barrier", "all_reduce", "broadcast", "all_gather", "ddp_step", "busbw")
FAULTS = ("mismatch", "stall", "crash", "unused-params", "freeze")
CRASH_EXIT_CODE = 17
DIR_ENV = "MLTOOLS_SMOKE_DIR"
PARENT_ENV = "MLTOOLS_SMOKE_PARENT"
FR_TRIGGER = "dump-flight-recorder"
FR_PREFIX = "fr_rank_"


@dataclass
class StepResult:
    """One rank's result for one step."""

    step: str
    status: str  # ok | failed | hung | died | killed | not_run
    duration_seconds: float | None = None
    error: str | None = None
    kind: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RankResult:
    """One rank: its pid, how it ended, and its steps."""

    rank: int
    pid: int | None
    status: str  # ok | failed | hung | died | killed | not_started
    exit_code: int | None
    steps: list[StepResult]


class Recorder:
    """Append-only JSON-lines record of one rank's progress (read by the parent)."""

    def __init__(self, directory: str | None, rank: int) -> None:
        self.path = Path(directory) / f"rank{rank}.jsonl" if directory else None
        self.rank = rank
        self.events: list[dict[str, Any]] = []
        self.open_step: tuple[str, float] | None = None

    def write(self, **event: Any) -> None:
        event["t"] = time.time()
        self.events.append(event)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(event) + "\n")
                fh.flush()


def rank_result(rank: int, events: list[dict[str, Any]], exit_code: int | None) -> RankResult:
    steps: dict[str, StepResult] = {}
    pid = None
    exited = None
    for e in events:
        kind = e.get("event")
        if kind == "start":
            pid = e.get("pid")
        elif kind == "step_start":
            steps[e["step"]] = StepResult(e["step"], "running")
        elif kind == "step_end":
            s = steps.setdefault(e["step"], StepResult(e["step"], "running"))
            s.status = e.get("status", "failed")
            s.duration_seconds = e.get("duration_seconds")
            s.error, s.kind = e.get("error"), e.get("kind")
            s.detail = e.get("detail") or {}
        elif kind == "exit":
            exited = e.get("code")
    ordered = [steps.get(name, StepResult(name, "not_run")) for name in STEPS]
    failed = any(s.status in ("failed", "hung") for s in ordered)
    if not events:
        status = "not_started"
    elif exited == 0:
        status = "ok"
    elif failed:
        status = "hung" if any(s.status == "hung" for s in ordered) else "failed"
    else:
        status = "running"
    return RankResult(rank, pid, status, exit_code if exit_code is not None else exited, ordered)


def read_events(directory: Path, nproc: int) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for rank in range(nproc):
        path = directory / f"rank{rank}.jsonl"
        events = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        out[rank] = events
    return out


_EXTERNAL_FAULTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"Unable to find address for: ?(\S+)"),
        "GLOO_SOCKET_IFNAME names a network interface this host does not have ({0})",
        "set GLOO_SOCKET_IFNAME to an interface that `ip -br addr` lists (the one on the "
        "nodes' shared network), or unset it",
    ),
    (
        re.compile(
            r"no socket interface found|NCCL_SOCKET_IFNAME.*(?:not found|no interface)", re.I
        ),
        "NCCL_SOCKET_IFNAME matches no network interface on this host",
        "set NCCL_SOCKET_IFNAME to an interface that `ip -br addr` lists (e.g. eth0, or ^lo,docker "
        "to exclude some), or unset it",
    ),
    (
        re.compile(r"EADDRINUSE|address already in use", re.I),
        "the rendezvous port is already in use (another job, or a leftover process from an "
        "earlier run)",
        "pick another --master-port / MASTER_PORT, or stop what holds it: `ss -ltnp` shows it",
    ),
    (
        re.compile(
            r"(?:timed out|Connection refused|No route to host|unreachable)[^\n]*?"
            r"(?:connect to|connecting to) \(?\[?([\w.:-]+?)\]?, ?(\d+)\)?",
            re.I,
        ),
        "the ranks could not reach the rendezvous at {0}:{1}",
        "check MASTER_ADDR/MASTER_PORT, that the node of rank 0 is up and started first, and that "
        "no firewall blocks that port (nor the ports gloo/NCCL open between the nodes)",
    ),
)


def external_fault(text: str) -> tuple[str, str] | None:
    """(cause, fix) for a fault outside the training code found in ``text``, else None."""
    for pattern, cause, fix in _EXTERNAL_FAULTS:
        m = pattern.search(text)
        if m:
            return cause.format(*m.groups()), fix
    return None
