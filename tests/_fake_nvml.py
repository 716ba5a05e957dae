"""GPU specs for the NVML test double, and how tests install it.

:func:`gpu` builds one GPU's spec (an idle 80 GiB A100 unless told otherwise).
:func:`install` and :func:`install_from_env` run the real ``pynvml`` on the C-level
double of ``libnvidia-ml`` (:mod:`tests._nvml_double`), so the bindings' own code,
struct layouts and exceptions are exercised. (The older fake of the pynvml *module*
is gone: it only repeated our own idea of NVML. A binding function replaced at run
time, as gpustat does, is tested by monkeypatching the real pynvml.)

Spec per GPU (all optional but ``index``): see :func:`gpu`. ``not_supported`` /
``no_permission`` list fields whose calls answer NVML_ERROR_NOT_SUPPORTED /
NO_PERMISSION, ``errors`` maps a field or C symbol to any NVML code name, ``lost:
true`` makes every call on the device answer GPU_IS_LOST. Top level: ``profile``
(a driver generation, see :data:`tests._nvml_double.PROFILES`; the older
``process_api`` "v3"/"v2"/"legacy" means r550/r470/r440), ``root``, ``driver``,
``init_error``, ``ancestors``.
"""

from __future__ import annotations

import os
import sys
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


def install(monkeypatch: Any, spec: dict[str, Any]) -> Any:
    """The real pynvml on the C double of ``spec`` for the rest of the test."""
    from tests import _nvml_double

    monkeypatch.setitem(sys.modules, "pynvml", _real)
    return _nvml_double.install(monkeypatch, spec)


def install_from_env() -> None:
    """For subprocesses: the C double of ``$MLTOOLS_TEST_FAKE_NVML`` (JSON), if set."""
    from tests import _nvml_double

    if os.environ.get("MLTOOLS_TEST_FAKE_NVML"):
        _nvml_double.activate_from_env()
