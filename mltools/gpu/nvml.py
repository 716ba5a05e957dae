"""A thin layer over NVML (``nvidia-ml-py``, module ``pynvml``).

It does what the raw bindings leave to every caller, on every driver generation:

- opens and closes an NVML session, turning "no driver / no library" into
  :class:`NoDriverError` (exit code 3) with a hint;
- reads one field at a time: any NVML answer other than "GPU lost" (not supported,
  no permission, function not found, timeout, not ready, argument version
  mismatch, unknown ...) drops just that field to ``None``, as nvitop and gpustat
  do, while a lost GPU raises :class:`GPULostError`;
- reads strings itself and decodes them with replacement, so a name that is not
  UTF-8 never raises;
- lists processes through the C symbols directly (``_v3``, then ``_v2``, then the
  unsuffixed call), with its own struct layouts, and checks that the pids and sizes
  it got are plausible before believing a layout: drivers 535.43-535.86 write the
  32-byte struct into ``_v3`` while every other driver writes 24 bytes, and the
  bindings have assumed either at different versions (12.535.77: 32, later: 24).
  The bindings' unsuffixed call is never used (it raises
  ``NVMLLibraryMismatchError``, not an ``NVMLError``, in current versions).

``pynvml`` is imported only inside :func:`load`, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from mltools.errors import MltoolsError, NoGPUError

T = TypeVar("T")

NO_DRIVER_HINT = (
    "install the NVIDIA driver (nvidia-smi should work), or run on a machine with an NVIDIA GPU"
)


class NoDriverError(NoGPUError):
    """NVML cannot be used here: no NVIDIA driver, no libnvidia-ml, or no GPU."""


NVML_ERROR_HINT = "run `nvidia-smi` to see whether the driver itself is healthy"


class NVMLCallError(MltoolsError):
    """An NVML call failed in a way that is not about one GPU or one field."""


class GPULostError(MltoolsError):
    """NVML says the GPU fell off the bus (Xid 79 and friends); it needs a reset or reboot."""


def load() -> ModuleType:
    """Import ``pynvml`` (from nvidia-ml-py) without initialising it."""
    from mltools._deps import require

    return require("pynvml")


def open_session() -> ModuleType:
    """``nvmlInit`` and return the bindings; raises :class:`NoDriverError` when NVML is unusable.

    For refresh loops (:class:`mltools.sampler.Sampler`) that keep one session open across
    samples; pair it with :func:`close_session`. One-shot callers use :func:`session`.
    """
    nv = load()
    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        raise NoDriverError(f"no usable NVIDIA driver: {exc}", hint=NO_DRIVER_HINT) from exc
    except OSError as exc:  # a broken libnvidia-ml.so can fail before NVML answers
        raise NoDriverError(f"no usable NVIDIA driver: {exc}", hint=NO_DRIVER_HINT) from exc
    return nv


def close_session(nv: ModuleType) -> None:
    """``nvmlShutdown`` of a session :func:`open_session` opened; never raises."""
    with suppress(nv.NVMLError):
        nv.nvmlShutdown()


@contextmanager
def calls(nv: ModuleType) -> Iterator[ModuleType]:
    """Turn an NVML error that the per-field handling did not absorb into :class:`NVMLCallError`."""
    try:
        yield nv
    except nv.NVMLError as exc:
        raise NVMLCallError(f"NVML error: {exc}", hint=NVML_ERROR_HINT) from exc


@contextmanager
def session() -> Iterator[ModuleType]:
    """``nvmlInit`` ... ``nvmlShutdown``; raises :class:`NoDriverError` when NVML is unusable."""
    nv = open_session()
    try:
        with calls(nv):
            yield nv
    finally:
        close_session(nv)


LOST_HINT = "check `dmesg` for Xid errors; the GPU needs a reset (nvidia-smi -r) or a reboot"

# NVML return codes used here (nvml.h)
_SUCCESS = 0
_ERROR_INSUFFICIENT_SIZE = 7
_ERROR_FUNCTION_NOT_FOUND = 13
_ERROR_GPU_IS_LOST = 15
_ERROR_RESET_REQUIRED = 16
_LOST_CODES = (_ERROR_GPU_IS_LOST, _ERROR_RESET_REQUIRED)
_NOT_AVAILABLE_ULL = 0xFFFFFFFFFFFFFFFF
_NOT_AVAILABLE_UINT = 0xFFFFFFFF


def _binding_errors(nv: ModuleType) -> tuple[type[BaseException], ...]:
    """What a binding call may raise besides ``NVMLError``.

    ``NVMLLibraryMismatchError`` (unsuffixed calls in current bindings) and
    ``UnicodeDecodeError`` (bindings that ``.decode()`` a non-UTF-8 string).
    """
    extra: list[type[BaseException]] = [UnicodeDecodeError]
    mismatch = getattr(nv, "NVMLLibraryMismatchError", None)
    if isinstance(mismatch, type) and issubclass(mismatch, BaseException):
        extra.append(mismatch)
    return tuple(extra)


def is_lost(nv: ModuleType, exc: BaseException) -> bool:
    """True for the errors that mean the device itself is gone."""
    lost = tuple(
        getattr(nv, n) for n in ("NVMLError_GpuIsLost", "NVMLError_ResetRequired") if hasattr(nv, n)
    )
    if isinstance(exc, lost):
        return True
    return getattr(exc, "value", None) in _LOST_CODES and isinstance(exc, nv.NVMLError)


def _lost(exc: BaseException) -> GPULostError:
    return GPULostError(f"GPU has fallen off the bus (NVML: {exc})", hint=LOST_HINT)


def field(nv: ModuleType, fn: Callable[..., T], *args: Any) -> T | None:
    """Call ``fn(*args)``; ``None`` for any NVML answer but "GPU lost", which raises.

    Not supported, no permission, function not found, timeout, not ready,
    argument version mismatch, unknown, a code these bindings do not know: the
    field is dropped, never the GPU. A binding that cannot decode a string, or
    refuses an unversioned call, drops the field too.
    """
    try:
        return fn(*args)
    except nv.NVMLError as exc:
        if is_lost(nv, exc):
            raise _lost(exc) from exc
        return None
    except _binding_errors(nv):
        return None


def text(value: Any) -> str:
    """NVML strings are ``bytes`` in old bindings and ``str`` in new ones; never raises."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _check(nv: ModuleType, ret: int) -> None:
    if ret != _SUCCESS:
        raise nv.NVMLError(ret)


