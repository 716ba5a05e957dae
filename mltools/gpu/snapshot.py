"""One NVML snapshot of every GPU and the processes on it (what nvidia-smi, gpustat and nvitop show).

Field names follow ``nvidia-smi --query-gpu`` with units in the key
(``memory_used_bytes``, ``power_draw_watts``). ``None`` means NVML reports the
field as not supported (shown as "n/a"). A lost GPU becomes a :class:`GPU` with
``error`` set while the others are still read.
"""

from __future__ import annotations

import datetime as _dt
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from mltools.gpu import nvml
from mltools.gpu.procinfo import Attribution, describe_processes

SCHEMA_VERSION = 1

_COMPUTE_MODES = {0: "default", 1: "exclusive_thread", 2: "prohibited", 3: "exclusive_process"}

# (bit, JSON name, table short name) of NVML's clocks-event (throttle) reasons; idle is
# not a throttle. The one table: the snapshot reads the bits, gpu/display.py shows the names.
THROTTLE_REASONS: tuple[tuple[int, str, str], ...] = (
    (0x0000000000000002, "applications_clocks_setting", "AppClocks"),
    (0x0000000000000004, "sw_power_cap", "SwPowerCap"),
    (0x0000000000000008, "hw_slowdown", "HwSlowdown"),
    (0x0000000000000010, "sync_boost", "SyncBoost"),
    (0x0000000000000020, "sw_thermal_slowdown", "SwThermal"),
    (0x0000000000000040, "hw_thermal_slowdown", "HwThermal"),
    (0x0000000000000080, "hw_power_brake_slowdown", "HwPowerBrake"),
    (0x0000000000000100, "display_clock_setting", "DisplayClocks"),
    (0x0000000000000200, "board_limit", "BoardLimit"),
    (0x0000000000000400, "reliability", "Reliability"),
)


@dataclass(kw_only=True)
class GPUProcess(Attribution):
    """A process holding memory on a GPU (or a MIG instance of it), and where it runs.

    The container/pod/Slurm fields and ``label`` come from :class:`Attribution`.
    """

    pid: int
    type: str  # "compute", "graphics" or "compute+graphics"
    gpu_memory_bytes: int | None
    visible: bool  # False: not in this PID namespace (another container, or exited)
    gpu_sm_percent: int | None = None  # the process's share of SM time (latest NVML sample)
    user: str | None = None
    command: str | None = None
    cpu_percent: float | None = None
    host_memory_rss_bytes: int | None = None
    running_seconds: float | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


@dataclass
class MIGDevice:
    """One MIG instance of a GPU in MIG mode."""

    index: int
    uuid: str | None
    name: str | None
    gpu_instance_id: int | None
    compute_instance_id: int | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None


@dataclass
class GPU:
    """One physical GPU. ``error`` is set (and most fields ``None``) when it could not be read."""

    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    utilization_gpu_percent: int | None = None
    utilization_memory_percent: int | None = None
    utilization_encoder_percent: int | None = None
    utilization_decoder_percent: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    temperature_gpu_celsius: int | None = None
    power_draw_watts: float | None = None
    power_limit_watts: float | None = None
    energy_joules: float | None = None  # NVML's counter: energy since the driver loaded
    pcie_tx_bytes_per_second: int | None = None  # NVML's last 20 ms window (KiB/s * 1024)
    pcie_rx_bytes_per_second: int | None = None
    fan_speed_percent: int | None = None
    clock_sm_mhz: int | None = None
    clock_memory_mhz: int | None = None
    performance_state: str | None = None
    throttle_reasons: list[str] | None = None
    ecc_errors_uncorrected_volatile: int | None = None
    persistence_mode: bool | None = None
    compute_mode: str | None = None  # "default", "exclusive_process", "prohibited"
    display_active: bool | None = None
    mig_mode: bool | None = None
    mig_devices: list[MIGDevice] = field(default_factory=list)
    processes: list[GPUProcess] | None = field(default_factory=list)
    ghost_memory_bytes: int | None = None
    error: str | None = None


@dataclass
class Snapshot:
    """Every GPU on one host at one moment. ``error`` is set when NVML is unusable."""

    host: str
    timestamp: str
    driver_version: str | None
    cuda_driver_version: str | None
    gpus: list[GPU]
    schema_version: int = SCHEMA_VERSION
    error: str | None = None


