"""The NVML test double at the C level: a ``libnvidia-ml.so.1`` compiled from
``tests/nvml_double/libnvidia_ml.c`` for one driver profile, under the real ``pynvml``.

Only the shared library is emulated. ``pynvml`` (nvidia-ml-py, whichever version is
installed) loads it, looks its functions up by name, passes it real ctypes pointers and
builds its own exceptions from the NVML return codes it answers. A profile compiles in
exactly the symbols that driver generation exports, and writes the struct layouts it
writes (:data:`PROFILES`).

The spec is the GPU description of :func:`tests._fake_nvml.gpu` (a dict per GPU) plus,
at the top level: ``profile`` (a key of :data:`PROFILES`, default ``r550``; the older
``process_api`` "v3"/"v2"/"legacy" picks r550/r470/r440), ``driver``, ``cuda``,
``root`` (False: the aggregate process query of a MIG GPU answers NoPermission),
``init_error`` and ``ancestors``. Per GPU: ``not_supported`` / ``no_permission`` name
fields whose calls answer that, ``errors`` maps a field (or an exact C symbol) to any
NVML code name ("Timeout", "NotReady", "ArgumentVersionMismatch", "Unknown" ...),
``name``/``uuid`` may be ``bytes`` (not UTF-8), a process's ``mem`` may be ``None`` (N/A),
and a process on a MIG GPU names its instance by ``gi``/``ci``.

In process: :func:`install` points ``pynvml.nvmlLib`` at the compiled library. In a
subprocess: :func:`activate_from_env` (``tests/_fake_run.py``) preloads it, so that
pynvml's own ``CDLL("libnvidia-ml.so.1")`` finds it by its soname, as on a GPU machine.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "nvml_double" / "libnvidia_ml.c"
SPEC_ENV = "MLTOOLS_NVML_DOUBLE_SPEC"

_OLD = ["HAVE_REMOTE_TYPE"]
_R470 = [*_OLD, "HAVE_MIG", "HAVE_PROCS_V2"]
_R525 = [*_R470, "HAVE_PROCS_V3", "HAVE_MEMINFO_V2"]
_R535 = [*_R525, "HAVE_EVENT_REASONS", "HAVE_CONFCOMPUTE"]

#: profile -> (driver version, CUDA driver version, symbols compiled in)
PROFILES: dict[str, tuple[str, int, list[str]]] = {
    # R440: only the unsuffixed process calls (16-byte v1 struct), no MIG, no memory v2,
    # throttle reasons only under the old ThrottleReasons name
    "r440": ("440.118.02", 10020, []),
    # R470: _v2 process calls (24-byte struct with instance ids), MIG
    "r470": ("470.256.02", 11040, _R470),
    # R525: _v3 (24-byte), nvmlDeviceGetMemoryInfo_v2
    "r525": ("525.147.05", 12000, _R525),
    # 535.43-535.86: _v3 writes the 32-byte struct with usedGpuCcProtectedMemory
    "r535_54": ("535.54.03", 12020, [*_R535, "PROCS_V3_STRUCT32"]),
    # 535.98 as the issue describes it: no _v3 symbol, _v2 24-byte
    "r535_98": ("535.98", 12020, [d for d in _R535 if d != "HAVE_PROCS_V3"]),
    # later R535: _v3 back to 24 bytes while ConfComputeMemSizeInfo is exported and
    # RunningProcessDetailList is not (nvitop's symbol rule alone guesses 32 bytes here)
    "r535_104": ("535.104.05", 12020, _R535),
    # R550+: _v3 24-byte, RunningProcessDetailList, NUMA node id
    "r550": ("550.54.15", 12040, [*_R535, "HAVE_DETAIL_LIST", "HAVE_NUMA"]),
}
ALL_PROFILES = list(PROFILES)

CODES = {
    "Uninitialized": 1, "InvalidArgument": 2, "NotSupported": 3, "NoPermission": 4,
    "NotFound": 6, "InsufficientSize": 7, "DriverNotLoaded": 9, "Timeout": 10,
    "LibraryNotFound": 12, "FunctionNotFound": 13, "GpuIsLost": 15, "ResetRequired": 16,
    "LibRmVersionMismatch": 18, "NoData": 21, "ArgumentVersionMismatch": 25, "NotReady": 27,
    "Unknown": 999,
}  # fmt: skip

# field names of the spec -> the C symbols whose calls read them
_FIELDS: dict[str, list[str]] = {
    "name": ["nvmlDeviceGetName"],
    "uuid": ["nvmlDeviceGetUUID"],
    "pci": ["nvmlDeviceGetPciInfo_v3"],
    "utilization": ["nvmlDeviceGetUtilizationRates"],
    "encoder": ["nvmlDeviceGetEncoderUtilization"],
    "decoder": ["nvmlDeviceGetDecoderUtilization"],
    "memory": ["nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo_v2"],
    "temperature": ["nvmlDeviceGetTemperature"],
    "power": ["nvmlDeviceGetPowerUsage"],
    "power_limit": ["nvmlDeviceGetEnforcedPowerLimit"],
    "energy": ["nvmlDeviceGetTotalEnergyConsumption"],
    "pcie": ["nvmlDeviceGetPcieThroughput"],
    "fan": ["nvmlDeviceGetFanSpeed"],
    "clocks": ["nvmlDeviceGetClockInfo"],
    "pstate": ["nvmlDeviceGetPerformanceState"],
    "throttle": [
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetCurrentClocksEventReasons",
    ],
    "ecc": ["nvmlDeviceGetTotalEccErrors"],
    "persistence": ["nvmlDeviceGetPersistenceMode"],
    "compute_mode": ["nvmlDeviceGetComputeMode"],
    "display_active": ["nvmlDeviceGetDisplayActive"],
    "mig": ["nvmlDeviceGetMigMode"],
    "compute_processes": [f"nvmlDeviceGetComputeRunningProcesses{s}" for s in ("", "_v2", "_v3")],
    "graphics_processes": [f"nvmlDeviceGetGraphicsRunningProcesses{s}" for s in ("", "_v2", "_v3")],
    "process_utilization": ["nvmlDeviceGetProcessUtilization"],
    "nvlink": ["nvmlDeviceGetNvLinkState"],
    "topology": ["nvmlDeviceGetTopologyCommonAncestor"],
    "affinity": ["nvmlDeviceGetCpuAffinity"],
    "numa": ["nvmlDeviceGetNumaNodeId"],
    "handle": ["nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"],
}

_NUMERIC = {
    "util_gpu": "util_gpu", "util_mem": "util_mem", "mem_total": "mem_total",
    "mem_used": "mem_used", "mem_reserved": "mem_reserved", "temp": "temp",
    "power_mw": "power", "power_limit_mw": "power_limit", "fan": "fan",
    "clock_sm": "clock_sm", "clock_mem": "clock_mem", "pstate": "pstate",
    "throttle": "throttle", "ecc_uncorrected": "ecc", "persistence": "persistence",
    "compute_mode": "compute_mode", "display_active": "display", "numa": "numa",
    "energy_mj": "energy", "pcie_tx_kib": "pcie_tx", "pcie_rx_kib": "pcie_rx",
}  # fmt: skip


def _hex(value: str | bytes | None) -> str:
    if value is None:
        return "-"
    raw = value if isinstance(value, bytes) else value.encode()
    return raw.hex() or "-"


def _bytes_of(value: Any) -> str | bytes:
    """Spec strings may come through JSON as {"hex": "..."} for raw bytes."""
    if isinstance(value, dict) and "hex" in value:
        return bytes.fromhex(value["hex"])
    return value


def profile_of(spec: dict[str, Any]) -> str:
    if "profile" in spec:
        return spec["profile"]
    return {"v2": "r470", "legacy": "r440"}.get(spec.get("process_api", "v3"), "r550")


def spec_text(spec: dict[str, Any]) -> str:
    """The C double's line format for ``spec``."""
    driver, cuda, _ = PROFILES[profile_of(spec)]
    lines = [
        f"sys driver {_hex(_bytes_of(spec.get('driver', driver)))}",
        f"sys cuda {int(spec.get('cuda', cuda))}",
        f"sys root {1 if spec.get('root', True) else 0}",
    ]
    if spec.get("init_error"):
        lines.append(f"sys init_error {CODES[spec['init_error']]}")
    for symbol, code in (spec.get("system_errors") or {}).items():
        lines.append(f"err -1 -1 {symbol} {CODES[code]}")
    for symbol, value in (spec.get("raw_system_errors") or {}).items():
        lines.append(f"err -1 -1 {symbol} {int(value)}")
    for pos, g in enumerate(spec.get("gpus", [])):
        i = pos
        lines.append(f"gpu {i} name {_hex(_bytes_of(g.get('name', 'NVIDIA A100-SXM4-80GB')))}")
        lines.append(f"gpu {i} uuid {_hex(_bytes_of(g.get('uuid', f'GPU-{i:08x}')))}")
        lines.append(f"gpu {i} bus {_hex(g.get('bus_id', f'00000000:{0x10 * (i + 1):02X}:00.0'))}")
        for key, ckey in _NUMERIC.items():
            if key in g and g[key] is not None:
                lines.append(f"gpu {i} {ckey} {int(g[key])}")
        mig = g.get("mig", [0, 0])
        lines.append(f"gpu {i} mig_cur {int(mig[0])}")
        lines.append(f"gpu {i} mig_pend {int(mig[1])}")
        if g.get("lost"):
            lines.append(f"gpu {i} lost 1")
        errors: dict[str, str] = {}
        for name in g.get("not_supported", ()):
            errors[name] = "NotSupported"
        for name in g.get("no_permission", ()):
            errors[name] = "NoPermission"
        errors.update(g.get("errors") or {})
        for name, code in errors.items():
            for symbol in _FIELDS.get(name, [name]):
                lines.append(f"err {i} -1 {symbol} {CODES[code]}")
        for symbol, value in (g.get("raw_errors") or {}).items():  # exact symbol, numeric code
            lines.append(f"err {i} -1 {symbol} {int(value)}")
            for j in range(len(g.get("mig_devices", []))):
                lines.append(f"err {i} {j} {symbol} {int(value)}")
        migs = g.get("mig_devices", [])
        for j, m in enumerate(migs):
            lines.append(
                f"mig {i} {j} {m.get('gi', j)} {m.get('ci', 0)} {int(m['mem_total'])} "
                f"{int(m.get('mem_used', 0))} {_hex(_bytes_of(m['uuid']))} "
                f"{_hex(_bytes_of(m.get('name', 'MIG')))}"
            )
            for symbol, code in (m.get("errors") or {}).items():
                for sym in _FIELDS.get(symbol, [symbol]):
                    lines.append(f"err {i} {j} {sym} {CODES[code]}")
        for kind, key in (("c", "compute"), ("g", "graphics")):
            for p in g.get(key, []):
                j = p.get("mig", -1)
                if "gi" in p and j == -1:
                    j = next(
                        (k for k, m in enumerate(migs)
                         if m.get("gi", k) == p["gi"] and m.get("ci", 0) == p.get("ci", 0)),
                        -1,
                    )  # fmt: skip
                mem = p.get("mem")
                lines.append(
                    f"proc {i} {j} {kind} {int(p['pid'])} {-1 if mem is None else int(mem)}"
                )
                if "sm" in p and kind == "c":
                    lines.append(f"sample {i} {int(p['pid'])} {int(p['sm'])}")
        for link, peer in (g.get("nvlink") or {}).items():
            if peer == "switch":
                lines.append(f"nvlink {i} {int(link)} 2 -")
            else:
                lines.append(f"nvlink {i} {int(link)} 0 {_hex(peer)}")
        for cpu in g.get("cpus", [0, 1]):
            lines.append(f"cpu {i} {int(cpu)}")
    for key, level in (spec.get("ancestors") or {}).items():
        a, b = key.split(",")
        lines.append(f"anc {int(a)} {int(b)} {int(level)}")
    return "\n".join(lines) + "\n"


