"""Stand-in for #26's shared ``mltools.sampler`` until it lands (deleted then).

Same names and fields as the contract in the round's preamble: ``Sampler``, ``Sample``,
``HostSample`` and ``ticks``.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class HostSample:
    cpu_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    swap_used_bytes: int | None
    swap_total_bytes: int | None
    shm_used_bytes: int | None
    shm_total_bytes: int | None
    load_1m: float | None


@dataclass
class Sample:
    t_monotonic: float
    timestamp: str
    gpus: Any
    gpu_error: str | None
    host: HostSample | None


class Sampler:
    def __init__(
        self,
        *,
        gpus: bool = True,
        gpu_processes: bool = True,
        host: bool = True,
        gpu_indices: Sequence[int] | None = None,
    ) -> None:
        self.gpus, self.gpu_processes, self.host = gpus, gpu_processes, host
        self.gpu_indices = gpu_indices
        self._no_gpu: str | None = None

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def sample(self) -> Sample:
        from mltools.gpu.nvml import NoDriverError
        from mltools.gpu.snapshot import snapshot

        t = time.monotonic()
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        snap, error = None, self._no_gpu
        if self.gpus and self._no_gpu is None:
            try:
                snap = snapshot(cpu_interval=0, processes=self.gpu_processes)
            except NoDriverError as exc:
                self._no_gpu = error = exc.message
            if snap is not None and self.gpu_indices is not None:
                snap.gpus = [g for g in snap.gpus if g.index in self.gpu_indices]
        return Sample(t, stamp, snap, error, _host() if self.host else None)


def _host() -> HostSample:
    import psutil

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    try:
        st = os.statvfs("/dev/shm")
        shm_total = st.f_blocks * st.f_frsize
        shm_used = (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        shm_total = shm_used = None
    return HostSample(
        cpu_percent=psutil.cpu_percent(None),
        memory_used_bytes=vm.total - vm.available,
        memory_total_bytes=vm.total,
        swap_used_bytes=sw.used,
        swap_total_bytes=sw.total,
        shm_used_bytes=shm_used,
        shm_total_bytes=shm_total,
        load_1m=os.getloadavg()[0],
    )


def ticks(interval: float) -> Iterator[float]:
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        yield start + n * interval