def snapshot(
    *,
    cpu_interval: float = 0.1,
    processes: bool = True,
    nv: ModuleType | None = None,
    gpu_indices: Sequence[int] | None = None,
) -> Snapshot:
    """Read every GPU (or those in ``gpu_indices``) and its processes now.

    ``cpu_interval``: one shared sampling window for the processes' CPU % (never
    one per GPU); 0 skips it (CPU % is then ``None`` for processes not seen by
    an earlier call in this interpreter). ``nv``: an NVML session already open
    (:func:`mltools.gpu.nvml.open_session`), kept open afterwards; without it the call
    opens and closes its own. Raises :class:`~mltools.gpu.nvml.NoDriverError`
    when NVML is unusable. nvidia-smi equivalent: ``nvidia-smi -q``.
    """
    with _opened(nv) as nv:
        driver = nvml.c_string(nv, "nvmlSystemGetDriverVersion", size=80)
        cuda = nvml.field(nv, nv.nvmlSystemGetCudaDriverVersion)
        count = nv.nvmlDeviceGetCount()
        gpus: list[GPU] = []
        raw_procs: dict[int, list[tuple[Any, str, int | None]]] = {}
        wanted = (
            range(count) if gpu_indices is None else sorted(set(gpu_indices) & set(range(count)))
        )
        for index in wanted:
            gpu, procs = _read_gpu(nv, index, processes)
            gpus.append(gpu)
            if procs is not None:
                raw_procs[index] = procs
    pids = {p.pid for procs in raw_procs.values() for p, _, _ in procs}
    hosts = describe_processes(pids, cpu_interval) if pids else {}
    for gpu in gpus:
        if gpu.index in raw_procs:
            gpu.processes = [
                _process(p, kind, sm, hosts[p.pid]) for p, kind, sm in raw_procs[gpu.index]
            ]
            gpu.ghost_memory_bytes = ghost_memory(gpu)
    return Snapshot(
        host=socket.gethostname(),
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        driver_version=driver,
        cuda_driver_version=_cuda_version(cuda),
        gpus=gpus,
    )


@contextmanager
def _opened(nv: ModuleType | None) -> Iterator[ModuleType]:
    """The caller's open session (errors still typed), else a session of our own."""
    if nv is None:
        with nvml.session() as own:
            yield own
    else:
        with nvml.calls(nv):
            yield nv


def ghost_memory(gpu: GPU) -> int | None:
    """GPU memory no process visible here accounts for.

    That is memory held by processes outside this PID namespace (NVML lists
    host pids that do not exist in a container) plus used memory no listed
    process claims (a dead process's leaked context, another VM/namespace).
    ``None`` when it cannot be known: no memory or process list, or a visible
    process whose memory NVML reports as not available (MIG's aggregate view,
    WDDM).
    """
    if gpu.memory_used_bytes is None or gpu.processes is None:
        return None
    if any(p.gpu_memory_bytes is None for p in gpu.processes if p.visible):
        return None
    accounted = sum(p.gpu_memory_bytes or 0 for p in gpu.processes if p.visible)
    return max(0, gpu.memory_used_bytes - accounted)


def _cuda_version(value: int | None) -> str | None:
    if value is None:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _read_gpu(nv: ModuleType, index: int, with_procs: bool) -> tuple[GPU, list | None]:
    """One GPU's fields, and its raw (process, kind, SM %) entries; an error row if it is lost."""
    gpu = GPU(index=index)
    try:
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        _fill(nv, handle, gpu)
        procs = _raw_processes(nv, handle, gpu) if with_procs else None
        if procs:
            gpu_sm = _process_sm(nv, handle)
            procs = [(p, kind, gpu_sm.get(p.pid)) for p, kind in procs]
    except nvml.GPULostError as exc:
        return _error_row(gpu, exc.message), None
    except nv.NVMLError as exc:
        message = (
            f"GPU has fallen off the bus (NVML: {exc})"
            if nvml.is_lost(nv, exc)
            else f"NVML error: {exc}"
        )
        return _error_row(gpu, message), None
    if procs is None:
        gpu.processes = None
    return gpu, procs


def _error_row(gpu: GPU, message: str) -> GPU:
    return GPU(index=gpu.index, name=gpu.name, uuid=gpu.uuid, pci_bus_id=gpu.pci_bus_id,
               processes=None, error=message)  # fmt: skip


