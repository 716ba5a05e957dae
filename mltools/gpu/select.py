"""Choose free GPUs (``mltools gpu pick``), well connected to each other when N > 1.

Indices are NVML's, listed in PCI bus order, and always go with
``CUDA_DEVICE_ORDER=PCI_BUS_ID``: CUDA's default order ("fastest first") can
differ from nvidia-smi's, which is the classic "I set CUDA_VISIBLE_DEVICES and
it still used GPU 0".
"""

from __future__ import annotations

import getpass
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mltools.errors import UnavailableError, UsageError
from mltools.gpu.snapshot import GPU, Snapshot, snapshot
from mltools.gpu.topology import Topology, gpu_topology

# Exhaustive subset search up to this many combinations, greedy beyond.
_MAX_COMBINATIONS = 20_000


@dataclass
class Candidate:
    """One GPU and why it does or does not qualify."""

    index: int
    pci_bus_id: str | None
    memory_free_bytes: int | None
    utilization_gpu_percent: int | None
    qualifies: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class Selection:
    """The chosen GPUs (NVML indices in PCI bus order) and the environment to run on them."""

    indices: list[int]
    uuids: list[str | None]
    candidates: list[Candidate]

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.indices)

    @property
    def env(self) -> dict[str, str]:
        """``CUDA_DEVICE_ORDER`` and ``CUDA_VISIBLE_DEVICES`` for a child process."""
        return {
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": self.cuda_visible_devices,
        }


def check(
    gpu: GPU,
    *,
    min_free_memory_bytes: int | None,
    max_utilization_percent: float | None,
    user: str,
    exclusive: bool,
) -> Candidate:
    """Decide whether ``gpu`` is free by the thresholds, collecting every reason it is not."""
    reasons: list[str] = []
    if gpu.error:
        reasons.append(gpu.error)
    if gpu.mig_mode:
        reasons.append("MIG mode is on (pick a MIG instance by UUID instead)")
    if gpu.compute_mode == "prohibited":
        reasons.append("compute mode is Prohibited")
    elif gpu.compute_mode in ("exclusive_process", "exclusive_thread") and gpu.processes:
        reasons.append("compute mode is exclusive and a process holds it")
    free = gpu.memory_free_bytes
    if min_free_memory_bytes is not None and (free is None or free < min_free_memory_bytes):
        reasons.append("not enough free memory")
    util = gpu.utilization_gpu_percent
    if max_utilization_percent is not None and util is not None and util > max_utilization_percent:
        reasons.append(f"utilization {util}% > {max_utilization_percent:g}%")
    procs = gpu.processes or []
    foreign = [p for p in procs if not p.visible or p.user != user]
    if exclusive and procs:
        reasons.append(f"{len(procs)} process(es) running")
    elif foreign:
        reasons.append(f"{len(foreign)} process(es) of other users or not visible here")
    return Candidate(
        index=gpu.index,
        pci_bus_id=gpu.pci_bus_id,
        memory_free_bytes=free,
        utilization_gpu_percent=util,
        qualifies=not reasons,
        reasons=reasons,
    )


