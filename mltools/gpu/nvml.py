"""A thin layer over NVML (``nvidia-ml-py``, module ``pynvml``).

It does three things the raw bindings leave to every caller:

- opens and closes an NVML session, turning "no driver / no library" into
  :class:`NoDriverError` (exit code 3) with a hint;
- reads one field at a time, mapping "not supported on this GPU" (and
  permission / missing-function answers) to ``None`` so one odd field never
  sinks a whole snapshot, while a lost GPU still raises :class:`GPULostError`;
- picks the newest process-list call the driver has (``_v3``, ``_v2``, legacy).

``pynvml`` is imported only inside :func:`load`, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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


@contextmanager
def session() -> Iterator[ModuleType]:
    """``nvmlInit`` ... ``nvmlShutdown``; raises :class:`NoDriverError` when NVML is unusable."""
    nv = load()
    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        raise NoDriverError(f"no usable NVIDIA driver: {exc}", hint=NO_DRIVER_HINT) from exc
    except OSError as exc:  # a broken libnvidia-ml.so can fail before NVML answers
        raise NoDriverError(f"no usable NVIDIA driver: {exc}", hint=NO_DRIVER_HINT) from exc
    try:
        yield nv
    except nv.NVMLError as exc:  # anything the per-field handling did not absorb
        raise NVMLCallError(f"NVML error: {exc}", hint=NVML_ERROR_HINT) from exc
    finally:
        with suppress(nv.NVMLError):
            nv.nvmlShutdown()


def _soft_errors(nv: ModuleType) -> tuple[type[BaseException], ...]:
    names = (
        "NVMLError_NotSupported",
        "NVMLError_NoPermission",
        "NVMLError_FunctionNotFound",
        "NVMLError_InvalidArgument",
        "NVMLError_NotFound",
        "NVMLError_NoData",
        "NVMLError_Unknown",
    )
    return tuple(getattr(nv, n) for n in names if hasattr(nv, n))


def is_lost(nv: ModuleType, exc: BaseException) -> bool:
    """True for the errors that mean the device itself is gone."""
    lost = tuple(
        getattr(nv, n) for n in ("NVMLError_GpuIsLost", "NVMLError_ResetRequired") if hasattr(nv, n)
    )
    return isinstance(exc, lost)


def field(nv: ModuleType, fn: Callable[..., T], *args: Any) -> T | None:
    """Call ``fn(*args)``; ``None`` when NVML says not supported / no permission / unknown.

    A lost GPU raises :class:`GPULostError`; other NVML errors propagate.
    """
    try:
        return fn(*args)
    except nv.NVMLError as exc:
        if is_lost(nv, exc):
            raise GPULostError(f"GPU has fallen off the bus (NVML: {exc})", hint=LOST_HINT) from exc
        if isinstance(exc, _soft_errors(nv)):
            return None
        raise


LOST_HINT = "check `dmesg` for Xid errors; the GPU needs a reset (nvidia-smi -r) or a reboot"


def text(value: Any) -> str:
    """NVML strings are ``bytes`` in old bindings and ``str`` in new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def running_processes(nv: ModuleType, handle: Any) -> tuple[list[Any], list[Any]] | None:
    """(compute, graphics) process lists, newest call variant first; ``None`` if unsupported.

    Drivers before R510 lack ``_v3`` (FunctionNotFound); the bindings' plain
    call then fails too, so fall back to ``_v2`` and the legacy call.
    """
    result: list[list[Any] | None] = []
    for kind in ("Compute", "Graphics"):
        procs: list[Any] | None = None
        for suffix in ("_v3", "_v2", ""):
            fn = getattr(nv, f"nvmlDeviceGet{kind}RunningProcesses{suffix}", None)
            if fn is None:
                continue
            try:
                procs = list(fn(handle))
                break
            except nv.NVMLError as exc:
                if is_lost(nv, exc):
                    raise GPULostError(
                        f"GPU has fallen off the bus (NVML: {exc})", hint=LOST_HINT
                    ) from exc
                if isinstance(exc, getattr(nv, "NVMLError_FunctionNotFound", ())):
                    continue
                if isinstance(exc, _soft_errors(nv)):
                    break
                raise
        result.append(procs)
    compute, graphics = result
    if compute is None and graphics is None:
        return None
    return compute or [], graphics or []
