"""NVIDIA GPUs through NVML: snapshot, free-GPU selection and topology, as dataclasses.

Importing this package is cheap: ``pynvml`` and ``psutil`` are imported only
when a function runs. Every function raises
:class:`~mltools.gpu.nvml.NoDriverError` (a :class:`~mltools.errors.NoGPUError`)
on a machine without a usable NVIDIA driver.

    >>> from mltools import select_gpus
    >>> sel = select_gpus(2, min_free_memory_bytes=20 * 2**30)
    >>> os.environ.update(sel.env)   # CUDA_DEVICE_ORDER + CUDA_VISIBLE_DEVICES
"""

from __future__ import annotations

from mltools.gpu.nvml import GPULostError, NoDriverError
from mltools.gpu.procinfo import Attribution
from mltools.gpu.remote import HostResult, snapshot_hosts
from mltools.gpu.select import Candidate, Selection, select_gpus
from mltools.gpu.snapshot import GPU, SCHEMA_VERSION, GPUProcess, MIGDevice, Snapshot, snapshot
from mltools.gpu.topology import TopoGPU, Topology, gpu_topology

__all__ = [
    "GPU",
    "SCHEMA_VERSION",
    "Attribution",
    "Candidate",
    "GPULostError",
    "GPUProcess",
    "HostResult",
    "MIGDevice",
    "NoDriverError",
    "Selection",
    "Snapshot",
    "TopoGPU",
    "Topology",
    "gpu_topology",
    "select_gpus",
    "snapshot",
    "snapshot_hosts",
]
