"""Stop the processes that hold GPUs (``mltools gpu kill``): typically orphaned DDP ranks.

:func:`find_targets` lists them (the preview); :func:`terminate` sends SIGTERM,
waits ``grace`` seconds, then SIGKILLs the survivors. The calling process and
its ancestors are never targets, and psutil refuses to signal a pid that was
reused by another process since the preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mltools.gpu.snapshot import Snapshot


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


@dataclass
class KillResult:
    """What happened to one pid: terminated, killed, gone, or failed (with the reason)."""

    pid: int
    outcome: str
    error: str | None = None


def protected_pids() -> set[int]:
    """This process and every ancestor (the shell, tmux, sshd ...)."""
    import psutil

    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def find_targets(
    snap: Snapshot, *, gpus: list[int] | None = None, user: str | None = None
) -> list[Target]:
    """Processes on the chosen GPUs (all when ``gpus`` is empty) owned by ``user`` (any if None)."""
    protected = protected_pids()
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
                target.create_time = _create_time(proc.pid)
            targets.append(target)
    return targets


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def terminate(targets: list[Target], *, grace: float = 5.0) -> list[KillResult]:
    """SIGTERM every target not skipped; SIGKILL those still alive after ``grace`` seconds."""
    import psutil

    protected = protected_pids()
    results: dict[int, KillResult] = {}
    procs: list[Any] = []
    for target in targets:
        if target.skip_reason or target.pid in protected or target.pid in results:
            continue
        try:
            proc = psutil.Process(target.pid)
            if target.create_time is not None and proc.create_time() != target.create_time:
                results[target.pid] = KillResult(target.pid, "gone", "pid reused since the preview")
                continue
            proc.terminate()
            procs.append(proc)
            results[target.pid] = KillResult(target.pid, "terminated")
        except psutil.NoSuchProcess:
            results[target.pid] = KillResult(target.pid, "gone")
        except psutil.AccessDenied:
            results[target.pid] = KillResult(target.pid, "failed", "permission denied")
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
            results[proc.pid] = KillResult(proc.pid, "killed")
        except psutil.NoSuchProcess:
            pass
        except psutil.AccessDenied:
            results[proc.pid] = KillResult(proc.pid, "failed", "permission denied")
    psutil.wait_procs(alive, timeout=grace)
    return list(results.values())
