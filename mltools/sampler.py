"""One sampling layer for every live view: ``gpu --watch``, ``cpu --watch``, ``top``, ``record``.

A :class:`Sampler` keeps one NVML session open across samples (an ``nvmlInit`` per
refresh costs milliseconds and, on some drivers, wakes the GPUs), and measures host
CPU use between one sample and the next from ``/proc/stat`` (mpstat's arithmetic, so
no hidden sleep). :func:`ticks` paces a loop on a drift-free schedule.

    >>> from mltools.sampler import Sampler, ticks
    >>> with Sampler() as s:
    ...     for _ in ticks(1.0):
    ...         sample = s.sample()   # sample.gpus (a Snapshot), sample.host (a HostSample)

Without a usable NVIDIA driver the GPU part is ``None`` and ``gpu_error`` says why;
the host is still sampled. A GPU lost in the middle of a session becomes an error row
of the snapshot (``GPU.error``), never an exception.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mltools.errors import MltoolsError, UsageError

if TYPE_CHECKING:
    from mltools.cpu import CpuUsage
    from mltools.gpu.snapshot import Snapshot

SCHEMA_VERSION = 1

# the first sample's host CPU % covers at least this long (the Sampler waits for the rest)
FIRST_WINDOW_SECONDS = 0.1


@dataclass
class HostSample:
    """The host at one moment: CPU use since the previous sample, memory, load, /dev/shm.

    ``cpu_percent`` is the busy share of all CPUs (100 - idle - iowait, as top shows it),
    ``per_cpu_percent`` the same per online CPU, and ``per_cpu`` the full mpstat split.
    """

    interval_seconds: float
    cpu_percent: float
    per_cpu_percent: list[float]
    memory_used_bytes: int
    memory_total_bytes: int
    memory_available_bytes: int
    swap_used_bytes: int
    swap_total_bytes: int
    load_average: list[float]  # 1, 5, 15 minutes
    shm_used_bytes: int | None  # None: /dev/shm is missing
    shm_total_bytes: int | None
    per_cpu: list[CpuUsage] = field(default_factory=list)


@dataclass
class Sample:
    """What one :meth:`Sampler.sample` call saw."""

    t_monotonic: float  # time.monotonic() when taken
    timestamp: str  # UTC ISO-8601
    gpus: Snapshot | None  # None when gpus=False, or no usable driver / NVML failed
    gpu_error: str | None  # why ``gpus`` is None (e.g. the no-driver line); host still sampled
    host: HostSample | None  # None when host=False
    schema_version: int = SCHEMA_VERSION


def ticks(
    interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[float]:
    """Yield at ``start``, ``start + interval``, ``start + 2*interval`` ... (monotonic clock).

    Each deadline is computed from the start, never from the previous tick, so the
    schedule does not drift by the time the loop body takes. A body that overruns one
    or more deadlines makes the loop skip them: the next tick is the next deadline
    still ahead, never a burst of catch-up ticks. Yields the deadline it waited for.
    ``clock``/``sleep`` are for tests.
    """
    if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
        raise UsageError(f"interval must be a finite number of seconds above 0, not {interval}")
    start = clock()
    k = 0
    while True:
        deadline = start + k * interval
        now = clock()
        if now < deadline:
            sleep(deadline - now)
        yield deadline
        k = max(k + 1, math.floor((clock() - start) / interval) + 1)


def _cpu_counters() -> dict[int, list[int]] | dict[int, tuple[int, ...]]:
    from mltools import cpu

    try:
        return cpu.read_proc_stat()
    except (OSError, ValueError):  # not Linux, or no /proc here
        return cpu.psutil_times()


def _busy(u: CpuUsage) -> float:
    return round(max(0.0, 100.0 - u.idle_percent - u.iowait_percent), 2)


class Sampler:
    """Takes :class:`Sample` s; a context manager that keeps NVML open until :meth:`close`.

    ``gpus``: read the GPUs (``gpu_processes``: and their processes; ``gpu_indices``: only
    these). ``host``: read CPU use, memory, load and /dev/shm. Not thread-safe: one
    sampling thread per Sampler.
    """

    def __init__(
        self,
        *,
        gpus: bool = True,
        gpu_processes: bool = True,
        host: bool = True,
        gpu_indices: Sequence[int] | None = None,
    ) -> None:
        self._gpus, self._gpu_processes, self._host = gpus, gpu_processes, host
        self._gpu_indices = None if gpu_indices is None else list(gpu_indices)
        self._nv: ModuleType | None = None
        self.gpu_exception: MltoolsError | None = None  # why the GPUs cannot be read, if so
        self._first_gpu = True
        if gpus:
            from mltools.gpu import nvml

            try:
                self._nv = nvml.open_session()
            except MltoolsError as exc:
                self.gpu_exception = exc
        self._counters = _cpu_counters() if host else {}
        self._counted_at = time.monotonic()
        self._first_host = True

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the NVML session down (idempotent)."""
        nv, self._nv = self._nv, None
        if nv is not None:
            from mltools.gpu import nvml

            nvml.close_session(nv)

    def sample(self) -> Sample:
        """Read everything asked for, now; never raises for a missing or failing GPU."""
        gpus, error = self._sample_gpus()
        host = self._sample_host() if self._host else None
        return Sample(
            t_monotonic=time.monotonic(),
            timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            gpus=gpus,
            gpu_error=error,
            host=host,
        )

    def _sample_gpus(self) -> tuple[Snapshot | None, str | None]:
        if not self._gpus:
            return None, None
        if self._nv is None:
            exc = self.gpu_exception
            return None, exc.message if exc is not None else "the NVML session is closed"
        from mltools.gpu.snapshot import snapshot

        # the processes' CPU % needs one window on the first sample; later ones reuse it
        window = 0.1 if self._first_gpu else 0.0
        try:
            snap = snapshot(
                nv=self._nv,
                cpu_interval=window,
                processes=self._gpu_processes,
                gpu_indices=self._gpu_indices,
            )
        except MltoolsError as exc:  # NVML failed as a whole this time (not one GPU)
            self.gpu_exception = exc
            return None, exc.message
        self._first_gpu = False
        self.gpu_exception = None
        return snap, None

    def _sample_host(self) -> HostSample:
        import psutil

        from mltools import cpu

        if self._first_host:
            rest = FIRST_WINDOW_SECONDS - (time.monotonic() - self._counted_at)
            if rest > 0:
                time.sleep(rest)
            self._first_host = False
        now, counters = time.monotonic(), _cpu_counters()
        per_cpu = cpu.usage_between(self._counters, counters)
        elapsed = now - self._counted_at
        self._counters, self._counted_at = counters, now
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        try:
            shm: Any = shutil.disk_usage("/dev/shm")
        except OSError:
            shm = None
        busy = [_busy(u) for u in per_cpu]
        return HostSample(
            interval_seconds=round(elapsed, 6),
            cpu_percent=round(sum(busy) / len(busy), 2) if busy else 0.0,
            per_cpu_percent=busy,
            memory_used_bytes=vm.used,
            memory_total_bytes=vm.total,
            memory_available_bytes=vm.available,
            swap_used_bytes=sw.used,
            swap_total_bytes=sw.total,
            load_average=[round(x, 2) for x in os.getloadavg()],
            shm_used_bytes=None if shm is None else shm.used,
            shm_total_bytes=None if shm is None else shm.total,
            per_cpu=per_cpu,
        )
