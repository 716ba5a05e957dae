"""The recorded process tree: a root pid and its descendants, sampled every interval.

Each interval the tree is walked again from the root (psutil's one pass over
``/proc``), so DataLoader workers, torchrun's ranks and anything they start are
picked up as they appear. CPU % is the process's own CPU time over the wall time
between two samples (at its first sample: since it started). The DDP rank is read
once per process from the environment it was started with: ``RANK``/``LOCAL_RANK``
(torchrun, accelerate, deepspeed, Lightning), then the MPI and Slurm vocabulary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mltools._procfs import read_environ

# (global rank, local rank) variables, in the order they are believed
RANK_VARIABLES: tuple[tuple[str, str], ...] = (
    ("RANK", "LOCAL_RANK"),  # torchrun / torch.distributed.launch, accelerate, deepspeed
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
    ("PMIX_RANK", "MPI_LOCALRANKID"),  # PMIx (Open MPI 5, srun --mpi=pmix)
    ("PMI_RANK", "MPI_LOCALRANKID"),  # MPICH / Intel MPI
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK"),  # MVAPICH2
    ("SLURM_PROCID", "SLURM_LOCALID"),  # srun's task (a rank when srun starts the ranks)
)


def rank_of(env: dict[str, str] | None) -> tuple[int | None, int | None]:
    """(rank, local rank) from a process's environment, ``(None, None)`` if it has none."""
    if not env:
        return None, None
    for global_name, local_name in RANK_VARIABLES:
        rank = _int(env.get(global_name))
        if rank is not None:
            return rank, _int(env.get(local_name))
    return None, _int(env.get("LOCAL_RANK"))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class ProcessInfo:
    """What does not change about a process: written once, when it is first seen."""

    pid: int
    ppid: int | None
    name: str | None
    command: str | None
    rank: int | None
    local_rank: int | None
    first_seen_seconds: float


@dataclass
class ProcessSample:
    """One process at one sample. ``gpus``: index -> (memory bytes, SM %) filled by the recorder."""

    pid: int
    cpu_percent: float | None
    cpu_seconds: float | None  # user + system since the process started
    rss_bytes: int | None
    read_bytes: int | None
    write_bytes: int | None
    threads: int | None
    gpus: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Seen:
    proc: Any  # psutil.Process
    cpu_seconds: float | None
    at: float  # monotonic time of cpu_seconds


class ProcessTree:
    """Samples ``root`` and its descendants; remembers each process by (pid, create time)."""

    def __init__(self, root: int) -> None:
        import psutil

        self.root = root
        self._root = psutil.Process(root)
        self._seen: dict[int, _Seen] = {}

    def alive(self) -> bool:
        import psutil

        try:
            return self._root.is_running() and self._root.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def sample(self, t_seconds: float) -> tuple[list[ProcessSample], list[ProcessInfo]]:
        """The tree now: a sample per live process, and the infos of processes new since last."""
        import psutil

        now = time.monotonic()
        try:
            members = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            members = []
        samples: list[ProcessSample] = []
        new: list[ProcessInfo] = []
        live: dict[int, _Seen] = {}
        for proc in members:
            seen = self._seen.get(proc.pid)
            if seen is not None and seen.proc != proc:  # same pid, another process
                seen = None
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu_seconds = times.user + times.system
                    mem = proc.memory_info()
                    io = _safe_io(proc)
                    threads = proc.num_threads()
                    if seen is None:
                        info = _info(proc, t_seconds)
                        since = proc.create_time()
                        wall = time.time() - since
                        cpu = 100.0 * cpu_seconds / wall if wall > 0 else None
                        new.append(info)
                    else:
                        wall = now - seen.at
                        used = cpu_seconds - (seen.cpu_seconds or 0.0)
                        cpu = max(0.0, 100.0 * used / wall) if wall > 0 else None
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                continue
            live[proc.pid] = _Seen(proc, cpu_seconds, now)
            samples.append(
                ProcessSample(
                    pid=proc.pid,
                    cpu_percent=round(cpu, 2) if cpu is not None else None,
                    cpu_seconds=round(cpu_seconds, 3),
                    rss_bytes=mem.rss,
                    read_bytes=io[0],
                    write_bytes=io[1],
                    threads=threads,
                )
            )
        self._seen = live
        return samples, new


def _safe_io(proc: Any) -> tuple[int | None, int | None]:
    """Bytes read and written through the block layer (``/proc/PID/io``; None if unreadable)."""
    import psutil

    try:
        io = proc.io_counters()
    except (psutil.AccessDenied, AttributeError, OSError):
        return None, None
    return io.read_bytes, io.write_bytes


def _info(proc: Any, t_seconds: float) -> ProcessInfo:
    import psutil

    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        cmdline = []
    rank, local_rank = rank_of(read_environ(proc.pid))
    return ProcessInfo(
        pid=proc.pid,
        ppid=_quiet(proc.ppid),
        name=_quiet(proc.name),
        command=" ".join(cmdline) if cmdline else None,
        rank=rank,
        local_rank=local_rank,
        first_seen_seconds=round(t_seconds, 3),
    )


def _quiet(fn: Any) -> Any:
    import psutil

    try:
        return fn()
    except psutil.Error:
        return None


def is_running(pid: int) -> bool:
    """True when ``pid`` exists (and is not a zombie)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


__all__ = ["ProcessInfo", "ProcessSample", "ProcessTree", "is_running", "rank_of"]
