"""GPU specs for the NVML test double, and the older fake of the pynvml *module*.

:func:`gpu` builds one GPU's spec (an idle 80 GiB A100 unless told otherwise).
:func:`install` and :func:`install_from_env` now run the real ``pynvml`` on the
C-level double of ``libnvidia-ml`` (:mod:`tests._nvml_double`), so the bindings'
own code, struct layouts and exceptions are exercised.

``make_module(spec)`` is the older in-memory fake of the pynvml module. It repeats
our own idea of NVML, so it is kept only for what the C double cannot show: a
binding *function* replaced at run time (gpustat patches
``nvmlDeviceGetMemoryInfo``) and exceptions raised by Python code in the bindings.

Spec per GPU (all optional but ``index``): see :func:`gpu`. ``not_supported``
lists field names whose call raises NVMLError_NotSupported, ``no_permission``
the same with NVMLError_NoPermission, ``lost: true`` makes every call on the
device raise NVMLError_GpuIsLost. ``process_api``: "v3" (R510+), "v2" (the
_v3 symbol is missing: NVMLError_FunctionNotFound) or "legacy" (only the
unsuffixed call works, process structs without instance ids).
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

import pynvml as _real

MiB = 1024**2
GiB = 1024**3


def gpu(index: int, **kw: Any) -> dict[str, Any]:
    """A GPU spec with realistic defaults (an idle 80 GiB A100 on bus 0x{index}0)."""
    spec: dict[str, Any] = {
        "index": index,
        "name": "NVIDIA A100-SXM4-80GB",
        "uuid": f"GPU-{index:08x}-1111-2222-3333-444455556666",
        "bus_id": f"00000000:{0x10 * (index + 1):02X}:00.0",
        "util_gpu": 0,
        "util_mem": 0,
        "mem_total": 80 * GiB,
        "mem_used": 0,
        "mem_reserved": 512 * MiB,
        "temp": 30 + index,
        "power_mw": 60_000,
        "power_limit_mw": 400_000,
        "fan": 0,
        "clock_sm": 210,
        "clock_mem": 1593,
        "pstate": 0,
        "throttle": 0x1,
        "ecc_uncorrected": 0,
        "persistence": 1,
        "compute_mode": 0,
        "display_active": 0,
        "mig": [0, 0],
        "mig_devices": [],
        "compute": [],
        "graphics": [],
        "not_supported": [],
        "no_permission": [],
        "lost": False,
        "nvlink": {},  # link number -> peer bus id, or "switch"
        "numa": 0,
        "cpus": [0, 1],
    }
    spec.update(kw)
    return spec


def _raise(cls_name: str) -> None:
    raise getattr(_real, cls_name)()


class _Handle:
    def __init__(self, spec: dict[str, Any], mig: dict[str, Any] | None = None) -> None:
        self.spec, self.mig = spec, mig


def make_module(spec: dict[str, Any]) -> types.ModuleType:
    """Build the fake ``pynvml`` module for ``spec`` = {"gpus": [...], "init_error": ..., ...}."""
    mod = types.ModuleType("pynvml")
    for name in dir(_real):
        if name.startswith(("NVML_", "NVMLError", "nvmlClocks", "nvmlMemory_v")):
            setattr(mod, name, getattr(_real, name))
    gpus = spec.get("gpus", [])
    api = spec.get("process_api", "v3")
    state = {"init": 0, "calls": 0}
    mod._state = state  # type: ignore[attr-defined]

    def dev(handle: _Handle, field: str) -> dict[str, Any]:
        state["calls"] += 1
        if state["init"] <= 0:
            _raise("NVMLError_Uninitialized")
        s = handle.spec
        if s.get("lost"):
            _raise("NVMLError_GpuIsLost")
        if field in s.get("not_supported", ()):
            _raise("NVMLError_NotSupported")
        if field in s.get("no_permission", ()):
            _raise("NVMLError_NoPermission")
        return s

    def nvmlInit() -> None:
        if spec.get("spec_file"):  # re-read, so a test can change the GPUs under a running command
            with open(spec["spec_file"]) as fh:
                gpus[:] = json.load(fh)["gpus"]
        if spec.get("init_error"):
            _raise(f"NVMLError_{spec['init_error']}")
        state["init"] += 1

    def nvmlShutdown() -> None:
        if state["init"] <= 0:
            _raise("NVMLError_Uninitialized")
        state["init"] -= 1

    def nvmlSystemGetDriverVersion() -> str:
        return spec.get("driver", "550.54.15")

    def nvmlSystemGetCudaDriverVersion() -> int:
        return spec.get("cuda", 12040)

    def nvmlDeviceGetCount() -> int:
        if state["init"] <= 0:
            _raise("NVMLError_Uninitialized")
        return len(gpus)

    def nvmlDeviceGetHandleByIndex(i: int) -> _Handle:
        if not 0 <= i < len(gpus):
            _raise("NVMLError_InvalidArgument")
        return _Handle(gpus[i])

    def nvmlDeviceGetName(h: _Handle) -> str:
        if h.mig is not None:
            return h.mig["name"]
        return dev(h, "name")["name"]

    def nvmlDeviceGetUUID(h: _Handle) -> str:
        if h.mig is not None:
            return h.mig["uuid"]
        return dev(h, "uuid")["uuid"]

    def nvmlDeviceGetPciInfo(h: _Handle) -> Any:
        s = dev(h, "pci")
        return types.SimpleNamespace(busId=s["bus_id"], busIdLegacy=s["bus_id"][4:])

    def nvmlDeviceGetUtilizationRates(h: _Handle) -> Any:
        s = dev(h, "utilization")
        if s["mig"][0]:
            _raise("NVMLError_NotSupported")
        return types.SimpleNamespace(gpu=s["util_gpu"], memory=s["util_mem"])

    def nvmlDeviceGetMemoryInfo(h: _Handle, version: int | None = None) -> Any:
        if h.mig is not None:
            m = h.mig
            return types.SimpleNamespace(
                total=m["mem_total"], used=m["mem_used"], free=m["mem_total"] - m["mem_used"]
            )
        s = dev(h, "memory")
        total, used, reserved = s["mem_total"], s["mem_used"], s["mem_reserved"]
        if version:
            return types.SimpleNamespace(
                version=version, total=total, reserved=reserved, used=used,
                free=total - used - reserved,
            )  # fmt: skip
        # v1: "used" includes the driver's reservation
        return types.SimpleNamespace(
            total=total, used=used + reserved, free=total - used - reserved
        )

    def nvmlDeviceGetTemperature(h: _Handle, sensor: int) -> int:
        return dev(h, "temperature")["temp"]

    def nvmlDeviceGetPowerUsage(h: _Handle) -> int:
        return dev(h, "power")["power_mw"]

    def nvmlDeviceGetEnforcedPowerLimit(h: _Handle) -> int:
        return dev(h, "power_limit")["power_limit_mw"]

    def nvmlDeviceGetFanSpeed(h: _Handle) -> int:
        return dev(h, "fan")["fan"]

    def nvmlDeviceGetClockInfo(h: _Handle, clock: int) -> int:
        s = dev(h, "clocks")
        return {_real.NVML_CLOCK_SM: s["clock_sm"], _real.NVML_CLOCK_MEM: s["clock_mem"]}[clock]

    def nvmlDeviceGetPerformanceState(h: _Handle) -> int:
        return dev(h, "pstate")["pstate"]

    def nvmlDeviceGetCurrentClocksEventReasons(h: _Handle) -> int:
        return dev(h, "throttle")["throttle"]

    def nvmlDeviceGetTotalEccErrors(h: _Handle, error_type: int, counter: int) -> int:
        return dev(h, "ecc")["ecc_uncorrected"]

    def nvmlDeviceGetPersistenceMode(h: _Handle) -> int:
        return dev(h, "persistence")["persistence"]

    def nvmlDeviceGetMigMode(h: _Handle) -> list[int]:
        return list(dev(h, "mig")["mig"])

    def nvmlDeviceGetMaxMigDeviceCount(h: _Handle) -> int:
        return 7 if dev(h, "mig")["mig"][0] else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(h: _Handle, i: int) -> _Handle:
        migs = dev(h, "mig")["mig_devices"]
        if i >= len(migs):
            _raise("NVMLError_NotFound")
        return _Handle(h.spec, migs[i])

    def nvmlDeviceGetGpuInstanceId(h: _Handle) -> int:
        return h.mig["gi"]

    def nvmlDeviceGetComputeInstanceId(h: _Handle) -> int:
        return h.mig["ci"]

    def procs(h: _Handle, kind: str, struct: str) -> list[Any]:
        out = []
        for p in dev(h, f"{kind}_processes")[kind]:
            obj = types.SimpleNamespace(pid=p["pid"], usedGpuMemory=p.get("mem"))
            if struct != "v1":
                obj.gpuInstanceId = p.get("gi", 0xFFFFFFFF)
                obj.computeInstanceId = p.get("ci", 0xFFFFFFFF)
            out.append(obj)
        return out

    def nvmlDeviceGetProcessUtilization(h: _Handle, timestamp: int) -> list[Any]:
        s = dev(h, "process_utilization")
        samples = [
            types.SimpleNamespace(pid=p["pid"], timeStamp=1_700_000_000_000_000 + k,
                                  smUtil=p["sm"], memUtil=0, encUtil=0, decUtil=0)
            for k, p in enumerate(s["compute"] + s["graphics"]) if "sm" in p
        ]  # fmt: skip
        if not samples:  # what NVML answers when it has no samples newer than timestamp
            _raise("NVMLError_NotFound")
        return samples

    def variant(kind: str, version: str) -> Any:
        def call(h: _Handle) -> list[Any]:
            if api == "legacy" and version in ("v3", "v2"):
                _raise("NVMLError_FunctionNotFound")
            if api == "v2" and version == "v3":
                _raise("NVMLError_FunctionNotFound")
            return procs(h, kind, "v1" if api == "legacy" else version)

        return call

    for kind, key in (("Compute", "compute"), ("Graphics", "graphics")):
        setattr(mod, f"nvmlDeviceGet{kind}RunningProcesses_v3", variant(key, "v3"))
        setattr(mod, f"nvmlDeviceGet{kind}RunningProcesses_v2", variant(key, "v2"))
        # the unsuffixed call is _v3 in current bindings, v1 in old ones
        plain = "plain" if api == "legacy" else "v3"
        setattr(mod, f"nvmlDeviceGet{kind}RunningProcesses", variant(key, plain))

    # what gpustat and other tools look up besides the calls above
    mod._nvmlGetFunctionPointer_cache = {}  # type: ignore[attr-defined]

    def _nvmlGetFunctionPointer(name: str) -> Any:
        missing = {"v2": ("_v3",), "legacy": ("_v3", "_v2")}.get(api, ())
        if name.endswith(missing) and "RunningProcesses" in name:
            _raise("NVMLError_FunctionNotFound")
        return getattr(mod, name, name)

    mod._nvmlGetFunctionPointer = _nvmlGetFunctionPointer  # type: ignore[attr-defined]

    def nvmlDeviceGetIndex(h: _Handle) -> int:
        return dev(h, "index")["index"]

    def nvmlDeviceGetEncoderUtilization(h: _Handle) -> list[int]:
        return [dev(h, "encoder")["util_gpu"] // 4, 167_000]  # [percent, sampling period us]

    def nvmlDeviceGetDecoderUtilization(h: _Handle) -> list[int]:
        return [dev(h, "decoder")["util_gpu"] // 8, 167_000]

    def nvmlDeviceGetComputeMode(h: _Handle) -> int:
        return dev(h, "compute_mode")["compute_mode"]

    def nvmlDeviceGetDisplayActive(h: _Handle) -> int:
        return dev(h, "display_active")["display_active"]

    # topology
    def nvmlDeviceGetNvLinkState(h: _Handle, link: int) -> int:
        links = dev(h, "nvlink")["nvlink"]
        if not links:
            _raise("NVMLError_NotSupported")
        if link >= 12:
            _raise("NVMLError_InvalidArgument")
        return 1 if str(link) in links else 0

    def nvmlDeviceGetNvLinkRemoteDeviceType(h: _Handle, link: int) -> int:
        peer = dev(h, "nvlink")["nvlink"][str(link)]
        return 2 if peer == "switch" else 0

    def nvmlDeviceGetNvLinkRemotePciInfo(h: _Handle, link: int) -> Any:
        return types.SimpleNamespace(busId=dev(h, "nvlink")["nvlink"][str(link)])

    def nvmlDeviceGetTopologyCommonAncestor(a: _Handle, b: _Handle) -> int:
        dev(a, "topology")
        dev(b, "topology")
        levels = spec.get("ancestors", {})
        key = f"{min(a.spec['index'], b.spec['index'])},{max(a.spec['index'], b.spec['index'])}"
        return levels.get(key, _real.NVML_TOPOLOGY_SYSTEM)

    def nvmlDeviceGetCpuAffinity(h: _Handle, words: int) -> list[int]:
        mask = [0] * words
        for cpu in dev(h, "affinity")["cpus"]:
            if cpu // 64 < words:  # NVML fills only the words it is given
                mask[cpu // 64] |= 1 << (cpu % 64)
        return mask

    def nvmlDeviceGetNumaNodeId(h: _Handle) -> int:
        return dev(h, "numa")["numa"]

    for name, value in list(locals().items()):
        if name.startswith("nvml") and callable(value):
            setattr(mod, name, value)
    return mod


def install(monkeypatch: Any, spec: dict[str, Any]) -> Any:
    """The real pynvml on the C double of ``spec`` for the rest of the test."""
    from tests import _nvml_double

    monkeypatch.setitem(sys.modules, "pynvml", _real)
    return _nvml_double.install(monkeypatch, spec)


def install_module(monkeypatch: Any, spec: dict[str, Any]) -> types.ModuleType:
    """The older module fake in ``sys.modules['pynvml']`` (see the module docstring)."""
    mod = make_module(spec)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod


def install_from_env() -> None:
    """For subprocesses: the C double of ``$MLTOOLS_TEST_FAKE_NVML`` (JSON), if set."""
    from tests import _nvml_double

    if os.environ.get("MLTOOLS_TEST_FAKE_NVML"):
        _nvml_double.activate_from_env()
