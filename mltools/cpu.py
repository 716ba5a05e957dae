"""CPU, memory, /dev/shm and container-limit inspection (psutil, sysfs, procfs).

Answers what ML engineers grep ``/proc/cpuinfo`` and run ``lscpu``, ``nproc``,
``mpstat -P ALL``, ``free`` and ``df /dev/shm`` for, in one report. Topology is
read from sysfs (``/sys/devices/system/cpu``) the way ``lscpu`` does, with
``/proc/cpuinfo`` as the fallback; ``sysfs``/``procfs`` roots are parameters so
that unusual layouts can be tested from fixtures.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

from mltools.errors import InputError, UsageError
from mltools.units import parse_size

# /dev/shm smaller than this is flagged: DataLoader workers pass batches through it.
SHM_WARN_BYTES = 1 << 30
# cgroup v1 reports "no limit" as a huge page-aligned number (2**63 - 4096 on x86-64).
_CGROUP_V1_UNLIMITED = 1 << 62


@dataclass
class CacheInfo:
    """One cache level, like a line of ``lscpu``'s cache summary."""

    name: str  # L1d, L1i, L2, L3
    level: int
    type: str  # Data, Instruction, Unified
    size_bytes: int  # one instance
    instances: int
    total_bytes: int  # size_bytes * instances (what lscpu prints)


@dataclass
class NumaNode:
    id: int
    cpus: list[int]
    memory_total_bytes: int | None = None


@dataclass
class Topology:
    """Static CPU topology (what ``lscpu`` reports)."""

    model_name: str
    architecture: str
    sockets: int
    cores_per_socket: int
    physical_cores: int
    logical_cpus: int
    threads_per_core: int
    online_cpus: list[int]
    numa_nodes: list[NumaNode]
    caches: list[CacheInfo]
    frequency_current_mhz: float | None
    frequency_min_mhz: float | None
    frequency_max_mhz: float | None
    hyperthreading: bool = field(init=False)

    def __post_init__(self) -> None:
        self.hyperthreading = self.threads_per_core > 1


@dataclass
class CpuUsage:
    """Per-CPU time split over an interval, in percent (like ``mpstat -P ALL``).

    The ten ``*_percent`` fields add up to 100 (within rounding) whatever the interval.
    As in mpstat, ``user``/``nice`` exclude the guest time the kernel also counts in them.
    """

    cpu: int
    user_percent: float
    nice_percent: float
    system_percent: float
    iowait_percent: float
    irq_percent: float
    softirq_percent: float
    steal_percent: float
    idle_percent: float
    guest_percent: float = 0.0
    guest_nice_percent: float = 0.0


@dataclass
class MemoryInfo:
    total_bytes: int
    available_bytes: int
    used_bytes: int
    used_percent: float
    swap_total_bytes: int
    swap_used_bytes: int
    swap_used_percent: float


@dataclass
class ShmInfo:
    """Size and use of the shared-memory filesystem that DataLoader workers use."""

    path: str
    total_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None
    warning: str | None = None


@dataclass
class ContainerLimits:
    """cgroup CPU/memory limits and this process's CPU affinity."""

    cgroup_version: int | None
    cpu_quota_cpus: float | None  # quota / period, None when unlimited
    memory_limit_bytes: int | None  # None when unlimited
    affinity_cpus: list[int]
    effective_cpus: float
    gpus: int
    suggested_num_workers: int


