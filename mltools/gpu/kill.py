"""Stop the processes that hold GPUs (``mltools gpu kill``): typically orphaned DDP ranks.

:func:`find_targets` lists them (the preview); :func:`terminate` sends SIGTERM,
waits ``grace`` seconds, then SIGKILLs the survivors. The calling process and
its ancestors are never targets, and psutil refuses to signal a pid that was
reused by another process since the preview.
"""

from __future__ import annotations

from dataclasses import dataclass

from mltools.gpu.snapshot import Snapshot
from mltools.stopper import StopResult, ancestors, create_time, stop


@dataclass
class Target:
    """A GPU process that matches the filters, and whether it may be signalled."""

    gpu_index: int
    pid: int
    user: str | None
    gpu_memory_bytes: int | None
    command: str | None
    skip_reason: str | None = None  # set: shown in the preview, never signalled
    create_time: float | None = None  # to refuse a pid reused since the preview


KillResult = StopResult  # what happened to one pid: terminated, killed, gone, or failed


def find_targets(
    snap: Snapshot, *, gpus: list[int] | None = None, user: str | None = None
) -> list[Target]:
    """Processes on the chosen GPUs (all when ``gpus`` is empty) owned by ``user`` (any if None)."""
    protected = ancestors()
    seen: set[int] = set()
    targets: list[Target] = []
    for gpu in snap.gpus:
        if gpus and gpu.index not in gpus:
            continue
        for proc in gpu.processes or []:
            if user is not None and proc.user != user:
                continue
            skip = None
            if proc.pid in protected:
                skip = "this mltools process or one of its parents"
            elif not proc.visible:
                skip = "not visible in this PID namespace"
            elif proc.pid in seen:
                skip = "listed on an earlier GPU"
            seen.add(proc.pid)
            target = Target(
                gpu.index, proc.pid, proc.user, proc.gpu_memory_bytes, proc.command, skip
            )
            if skip is None:
                target.create_time = create_time(proc.pid)
            targets.append(target)
    return targets


def terminate(targets: list[Target], *, grace: float = 5.0, tree: bool = False) -> list[KillResult]:
    """SIGTERM every target not skipped; SIGKILL those still alive after ``grace`` seconds.

    ``tree``: each target's descendants too (its DataLoader workers), after it."""
    chosen = [(t.pid, t.create_time) for t in targets if not t.skip_reason]
    return stop(chosen, grace=grace, tree=tree)


def descendants(pid: int) -> list[int]:
    """The pids below ``pid`` now (children, grandchildren ...); [] when it is gone."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