def write_spec(path: str | os.PathLike[str], spec: dict[str, Any]) -> None:
    """Write ``spec`` atomically, so a running command re-reads either the old or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(spec_text(spec))
    os.replace(tmp, path)


def _cache_dir() -> Path:
    root = os.environ.get("MLTOOLS_NVML_DOUBLE_DIR") or os.path.join(
        tempfile.gettempdir(), f"mltools-nvml-double-{os.getuid()}"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def build(profile: str) -> Path:
    """Compile (once; cached by source hash) the library of ``profile``; its path."""
    _, _, defines = PROFILES[profile]
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + repr(defines).encode()).hexdigest()[:16]
    out = _cache_dir() / f"{profile}-{digest}" / "libnvidia-ml.so.1"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or "cc"
    tmp = out.with_name(f".build-{os.getpid()}.so")
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", *[f"-D{d}" for d in defines],
         "-Wl,-soname,libnvidia-ml.so.1", "-o", str(tmp), str(SOURCE)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.replace(tmp, out)
    return out


def compiler_available() -> bool:
    return bool(os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc"))


class Double:
    """The loaded library of one profile, and the spec file it reads at every ``nvmlInit`` and whenever the file was replaced."""

    def __init__(self, profile: str, lib: ctypes.CDLL, spec_path: Path) -> None:
        self.profile, self.lib, self.spec_path = profile, lib, spec_path
        # The library stays loaded for the whole test process, its count with it: a session
        # an earlier test left open is not this test's (test_sampler counted 4 after
        # test_top_cli's stand-in app kept three open).
        self._before = int(lib.mltools_double_init_count())

    def init_count(self) -> int:
        """``nvmlInit`` calls since this test installed the double not yet matched by an
        ``nvmlShutdown`` (negative when an earlier test's session closes meanwhile)."""
        return int(self.lib.mltools_double_init_count()) - self._before

    def update(self, spec: dict[str, Any]) -> None:
        write_spec(self.spec_path, spec)


def install(monkeypatch: Any, spec: dict[str, Any], spec_path: Path | None = None) -> Double:
    """Load the profile's library as ``pynvml.nvmlLib`` for the rest of the test."""
    import pynvml

    profile = profile_of(spec)
    path = build(profile)
    if spec_path is None:
        spec_path = _cache_dir() / f"spec-{os.getpid()}.txt"  # one per test process, reused
    write_spec(spec_path, spec)
    monkeypatch.setenv(SPEC_ENV, str(spec_path))
    lib = ctypes.CDLL(str(path))
    monkeypatch.setattr(pynvml, "nvmlLib", lib)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    if hasattr(pynvml, "_nvmlLib_refcount"):
        monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    return Double(profile, lib, spec_path)


def activate_from_env() -> None:
    """For ``tests/_fake_run.py``: preload the library for ``$MLTOOLS_TEST_FAKE_NVML`` (JSON).

    ``{"spec_file": PATH}`` (a file written by :func:`write_spec`) is re-read at every
    ``nvmlInit``, so a test can change the GPUs under a running command.
    """
    raw = os.environ.get("MLTOOLS_TEST_FAKE_NVML")
    if not raw:
        return
    spec = json.loads(raw)
    path = build(profile_of(spec))
    if spec.get("spec_file"):
        os.environ[SPEC_ENV] = spec["spec_file"]
    else:
        fd, name = tempfile.mkstemp(prefix="nvml-spec-", suffix=".txt")
        os.close(fd)
        write_spec(name, spec)
        os.environ[SPEC_ENV] = name
        atexit.register(_unlink, name)  # (a process that execs, gpu run, leaves it in /tmp)
    # loaded once by path; pynvml's CDLL("libnvidia-ml.so.1") then resolves to it by soname
    ctypes.CDLL(str(path))


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