def c_string(nv: ModuleType, symbol: str, *args: Any, size: int = 96) -> str | None:
    """A string-returning NVML call made directly on the C symbol (``fn(*args, buf, size)``).

    The bytes are decoded with replacement, so a name that is not UTF-8 (seen on
    WSL) shows with U+FFFD instead of raising. ``None`` for any answer but lost.
    """
    import ctypes

    def call() -> str:
        fn = nv._nvmlGetFunctionPointer(symbol)
        buf = ctypes.create_string_buffer(size)
        _check(nv, fn(*args, buf, ctypes.c_uint(size)))
        return buf.value.decode("utf-8", "replace")

    return field(nv, call)


def c_uint(nv: ModuleType, symbol: str, handle: Any) -> int | None:
    """``fn(handle, unsigned int *)`` made directly on the C symbol, for calls that older
    bindings have no wrapper for (``nvmlDeviceGetNumaNodeId`` before 12.550)."""
    import ctypes

    def call() -> int:
        fn = nv._nvmlGetFunctionPointer(symbol)
        value = ctypes.c_uint(0)
        _check(nv, fn(handle, ctypes.byref(value)))
        return int(value.value)

    return field(nv, call)


@dataclass
class RawProcess:
    """One entry of an NVML process list. ``used_gpu_memory`` is ``None`` when N/A."""

    pid: int
    used_gpu_memory: int | None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