def _fill(nv: ModuleType, handle: Any, gpu: GPU) -> None:
    f = nvml.field
    gpu.name = nvml.c_string(nv, "nvmlDeviceGetName", handle)
    gpu.uuid = nvml.c_string(nv, "nvmlDeviceGetUUID", handle)
    pci = f(nv, nv.nvmlDeviceGetPciInfo, handle)
    gpu.pci_bus_id = nvml.text(pci.busId) if pci is not None else None
    util = f(nv, nv.nvmlDeviceGetUtilizationRates, handle)
    if util is not None:
        gpu.utilization_gpu_percent, gpu.utilization_memory_percent = util.gpu, util.memory
    enc = f(nv, nv.nvmlDeviceGetEncoderUtilization, handle)
    gpu.utilization_encoder_percent = enc[0] if enc is not None else None
    dec = f(nv, nv.nvmlDeviceGetDecoderUtilization, handle)
    gpu.utilization_decoder_percent = dec[0] if dec is not None else None
    mem = _memory(nv, handle)
    if mem is not None:
        gpu.memory_used_bytes, gpu.memory_total_bytes = mem.used, mem.total
        gpu.memory_free_bytes = mem.free
        gpu.memory_reserved_bytes = getattr(mem, "reserved", None)
    gpu.temperature_gpu_celsius = f(nv, nv.nvmlDeviceGetTemperature, handle, 0)
    power = f(nv, nv.nvmlDeviceGetPowerUsage, handle)
    gpu.power_draw_watts = power / 1000 if power is not None else None
    limit = f(nv, nv.nvmlDeviceGetEnforcedPowerLimit, handle)
    gpu.power_limit_watts = limit / 1000 if limit is not None else None
    energy = f(nv, nv.nvmlDeviceGetTotalEnergyConsumption, handle)  # mJ, Volta and later
    gpu.energy_joules = energy / 1000 if energy is not None else None
    gpu.pcie_tx_bytes_per_second, gpu.pcie_rx_bytes_per_second = _pcie(nv, handle)
    gpu.fan_speed_percent = f(nv, nv.nvmlDeviceGetFanSpeed, handle)
    gpu.clock_sm_mhz = f(nv, nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM)
    gpu.clock_memory_mhz = f(nv, nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM)
    pstate = f(nv, nv.nvmlDeviceGetPerformanceState, handle)
    gpu.performance_state = f"P{pstate}" if pstate is not None and pstate != 32 else None
    gpu.throttle_reasons = _throttle(nv, handle)
    gpu.ecc_errors_uncorrected_volatile = f(
        nv, nv.nvmlDeviceGetTotalEccErrors, handle,
        nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC,
    )  # fmt: skip
    persistence = f(nv, nv.nvmlDeviceGetPersistenceMode, handle)
    gpu.persistence_mode = bool(persistence) if persistence is not None else None
    mode = f(nv, nv.nvmlDeviceGetComputeMode, handle)
    gpu.compute_mode = _COMPUTE_MODES.get(mode) if mode is not None else None
    display = f(nv, nv.nvmlDeviceGetDisplayActive, handle)
    gpu.display_active = bool(display) if display is not None else None
    mig = f(nv, nv.nvmlDeviceGetMigMode, handle) if hasattr(nv, "nvmlDeviceGetMigMode") else None
    gpu.mig_mode = bool(mig[0]) if mig is not None else None
    if gpu.mig_mode:
        gpu.mig_devices = _mig_devices(nv, handle)


def _pcie(nv: ModuleType, handle: Any) -> tuple[int | None, int | None]:
    """PCIe TX and RX throughput in bytes/s (NVML answers KiB/s; Maxwell and later)."""
    out: list[int | None] = []
    for counter in (nv.NVML_PCIE_UTIL_TX_BYTES, nv.NVML_PCIE_UTIL_RX_BYTES):
        kib = nvml.field(nv, nv.nvmlDeviceGetPcieThroughput, handle, counter)
        out.append(kib * 1024 if kib is not None else None)
    return out[0], out[1]


def _memory(nv: ModuleType, handle: Any) -> Any:
    """Memory info v2 (``used`` excludes driver-reserved memory, as nvidia-smi shows it).

    Falls back to v1 on drivers without v2, and when another library (gpustat)
    has replaced ``nvmlDeviceGetMemoryInfo`` with a one-argument version.
    """
    version = getattr(nv, "nvmlMemory_v2", None)
    if version is not None:
        try:
            mem = nvml.field(nv, nv.nvmlDeviceGetMemoryInfo, handle, version)
        except TypeError:
            mem = None
        if mem is not None:
            return mem
    return nvml.field(nv, nv.nvmlDeviceGetMemoryInfo, handle)


