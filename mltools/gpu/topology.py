"""How GPUs connect to each other and to the CPUs (``nvidia-smi topo -m``).

Link kinds, best first: ``NV#`` (# NVLinks, direct or through NVSwitch),
``PIX`` (one PCIe switch), ``PXB`` (several PCIe switches), ``PHB`` (a PCIe
host bridge), ``NODE`` (host bridges within one NUMA node), ``SYS`` (across
CPU sockets, over QPI/UPI/SMP interconnect).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mltools.gpu import nvml

# NVML_TOPOLOGY_* level -> nvidia-smi's label
_LEVELS = {0: "X", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
# lower is better; NVLink scores below every PCIe kind
_COST = {"X": 0, "PIX": 10, "PXB": 20, "PHB": 30, "NODE": 40, "SYS": 50}
_NVLINK_DEVICE_TYPE_SWITCH = 2


@dataclass
class TopoGPU:
    """One GPU's place in the machine."""

    index: int
    pci_bus_id: str | None
    cpu_affinity: str | None  # e.g. "0-15,32-47"
    numa_node: int | None
    nvlinks_active: int


@dataclass
class Topology:
    """``links[i][j]``: how GPU ``i`` reaches GPU ``j`` ("X" on the diagonal, ``None`` if unknown)."""

    gpus: list[TopoGPU]
    links: list[list[str | None]]

    def cost(self, i: int, j: int) -> int:
        """A number for comparing links: NVLink < PIX < PXB < PHB < NODE < SYS < unknown."""
        link = self.links[i][j]
        if link is None:
            return 60
        if link.startswith("NV"):
            return -int(link[2:] or 1)
        return _COST.get(link, 60)


def gpu_topology() -> Topology:
    """Read the GPU link matrix, CPU affinity and NUMA node of every GPU.

    Raises :class:`~mltools.gpu.nvml.NoDriverError` when NVML is unusable.
    nvidia-smi equivalent: ``nvidia-smi topo -m``.
    """
    with nvml.session() as nv:
        count = nv.nvmlDeviceGetCount()
        handles: list[Any] = []
        for i in range(count):
            try:
                handles.append(nv.nvmlDeviceGetHandleByIndex(i))
            except nv.NVMLError:
                handles.append(None)
        buses = [_bus(nv, h) for h in handles]
        nvlinks = [_nvlinks(nv, h, buses) for h in handles]
        gpus = [
            TopoGPU(
                index=i,
                pci_bus_id=buses[i],
                cpu_affinity=_affinity(nv, h),
                numa_node=_numa(nv, h, buses[i]),
                nvlinks_active=sum(nvlinks[i].values()),
            )
            for i, h in enumerate(handles)
        ]
        links: list[list[str | None]] = []
        for i in range(count):
            row: list[str | None] = []
            for j in range(count):
                row.append("X" if i == j else _link(nv, handles, nvlinks, i, j))
            links.append(row)
    return Topology(gpus=gpus, links=links)


def _guard(nv: ModuleType, fn: Any, *args: Any) -> Any:
    try:
        return nvml.field(nv, fn, *args)
    except (nvml.GPULostError, nv.NVMLError):
        return None


def _bus(nv: ModuleType, handle: Any) -> str | None:
    if handle is None:
        return None
    pci = _guard(nv, nv.nvmlDeviceGetPciInfo, handle)
    return nvml.text(pci.busId) if pci is not None else None


def _nvlinks(nv: ModuleType, handle: Any, buses: list[str | None]) -> dict[int, int]:
    """Active NVLinks per peer GPU index; key -1 counts links into an NVSwitch."""
    peers: dict[int, int] = {}
    if handle is None:
        return peers
    for link in range(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18)):
        try:
            if not nv.nvmlDeviceGetNvLinkState(handle, link):
                continue
        except nv.NVMLError:
            break  # NotSupported / InvalidArgument: no (more) links
        kind = _guard(nv, nv.nvmlDeviceGetNvLinkRemoteDeviceType, handle, link)
        if kind == _NVLINK_DEVICE_TYPE_SWITCH:
            peers[-1] = peers.get(-1, 0) + 1
            continue
        remote = _guard(nv, nv.nvmlDeviceGetNvLinkRemotePciInfo, handle, link)
        bus = nvml.text(remote.busId) if remote is not None else None
        if bus in buses:
            peer = buses.index(bus)
            peers[peer] = peers.get(peer, 0) + 1
    return peers


def _link(
    nv: ModuleType, handles: list[Any], nvlinks: list[dict[int, int]], i: int, j: int
) -> str | None:
    direct = nvlinks[i].get(j, 0)
    switched = min(nvlinks[i].get(-1, 0), nvlinks[j].get(-1, 0))
    if direct or switched:
        return f"NV{direct + switched}"
    if handles[i] is None or handles[j] is None:
        return None
    level = _guard(nv, nv.nvmlDeviceGetTopologyCommonAncestor, handles[i], handles[j])
    return _LEVELS.get(level) if level is not None else None


def _affinity(nv: ModuleType, handle: Any) -> str | None:
    if handle is None:
        return None
    words = max(16, ((os.cpu_count() or 1) + 63) // 64)  # at least 1024 CPUs' worth of bits
    mask = _guard(nv, nv.nvmlDeviceGetCpuAffinity, handle, words)
    if mask is None:
        return None
    cpus = [w * 64 + b for w, word in enumerate(mask) for b in range(64) if int(word) >> b & 1]
    return cpu_ranges(cpus) if cpus else None


def cpu_ranges(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8, 10, 11] -> "0-3,8,10-11" (the ``taskset``/``numactl`` list form)."""
    parts: list[str] = []
    start = prev = cpus[0]
    for cpu in [*cpus[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


def _numa(nv: ModuleType, handle: Any, bus: str | None) -> int | None:
    if handle is None:
        return None
    try:  # on the C symbol: nvidia-ml-py < 12.550 has no wrapper for it
        node = nvml.c_uint(nv, "nvmlDeviceGetNumaNodeId", handle)
    except nvml.GPULostError:
        node = None
    if node is not None and node < 0xFFFFFFFF:  # (NVML answers -1, as unsigned, for none)
        return node
    if bus is None:
        return None
    # NVML bus ids look like 00000000:3B:00.0; sysfs wants 0000:3b:00.0
    domain, _, rest = bus.partition(":")
    path = f"/sys/bus/pci/devices/{domain[-4:]}:{rest}".lower() + "/numa_node"
    try:
        with open(path) as fh:
            value = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return value if value >= 0 else None