# (struct size, has instance ids) of nvmlProcessInfo_v1 (16 B), _v2 (24 B) and the
# 535.43-535.86 v3 (32 B, + usedGpuCcProtectedMemory)
_V1, _V2, _V3CC = (16, False), (24, True), (32, True)
_MAX_INSTANCE_ID = 64  # MIG GPU/compute instance ids are small (at most 7 per GPU today)


# PID_MAX_LIMIT on 64-bit Linux: no pid, in any namespace, is ever larger
_PID_LIMIT = 4_194_304


def _decode(buf: bytes, count: int, layout: tuple[int, bool]) -> list[RawProcess]:
    import struct

    size, ids = layout
    out: list[RawProcess] = []
    for k in range(count):
        off = k * size
        pid, mem = struct.unpack_from("<I4xQ", buf, off)
        gi = ci = None
        if ids:
            gi, ci = struct.unpack_from("<II", buf, off + 16)
        out.append(
            RawProcess(
                pid=pid,
                used_gpu_memory=None if mem == _NOT_AVAILABLE_ULL else mem,
                gpu_instance_id=None if gi in (None, _NOT_AVAILABLE_UINT) else gi,
                compute_instance_id=None if ci in (None, _NOT_AVAILABLE_UINT) else ci,
            )
        )
    return out


def _plausible(procs: list[RawProcess], pid_max: int, memory_bound: int, raw_ids: bool) -> bool:
    """Pids in 1..pid_max, sizes within the GPU's memory, instance ids small or N/A."""
    for p in procs:
        if not 0 < p.pid <= pid_max:
            return False
        if p.used_gpu_memory is not None and p.used_gpu_memory > memory_bound:
            return False
        if raw_ids and any(
            i is not None and i > _MAX_INSTANCE_ID
            for i in (p.gpu_instance_id, p.compute_instance_id)
        ):
            return False
    return True


def _has_symbol(nv: ModuleType, symbol: str) -> bool:
    try:
        nv._nvmlGetFunctionPointer(symbol)
    except nv.NVMLError:
        return False
    return True


def _v3_layouts(nv: ModuleType) -> tuple[tuple[int, bool], ...]:
    """The ``_v3`` layouts to try, likeliest first (nvitop's symbol rule as the prior).

    Drivers 535.43-535.86 export ``nvmlDeviceGetConfComputeMemSizeInfo`` but not yet
    ``nvmlDeviceGetRunningProcessDetailList``, and write 32 bytes per process.
    """
    if _has_symbol(nv, "nvmlDeviceGetConfComputeMemSizeInfo") and not _has_symbol(
        nv, "nvmlDeviceGetRunningProcessDetailList"
    ):
        return (_V3CC, _V2)
    return (_V2, _V3CC)


def _call_processes(
    nv: ModuleType, symbol: str, handle: Any, layouts: tuple[tuple[int, bool], ...],
    memory_bound: int,
) -> list[RawProcess] | int | None:  # fmt: skip
    """The processes one C call returns; an NVML code (int) when it fails, ``None``
    when no layout gives plausible entries."""
    import ctypes

    try:
        fn = nv._nvmlGetFunctionPointer(symbol)
    except nv.NVMLError:
        return _ERROR_FUNCTION_NOT_FOUND
    count = ctypes.c_uint(0)
    ret = fn(handle, ctypes.byref(count), None)
    if ret == _SUCCESS:
        return []
    for _ in range(3):  # the list can grow between the two calls
        if ret != _ERROR_INSUFFICIENT_SIZE:
            return int(ret)
        capacity = count.value * 2 + 5
        widest = max(size for size, _ in (_V1, _V2, _V3CC))
        buf = (ctypes.c_ubyte * (capacity * widest))()  # zeroed: unread tails decode as pid 0
        count.value = capacity
        ret = fn(handle, ctypes.byref(count), buf)
        if ret == _SUCCESS:
            break
    else:
        return int(ret)
    n = min(count.value, capacity)
    data = bytes(buf)
    pid_max = _PID_LIMIT
    for layout in layouts:
        procs = _decode(data, n, layout)
        if _plausible(procs, pid_max, memory_bound, layout[1]):
            return procs
    return None