@dataclass(kw_only=True)
class CpuReport(Topology):
    """Everything ``mltools cpu`` shows: the topology's fields, then usage, memory and limits.

    The JSON keys are this dataclass's fields, topology first (flat, like ``lscpu -J``).
    """

    load_average: list[float]
    interval_seconds: float
    per_cpu: list[CpuUsage]
    memory: MemoryInfo
    shm: ShmInfo
    limits: ContainerLimits
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- parsing helpers


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_cpulist(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11`` (``cpulist`` files)."""
    cpus: list[int] = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            stride = 1
            if ":" in hi:  # 0-15:2 (stride) is legal in cpulists
                hi, step = hi.split(":", 1)
                stride = int(step.split("/")[0])
            cpus.extend(range(int(lo), int(hi) + 1, stride))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


def _cpuinfo_blocks(procfs: Path) -> list[dict[str, str]]:
    text = _read(procfs / "cpuinfo") or ""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text):
        entry: dict[str, str] = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry.setdefault(key.strip(), value.strip())
        if entry:
            blocks.append(entry)
    return blocks


def _model_name(blocks: list[dict[str, str]]) -> str:
    for block in blocks:
        for key in ("model name", "Model Name", "cpu model", "Processor", "Model"):
            if block.get(key):
                return block[key]
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- topology


def topology(
    sysfs: str | os.PathLike[str] = "/sys", procfs: str | os.PathLike[str] = "/proc"
) -> Topology:
    """Read the CPU topology: sockets, cores, threads, NUMA nodes, caches, frequency.

    Counts follow ``lscpu``: sockets are distinct physical package ids, physical
    cores are distinct sibling sets, threads per core is the largest sibling set.
    """
    sys_root, proc_root = Path(sysfs), Path(procfs)
    cpu_dir = sys_root / "devices" / "system" / "cpu"
    blocks = _cpuinfo_blocks(proc_root)

    online_text = _read(cpu_dir / "online")
    if online_text:
        online = parse_cpulist(online_text)
    else:
        online = sorted(
            int(m.group(1))
            for p in (cpu_dir.iterdir() if cpu_dir.is_dir() else [])
            if (m := re.fullmatch(r"cpu(\d+)", p.name))
        )
    if not online:
        online = [int(b.get("processor", i)) for i, b in enumerate(blocks)]
    if not online:
        raise InputError(
            f"cannot find any CPU under {cpu_dir} or {proc_root / 'cpuinfo'}",
            hint="is /sys mounted? (in a container: run with the default /sys mount)",
        )

    packages: dict[int, int] = {}
    siblings: dict[int, tuple[int, ...]] = {}
    for cpu in online:
        topo = cpu_dir / f"cpu{cpu}" / "topology"
        pkg = _read_int(topo / "physical_package_id")
        sib_text = _read(topo / "core_cpus_list") or _read(topo / "thread_siblings_list")
        if pkg is None or sib_text is None:
            break
        packages[cpu] = pkg
        siblings[cpu] = tuple(c for c in parse_cpulist(sib_text) if c in online) or (cpu,)
    if len(packages) == len(online):
        core_sets = set(siblings.values())
        sockets = len(set(packages.values()))
        physical = len(core_sets)
        threads_per_core = max(len(s) for s in core_sets)
    else:  # sysfs topology missing: fall back to /proc/cpuinfo
        sockets, physical, threads_per_core = _topology_from_cpuinfo(blocks, len(online))

    return Topology(
        model_name=_model_name(blocks),
        architecture=platform.machine(),
        sockets=sockets,
        cores_per_socket=max(1, physical // max(1, sockets)),
        physical_cores=physical,
        logical_cpus=len(online),
        threads_per_core=threads_per_core,
        online_cpus=online,
        numa_nodes=_numa_nodes(sys_root, online),
        caches=_caches(cpu_dir, online),
        **_frequency(cpu_dir, online, blocks),
    )


def _topology_from_cpuinfo(blocks: list[dict[str, str]], logical: int) -> tuple[int, int, int]:
    phys_ids = {b["physical id"] for b in blocks if "physical id" in b}
    cores = {(b.get("physical id"), b["core id"]) for b in blocks if "core id" in b}
    sockets = len(phys_ids) or 1
    physical = len(cores) or logical
    threads = max(1, logical // max(1, physical))
    return sockets, physical, threads


def _numa_nodes(sys_root: Path, online: list[int]) -> list[NumaNode]:
    node_dir = sys_root / "devices" / "system" / "node"
    nodes: list[NumaNode] = []
    if node_dir.is_dir():
        for path in sorted(node_dir.glob("node[0-9]*"), key=lambda p: int(p.name[4:])):
            cpus = parse_cpulist(_read(path / "cpulist") or "")
            meminfo = _read(path / "meminfo") or ""
            match = re.search(r"MemTotal:\s+(\d+)\s*kB", meminfo)
            memory = int(match.group(1)) * 1024 if match else None
            nodes.append(NumaNode(int(path.name[4:]), [c for c in cpus if c in online], memory))
    return nodes or [NumaNode(0, list(online), None)]


_CACHE_NAMES = {("1", "Data"): "L1d", ("1", "Instruction"): "L1i"}


def _caches(cpu_dir: Path, online: list[int]) -> list[CacheInfo]:
    # (level, type) -> {shared cpu set -> size of that instance}
    found: dict[tuple[str, str], dict[tuple[int, ...], int]] = {}
    for cpu in online:
        cache_dir = cpu_dir / f"cpu{cpu}" / "cache"
        if not cache_dir.is_dir():
            continue
        for index in sorted(cache_dir.glob("index[0-9]*")):
            level, ctype = _read(index / "level"), _read(index / "type")
            size_text = _read(index / "size")
            if not (level and ctype and size_text):
                continue  # a missing file: skip this index, keep the rest
            try:
                size = parse_size(size_text)
            except UsageError:
                continue
            shared = _read(index / "shared_cpu_list")
            key = tuple(parse_cpulist(shared)) if shared else (cpu,)
            found.setdefault((level, ctype), {})[key] = size
    caches = []
    for (level, ctype), instances in sorted(found.items()):
        name = _CACHE_NAMES.get((level, ctype), f"L{level}")
        sizes = list(instances.values())
        caches.append(
            CacheInfo(
                name=name,
                level=int(level),
                type=ctype,
                size_bytes=max(sizes),
                instances=len(sizes),
                total_bytes=sum(sizes),
            )
        )
    return caches


def _frequency(
    cpu_dir: Path, online: list[int], blocks: list[dict[str, str]]
) -> dict[str, float | None]:
    def khz_to_mhz(name: str, pick: Callable[[list[int]], int]) -> float | None:
        values = [_read_int(cpu_dir / f"cpu{c}" / "cpufreq" / name) for c in online]
        values = [v for v in values if v]
        return round(pick(values) / 1000, 1) if values else None

    current_values = [
        _read_int(cpu_dir / f"cpu{c}" / "cpufreq" / "scaling_cur_freq") for c in online
    ]
    current_values = [v for v in current_values if v]
    current: float | None = (
        round(sum(current_values) / len(current_values) / 1000, 1) if current_values else None
    )
    if current is None:
        mhz = [float(b["cpu MHz"]) for b in blocks if b.get("cpu MHz")]
        current = round(sum(mhz) / len(mhz), 1) if mhz else None
    return {
        "frequency_current_mhz": current,
        "frequency_min_mhz": khz_to_mhz("cpuinfo_min_freq", min),
        "frequency_max_mhz": khz_to_mhz("cpuinfo_max_freq", max),
    }


# --------------------------------------------------------------------------- usage, memory, shm


# The columns of a ``cpuN`` line of /proc/stat (proc(5)); older kernels stop early.
PROC_STAT_FIELDS = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)


def read_proc_stat(procfs: str | os.PathLike[str] = "/proc") -> dict[int, list[int]]:
    """Per-CPU cumulative times from ``/proc/stat``: cpu number -> the ten counters (ticks).

    Only online CPUs have a line; missing trailing columns (old kernels) read as 0.
    """
    counters: dict[int, list[int]] = {}
    text = (Path(procfs) / "stat").read_text()
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        values = [int(v) for v in rest.split()[: len(PROC_STAT_FIELDS)]]
        counters[int(name[3:])] = values + [0] * (len(PROC_STAT_FIELDS) - len(values))
    return counters


def usage_between(
    before: dict[int, list[int]] | dict[int, tuple[int, ...]],
    after: dict[int, list[int]] | dict[int, tuple[int, ...]],
) -> list[CpuUsage]:
    """Per-CPU percentages from two ``read_proc_stat`` samples, with mpstat's arithmetic.

    As sysstat's mpstat does (``get_per_cpu_interval``, ``write_plain_cpu_stats``): each
    counter's delta over the sum of the deltas of user, nice, system, idle, iowait, irq,
    softirq and steal. guest and guest_nice are already inside user and nice, so they are
    not added to the total and are taken out of %usr/%nice (when guest grew more than
    user, the excess is added to the total). A counter that went backwards counts 0,
    except idle and iowait of a CPU that came back online, which restart from 0. A CPU
    with no ticks at all (tickless, idle) is 100% idle. Only CPUs in both samples count.
    """

    def delta(prev: int, curr: int) -> int:
        return curr - prev if curr > prev else 0

    rows: list[CpuUsage] = []
    for cpu in sorted(set(before) & set(after)):
        u0, n0, s0, i0, w0, h0, so0, st0, g0, gn0 = before[cpu]
        u1, n1, s1, i1, w1, h1, so1, st1, g1, gn1 = after[cpu]
        shift = 0
        if u1 >= u0 and (u1 - g1) < (u0 - g0):  # guest counted ahead of user
            shift += (u0 - g0) - (u1 - g1)
        if n1 >= n0 and (n1 - gn1) < (n0 - gn0):
            shift += (n0 - gn0) - (n1 - gn1)
        if w1 < w0:  # iowait went back: inaccurate iowait accounting, or CPU back online
            w0 = w1 if i1 > i0 else 0
        if i1 < i0:  # CPU back online: idle restarted from 0
            i0 = 0
        pairs = [(u0, u1), (n0, n1), (s0, s1), (w0, w1), (i0, i1), (st0, st1), (h0, h1)]
        total = shift + sum(delta(a, b) for a, b in [*pairs, (so0, so1)])
        if total == 0:
            rows.append(CpuUsage(cpu, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0))
            continue

        def pct(prev: int, curr: int, total: int = total) -> float:
            return round(100.0 * delta(prev, curr) / total, 2)

        rows.append(
            CpuUsage(
                cpu=cpu,
                user_percent=pct(u0 - g0, u1 - g1),
                nice_percent=pct(n0 - gn0, n1 - gn1),
                system_percent=pct(s0, s1),
                iowait_percent=pct(w0, w1),
                irq_percent=pct(h0, h1),
                softirq_percent=pct(so0, so1),
                steal_percent=pct(st0, st1),
                idle_percent=pct(i0, i1),
                guest_percent=pct(g0, g1),
                guest_nice_percent=pct(gn0, gn1),
            )
        )
    return rows


def psutil_times() -> dict[int, tuple[int, ...]]:
    """The same counters from psutil (in microseconds), where /proc/stat is unreadable."""
    import psutil

    return {
        i: tuple(round(getattr(t, f, 0.0) * 1e6) for f in PROC_STAT_FIELDS)
        for i, t in enumerate(psutil.cpu_times(percpu=True))
    }


def check_interval(interval: float) -> None:
    """``UsageError`` unless ``interval`` is a finite number of seconds above 0."""
    if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
        raise UsageError(
            f"--interval must be more than 0 seconds, got {interval}",
            hint="usage is measured between two readings of /proc/stat: try --interval 0.5",
        )


def cpu_usage(interval: float = 1.0, *, procfs: str | os.PathLike[str] = "/proc") -> list[CpuUsage]:
    """Per-CPU time split over ``interval`` seconds (blocks that long), like ``mpstat -P ALL``.

    Computed from ``/proc/stat`` deltas (``usage_between``), so the percentages add up
    to 100 at any interval; psutil's ``cpu_times_percent`` scales them by the interval
    below 1 s (50% at 0.5 s).
    """
    check_interval(interval)
    try:
        before = read_proc_stat(procfs)
    except (OSError, ValueError):  # not Linux, or no /proc here: psutil's counters instead
        before = psutil_times()
        time.sleep(interval)
        return usage_between(before, psutil_times())
    time.sleep(interval)
    return usage_between(before, read_proc_stat(procfs))


def memory() -> MemoryInfo:
    """RAM and swap, the numbers ``free -b`` prints."""
    import psutil

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    return MemoryInfo(
        total_bytes=vm.total,
        available_bytes=vm.available,
        used_bytes=vm.used,
        used_percent=vm.percent,
        swap_total_bytes=sw.total,
        swap_used_bytes=sw.used,
        swap_used_percent=sw.percent,
    )


def shm(path: str | os.PathLike[str] = "/dev/shm") -> ShmInfo:
    """Size and use of ``/dev/shm``, with a warning when DataLoader workers will choke on it."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return ShmInfo(
            str(path), None, None, None, warning=f"{path} is missing: DataLoader workers need it"
        )
    warning = None
    if usage.total < SHM_WARN_BYTES:
        warning = (
            f"{path} is only {usage.total / 2**20:.0f} MiB: DataLoader workers pass batches "
            "through it and die with 'bus error' or 'insufficient shared memory'; run the "
            "container with --shm-size=16g or --ipc=host, or use num_workers=0"
        )
    return ShmInfo(str(path), usage.total, usage.used, usage.free, warning)


