"""Stand-in for the shared sampling layer and process stopper until #26 lands them.

Same contract as ``mltools.sampler.Sampler`` / ``Sample`` and the process stopper of
the house plan; deleted when main has them.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mltools.gpu import nvml
from mltools.gpu.snapshot import Snapshot, snapshot


@dataclass
class HostSample:
    """CPU, memory, swap, load and /dev/shm of the host at one moment."""

    cpu_percent: float | None = None
    per_cpu_percent: list[float] = field(default_factory=list)
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    swap_total_bytes: int | None = None
    load_average: tuple[float, float, float] | None = None
    shm_used_bytes: int | None = None
    shm_total_bytes: int | None = None


@dataclass
class Sample:
    t_monotonic: float
    timestamp: str
    gpus: Snapshot | None
    gpu_error: str | None
    host: HostSample | None


class Sampler:
    """Samples GPUs (and their processes) and the host; a context manager."""

    def __init__(
        self,
        *,
        gpus: bool = True,
        gpu_processes: bool = True,
        host: bool = True,
        gpu_indices: Sequence[int] | None = None,
    ) -> None:
        self._gpus, self._procs, self._host = gpus, gpu_processes, host
        self._indices = list(gpu_indices) if gpu_indices is not None else None

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sample(self) -> Sample:
        t = time.monotonic()
        snap, error = None, None
        if self._gpus:
            try:
                snap = snapshot(cpu_interval=0, processes=self._procs)
            except nvml.NoDriverError as exc:
                error = exc.message
            if snap is not None and self._indices is not None:
                snap.gpus = [g for g in snap.gpus if g.index in self._indices]
        return Sample(
            t_monotonic=t,
            timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            gpus=snap,
            gpu_error=error,
            host=_host() if self._host else None,
        )

    def close(self) -> None:
        """Nothing held open by the stand-in."""


def _host() -> HostSample:
    import psutil

    mem, swap = psutil.virtual_memory(), psutil.swap_memory()
    try:
        shm = os.statvfs("/dev/shm")
        shm_total = shm.f_blocks * shm.f_frsize
        shm_used = shm_total - shm.f_bfree * shm.f_frsize
    except OSError:
        shm_total = shm_used = None
    return HostSample(
        cpu_percent=psutil.cpu_percent(None),
        per_cpu_percent=psutil.cpu_percent(None, percpu=True),
        memory_used_bytes=mem.total - mem.available,
        memory_total_bytes=mem.total,
        swap_used_bytes=swap.used,
        swap_total_bytes=swap.total,
        load_average=os.getloadavg(),
        shm_used_bytes=shm_used,
        shm_total_bytes=shm_total,
    )


def ticks(interval: float) -> Iterator[float]:
    """Drift-free monotonic schedule."""
    start = time.monotonic()
    n = 0
    while True:
        yield start + n * interval
        n += 1


@dataclass
class StopResult:
    pid: int
    outcome: str  # signalled | gone | refused | failed
    reason: str | None = None


def signal_process(pid: int, create_time: float | None, sig: int) -> StopResult:
    """Send ``sig`` to ``pid`` only if it is still the process that was shown."""
    import psutil

    try:
        me = psutil.Process()
        protected = {1, me.pid, *(p.pid for p in me.parents())}
        if pid in protected:
            return StopResult(pid, "refused", "pid 1, mltools itself or one of its parents")
        proc = psutil.Process(pid)
        if create_time is None or abs(proc.create_time() - create_time) > 0.01:
            return StopResult(pid, "gone", "pid reused since it was shown")
        if os.geteuid() != 0 and proc.uids().real != os.getuid():
            return StopResult(pid, "refused", "another user's process (only root may)")
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return StopResult(pid, "gone", "exited")
    except psutil.AccessDenied:
        return StopResult(pid, "failed", "permission denied")
    return StopResult(pid, "signalled")


def create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