def _throttle(nv: ModuleType, handle: Any) -> list[str] | None:
    """Clocks-event reasons (R535+), else the same bits under their old name (ThrottleReasons)."""
    bits = None
    for name in (
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    ):
        fn = getattr(nv, name, None)
        bits = nvml.field(nv, fn, handle) if fn is not None else None
        if bits is not None:
            break
    if bits is None:
        return None
    return [name for bit, name, _ in THROTTLE_REASONS if bits & bit]


def _mig_devices(nv: ModuleType, handle: Any) -> list[MIGDevice]:
    f = nvml.field
    out: list[MIGDevice] = []
    for i, mig in nvml.mig_handles(nv, handle):
        mem = f(nv, nv.nvmlDeviceGetMemoryInfo, mig)
        out.append(
            MIGDevice(
                index=i,
                uuid=nvml.c_string(nv, "nvmlDeviceGetUUID", mig),
                name=nvml.c_string(nv, "nvmlDeviceGetName", mig),
                gpu_instance_id=f(nv, nv.nvmlDeviceGetGpuInstanceId, mig),
                compute_instance_id=f(nv, nv.nvmlDeviceGetComputeInstanceId, mig),
                memory_used_bytes=mem.used if mem is not None else None,
                memory_total_bytes=mem.total if mem is not None else None,
            )
        )
    return out


def _raw_processes(nv: ModuleType, handle: Any, gpu: GPU) -> list[tuple[Any, str]] | None:
    """The GPU's processes; in MIG mode read per MIG device, as nvitop does.

    On a MIG GPU the parent handle answers NoPermission to a normal user, and
    even as root it has no per-process memory; each MIG device handle has both.
    """
    lists = None
    if gpu.mig_mode:
        migs = nvml.mig_handles(nv, handle)
        per_instance = [
            (m, nvml.running_processes(nv, h, memory_total=m.memory_total_bytes))
            for (_, h), m in zip(migs, gpu.mig_devices)
        ]
        known = [(m, r) for m, r in per_instance if r is not None]
        if known:
            compute = [_in_instance(p, m) for m, (c, _) in known for p in c]
            graphics = [_in_instance(p, m) for m, (_, g) in known for p in g]
            lists = (compute, graphics)
    if lists is None:
        lists = nvml.running_processes(nv, handle, memory_total=gpu.memory_total_bytes)
    if lists is None:
        return None
    compute, graphics = lists
    merged: dict[tuple[int, Any, Any], tuple[Any, str]] = {}
    for kind, procs in (("compute", compute), ("graphics", graphics)):
        for p in procs:
            key = (p.pid, p.gpu_instance_id, p.compute_instance_id)
            if key in merged:
                merged[key] = (merged[key][0], "compute+graphics")
            else:
                merged[key] = (p, kind)
    return list(merged.values())


def _in_instance(p: nvml.RawProcess, mig: MIGDevice) -> nvml.RawProcess:
    """A MIG device's process, with that instance's ids where NVML left them out."""
    if p.gpu_instance_id is None:
        p.gpu_instance_id = mig.gpu_instance_id
    if p.compute_instance_id is None:
        p.compute_instance_id = mig.compute_instance_id
    return p


def _process_sm(nv: ModuleType, handle: Any) -> dict[int, int]:
    """pid -> SM % from NVML's latest utilization sample of each process ({} if none)."""
    fn = getattr(nv, "nvmlDeviceGetProcessUtilization", None)
    if fn is None:
        return {}
    try:
        samples = fn(handle, 0)
    except nv.NVMLError as exc:  # NotFound (no samples yet), NotSupported, and odd codes
        if nvml.is_lost(nv, exc):
            raise
        return {}
    latest: dict[int, Any] = {}
    for sample in samples:
        if sample.pid not in latest or sample.timeStamp > latest[sample.pid].timeStamp:
            latest[sample.pid] = sample
    return {pid: int(sample.smUtil) for pid, sample in latest.items()}


def _process(raw: nvml.RawProcess, kind: str, sm: int | None, host: Any) -> GPUProcess:
    att = host.attribution or Attribution()
    return GPUProcess(
        pid=raw.pid,
        type=kind,
        gpu_memory_bytes=raw.used_gpu_memory,
        visible=host.visible,
        gpu_sm_percent=sm,
        user=host.user,
        command=host.command,
        cpu_percent=host.cpu_percent,
        host_memory_rss_bytes=host.host_memory_rss_bytes,
        running_seconds=host.running_seconds,
        gpu_instance_id=raw.gpu_instance_id,
        compute_instance_id=raw.compute_instance_id,
        **asdict(att),
    )