# --------------------------------------------------------------------------- container limits


def _cgroup_paths(procfs: Path) -> dict[str, str]:
    """Controller -> cgroup path of this process (``""`` key for the v2 unified hierarchy)."""
    paths: dict[str, str] = {}
    for line in (_read(procfs / "self" / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _candidate_dirs(base: Path, cgroup_path: str) -> Iterable[Path]:
    """The process's cgroup dir and its ancestors inside ``base`` (namespace-aware)."""
    rel = Path(cgroup_path.lstrip("/"))
    seen: set[Path] = set()
    for start in (base / rel, base):
        current = start
        while True:
            if current not in seen and current.is_dir():
                seen.add(current)
                yield current
            if current == base:
                break
            current = current.parent


def _cgroup_limits(sys_root: Path, procfs: Path) -> tuple[int | None, float | None, int | None]:
    root = sys_root / "fs" / "cgroup"
    paths = _cgroup_paths(procfs)
    quota: float | None = None
    mem: int | None = None

    if (root / "cgroup.controllers").exists():  # pure cgroup v2
        for directory in _candidate_dirs(root, paths.get("", "/")):
            cpu_max = (_read(directory / "cpu.max") or "max").split()
            if cpu_max and cpu_max[0] != "max":
                period = int(cpu_max[1]) if len(cpu_max) > 1 else 100_000
                value = int(cpu_max[0]) / period
                quota = value if quota is None else min(quota, value)
            mem_text = _read(directory / "memory.max")
            if mem_text and mem_text != "max":
                mem = int(mem_text) if mem is None else min(mem, int(mem_text))
        return 2, quota, mem

    cpu_base = next((root / n for n in ("cpu,cpuacct", "cpu") if (root / n).is_dir()), None)
    mem_base = root / "memory"
    if cpu_base is None and not mem_base.is_dir():
        return None, None, None
    if cpu_base is not None:
        for directory in _candidate_dirs(cpu_base, paths.get("cpu", "/")):
            q = _read_int(directory / "cpu.cfs_quota_us")
            p = _read_int(directory / "cpu.cfs_period_us")
            if q is not None and q > 0 and p:
                quota = q / p if quota is None else min(quota, q / p)
    if mem_base.is_dir():
        for directory in _candidate_dirs(mem_base, paths.get("memory", "/")):
            value = _read_int(directory / "memory.limit_in_bytes")
            if value is not None and value < _CGROUP_V1_UNLIMITED:
                mem = value if mem is None else min(mem, value)
    return 1, quota, mem


def nvidia_gpu_count(procfs: str | os.PathLike[str] = "/proc") -> int:
    """GPUs the NVIDIA driver exposes, from ``/proc/driver/nvidia/gpus`` (no NVML import)."""
    gpus = Path(procfs) / "driver" / "nvidia" / "gpus"
    try:
        return sum(1 for _ in gpus.iterdir())
    except OSError:
        return 0


def suggest_num_workers(effective_cpus: float, gpus: int) -> int:
    """DataLoader ``num_workers`` per GPU process: the CPUs each rank gets, minus its main thread.

    With 16 effective CPUs and 4 GPUs each rank gets 4 CPUs: 3 workers plus the
    training process itself. Never below 1 when there is more than one CPU.
    """
    per_rank = int(effective_cpus // max(1, gpus))
    if effective_cpus < 2:
        return 0
    return max(1, per_rank - 1)


def container_limits(
    sysfs: str | os.PathLike[str] = "/sys",
    procfs: str | os.PathLike[str] = "/proc",
    *,
    affinity: list[int] | None = None,
    gpus: int | None = None,
) -> ContainerLimits:
    """cgroup v1/v2 CPU quota and memory limit, CPU affinity, and a ``num_workers`` suggestion."""
    version, quota, mem = _cgroup_limits(Path(sysfs), Path(procfs))
    if affinity is None:
        affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    effective = float(len(affinity) or os.cpu_count() or 1)
    if quota is not None:
        effective = min(effective, quota)
    if gpus is None:
        gpus = nvidia_gpu_count(procfs)
    return ContainerLimits(
        cgroup_version=version,
        cpu_quota_cpus=round(quota, 2) if quota is not None else None,
        memory_limit_bytes=mem,
        affinity_cpus=affinity,
        effective_cpus=round(effective, 2),
        gpus=gpus,
        suggested_num_workers=suggest_num_workers(effective, gpus),
    )


# --------------------------------------------------------------------------- the report


def report(
    interval: float = 1.0,
    *,
    sysfs: str | os.PathLike[str] = "/sys",
    procfs: str | os.PathLike[str] = "/proc",
    shm_path: str | os.PathLike[str] = "/dev/shm",
    gpus: int | None = None,
    usage: list[CpuUsage] | None = None,
) -> CpuReport:
    """Topology, per-CPU usage over ``interval`` seconds, memory, shm and limits in one report.

    ``usage``: per-CPU usage already measured over ``interval`` (a
    :class:`mltools.sampler.HostSample`'s ``per_cpu``, for ``--watch``); then nothing blocks.
    """
    check_interval(interval)
    topo = topology(sysfs, procfs)
    if usage is None:
        usage = cpu_usage(interval, procfs=procfs)
    shm_info = shm(shm_path)
    limits = container_limits(sysfs, procfs, gpus=gpus)
    mem = memory()
    warnings = [w for w in [shm_info.warning] if w]
    if limits.memory_limit_bytes is not None and limits.memory_limit_bytes < mem.total_bytes:
        warnings.append(
            f"this container may use {limits.memory_limit_bytes / 2**30:.1f} GiB of the "
            f"host's {mem.total_bytes / 2**30:.1f} GiB: the OOM killer acts at the limit"
        )
    if limits.effective_cpus < topo.logical_cpus:
        warnings.append(
            f"only {limits.effective_cpus:g} of {topo.logical_cpus} CPUs are usable here "
            "(cgroup quota or affinity): size num_workers and OMP_NUM_THREADS by that"
        )
    topo_fields = {f.name: getattr(topo, f.name) for f in fields(Topology) if f.init}
    return CpuReport(
        **topo_fields,
        load_average=[round(x, 2) for x in os.getloadavg()],
        interval_seconds=interval,
        per_cpu=usage,
        memory=mem,
        shm=shm_info,
        limits=limits,
        warnings=warnings,
    )


# Public names used by `from mltools import ...`
cpu_report = report
cpu_topology = topology