def processes(
    nv: ModuleType, handle: Any, kind: str, *, memory_total: int | None = None
) -> list[RawProcess] | None:
    """``kind`` ("Compute" or "Graphics") processes on ``handle``; ``None`` if NVML cannot say.

    Tries ``_v3``, ``_v2`` and the unsuffixed C call in that order, each with the
    layouts that call may write, and takes the first whose entries are plausible
    (nvitop's check): a missing symbol or implausible pids/sizes fall through to the
    next call. A lost GPU raises :class:`GPULostError`; any other NVML answer
    (no permission, not supported, an odd code) means "unknown".
    """
    name = f"nvmlDeviceGet{kind}RunningProcesses"
    bound = memory_total if memory_total else 1 << 50
    calls = (("_v3", _v3_layouts(nv)), ("_v2", (_V2,)), ("", (_V1, _V2)))
    for suffix, layouts in calls:
        result = _call_processes(nv, name + suffix, handle, layouts, bound)
        if isinstance(result, list):
            return result
        if result is None or result == _ERROR_FUNCTION_NOT_FOUND:
            continue  # implausible with every layout, or not exported: the next call
        if result in _LOST_CODES:
            raise _lost(nv.NVMLError(result))
        return None  # NoPermission, NotSupported, an odd code: unknown, not empty
    return None


def running_processes(
    nv: ModuleType, handle: Any, *, memory_total: int | None = None
) -> tuple[list[RawProcess], list[RawProcess]] | None:
    """(compute, graphics) process lists; ``None`` when NVML can list neither."""
    compute = processes(nv, handle, "Compute", memory_total=memory_total)
    graphics = processes(nv, handle, "Graphics", memory_total=memory_total)
    if compute is None and graphics is None:
        return None
    return compute or [], graphics or []


def gpu_pids() -> list[int]:
    """Pids of the compute processes on every GPU (MIG instances included); [] without NVML.

    Never raises: a GPU (or MIG instance) that errors is skipped and the others are
    still read. This is the discovery ``ddp-doctor hang`` uses.
    """
    try:
        nv = load()
    except MltoolsError:
        return []
    try:
        nv.nvmlInit()
    except (nv.NVMLError, OSError):
        return []
    pids: list[int] = []
    try:
        try:
            count = field(nv, nv.nvmlDeviceGetCount) or 0
        except GPULostError:
            count = 0
        for i in range(count):
            try:
                pids += _gpu_compute_pids(nv, i)
            except (GPULostError, nv.NVMLError, *_binding_errors(nv)):
                continue
    finally:
        with suppress(nv.NVMLError):
            nv.nvmlShutdown()
    return list(dict.fromkeys(pids))


def _gpu_compute_pids(nv: ModuleType, index: int) -> list[int]:
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    handles = [h for _, h in mig_handles(nv, handle)] or [handle]
    pids: list[int] = []
    for h in handles:
        with suppress(GPULostError):
            procs = processes(nv, h, "Compute")
            pids += [p.pid for p in procs or []]
    if not pids and len(handles) > 1:  # instances unreadable: the aggregate view (root)
        pids = [p.pid for p in processes(nv, handle, "Compute") or []]
    return pids


def mig_handles(nv: ModuleType, handle: Any) -> list[tuple[int, Any]]:
    """(index, handle) of every MIG device of a GPU in MIG mode; [] otherwise."""
    mode = (
        field(nv, nv.nvmlDeviceGetMigMode, handle) if hasattr(nv, "nvmlDeviceGetMigMode") else None
    )
    if not mode or not mode[0]:
        return []
    out: list[tuple[int, Any]] = []
    for i in range(field(nv, nv.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
        mig = field(nv, nv.nvmlDeviceGetMigDeviceHandleByIndex, handle, i)
        if mig is not None:
            out.append((i, mig))
    return out