def select_gpus(
    n: int = 1,
    *,
    min_free_memory_bytes: int | None = None,
    max_utilization_percent: float | None = 10.0,
    exclusive: bool = False,
    user: str | None = None,
    snap: Snapshot | None = None,
    topology: Topology | None = None,
    use_topology: bool = True,
) -> Selection:
    """Pick ``n`` GPUs that are free now.

    A GPU qualifies when it has at least ``min_free_memory_bytes`` free, is at
    most ``max_utilization_percent`` busy, is not in MIG mode, and runs no
    process of another user (none at all with ``exclusive``). For ``n`` > 1 the
    best-connected set wins (NVLink, then same PCIe switch, ... see
    :mod:`mltools.gpu.topology`); ties go to more free memory. Raises
    :class:`~mltools.errors.UnavailableError` when fewer than ``n`` qualify.
    ``use_topology=False`` skips reading the link matrix (e.g. for another
    host's snapshot).
    """
    if n < 1:
        raise UsageError(f"the number of GPUs must be at least 1, not {n}")
    snap = snap or snapshot(cpu_interval=0.0)
    me = user or getpass.getuser()
    candidates = [
        check(
            g,
            min_free_memory_bytes=min_free_memory_bytes,
            max_utilization_percent=max_utilization_percent,
            user=me,
            exclusive=exclusive,
        )
        for g in snap.gpus
    ]
    free = [c for c in candidates if c.qualifies]
    if len(free) < n:
        busy = "; ".join(f"GPU {c.index}: {', '.join(c.reasons)}" for c in candidates if c.reasons)
        err = UnavailableError(
            f"{len(free)} of {len(candidates)} GPUs qualify, {n} needed"
            + (f" ({busy})" if busy else ""),
            hint="relax --min-free-mem / --max-util, or wait with `mltools gpu run --wait`",
        )
        err.candidates = candidates  # type: ignore[attr-defined]  # for `gpu pick --json`
        raise err
    if n > 1 and topology is None and use_topology:
        topology = gpu_topology()
    chosen = _best_set(free, n, topology)
    by_bus = sorted(chosen, key=lambda c: (c.pci_bus_id or "", c.index))
    uuid = {g.index: g.uuid for g in snap.gpus}
    return Selection(
        indices=[c.index for c in by_bus],
        uuids=[uuid.get(c.index) for c in by_bus],
        candidates=candidates,
    )


def wait_for_gpus(
    n: int = 1,
    *,
    timeout: float | None = None,
    poll: float = 5.0,
    on_wait: Callable[[float, UnavailableError], None] | None = None,
    **criteria: object,
) -> Selection:
    """:func:`select_gpus`, retried every ``poll`` seconds until ``n`` GPUs qualify.

    ``timeout`` (seconds, None: forever) bounds the whole wait: the last check happens at
    the deadline itself, whatever ``poll`` is (a timeout shorter than the poll interval
    still waits its full length). ``on_wait(seconds_waited, why)`` is called before each
    pause. Raises :class:`~mltools.errors.UnavailableError` when the deadline passes.
    ``criteria`` are :func:`select_gpus`' keyword arguments.
    """
    start = time.monotonic()
    while True:
        try:
            return select_gpus(n, **criteria)  # type: ignore[arg-type]
        except UnavailableError as exc:
            waited = time.monotonic() - start
            left = None if timeout is None else timeout - waited
            if left is not None and left <= 0:
                raise UnavailableError(
                    f"timed out after {waited:.0f} s waiting for {n} free GPU(s): {exc.message}",
                    hint="raise --timeout, or relax --min-free-mem / --max-util",
                ) from exc
            if on_wait is not None:
                on_wait(waited, exc)
            time.sleep(poll if left is None else min(poll, left))


def _best_set(free: list[Candidate], n: int, topology: Topology | None) -> list[Candidate]:
    def roominess(c: Candidate) -> tuple[int, int]:
        return (-(c.memory_free_bytes or 0), c.index)

    ranked = sorted(free, key=roominess)
    if n == 1 or topology is None:
        return ranked[:n]
    pos = {g.index: k for k, g in enumerate(topology.gpus)}

    def link_cost(group: tuple[Candidate, ...]) -> int:
        return sum(
            topology.cost(pos[a.index], pos[b.index]) if a.index in pos and b.index in pos else 60
            for a, b in itertools.combinations(group, 2)
        )

    def score(group: tuple[Candidate, ...]) -> tuple[int, int, list[int]]:
        return (
            link_cost(group),
            -sum(c.memory_free_bytes or 0 for c in group),
            [c.index for c in group],
        )

    if _combinations(len(ranked), n) <= _MAX_COMBINATIONS:
        return list(min(itertools.combinations(ranked, n), key=score))
    group = [ranked[0]]
    while len(group) < n:
        rest = [c for c in ranked if c not in group]
        group.append(min(rest, key=lambda c: score((*group, c))))
    return group


def _combinations(k: int, n: int) -> int:
    from math import comb

    return comb(k, n)
