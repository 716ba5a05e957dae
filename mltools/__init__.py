"""mltools: a terminal toolbox for ML engineers, and the same answers as imports.

Importing ``mltools`` is cheap: the public helpers below are resolved lazily, so
``from mltools import select_gpus`` imports only the GPU module, and nothing
imports torch, pandas, pynvml or libmagic until a helper that needs it runs.
"""

from __future__ import annotations

from mltools._lazy import attach

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # errors: every exception mltools raises on purpose, so scripts can catch it by name
    "MltoolsError": "mltools.errors",
    "ExitCode": "mltools.errors",
    "UsageError": "mltools.errors",
    "InputError": "mltools.errors",
    "MissingDependencyError": "mltools.errors",
    "NoGPUError": "mltools.errors",
    "UnavailableError": "mltools.errors",
    "CheckFailedError": "mltools.errors",
    "PartialFailureError": "mltools.errors",
    "OutputExistsError": "mltools.errors",
    "ChildExit": "mltools.errors",
    "CommandNotFoundError": "mltools.errors",
    "Interrupted": "mltools.errors",
    "NotRegularFileError": "mltools._inputs",
    "InputTooLargeError": "mltools._inputs",
    "OutputError": "mltools._outputs",
    "NoDriverError": "mltools.gpu.nvml",
    "GPULostError": "mltools.gpu.nvml",
    "NVMLCallError": "mltools.gpu.nvml",
    "CheckpointError": "mltools.ckpt.errors",
    "UnsafePickleError": "mltools.ckpt.errors",
    "TruncatedCheckpointError": "mltools.ckpt.errors",
    "StateDictMismatchError": "mltools.ckpt.errors",
    "BudgetError": "mltools.ckpt.pickle_vm",
    "DistributedSetupError": "mltools.ddp.helpers",
    "PresetError": "mltools.ddp.presets",
    "HangError": "mltools.ddp.hang",
    "AttachError": "mltools.ddp.pyspy",
    "SmokeError": "mltools.ddp.smoke",
    "SyncError": "mltools.files.sync",
    "PartialSyncError": "mltools.files.sync",
    "WorkerDiedError": "mltools.frame.errors",
    "BackendUnavailableError": "mltools.frame.errors",
    "FunctionError": "mltools.frame.errors",
    # live sampling, child commands
    "Sampler": "mltools.sampler",
    "ticks": "mltools.sampler",
    "run_child": "mltools.launcher",
    # cpu
    "cpu_report": "mltools.cpu",
    "cpu_topology": "mltools.cpu",
    # gpu
    "snapshot": "mltools.gpu",
    "select_gpus": "mltools.gpu",
    "gpu_topology": "mltools.gpu",
    "snapshot_hosts": "mltools.gpu",
    # ddp
    "ddp_setup": "mltools.ddp",
    "seed_everything": "mltools.ddp",
    "is_main_process": "mltools.ddp",
    "rank_zero_only": "mltools.ddp",
    "setup_logging": "mltools.ddp",
    "analyze_log": "mltools.ddp",
    "analyze_hang": "mltools.ddp.hang",
    "discover_ranks": "mltools.ddp.hang",
    "read_flight_recorder": "mltools.ddp.flight_recorder",
    "run_smoke": "mltools.ddp.smoke",
    # checkpoints
    "load_checkpoint": "mltools.ckpt",
    "load_state_dict": "mltools.ckpt",
    "inspect_checkpoint": "mltools.ckpt",
    "diff_checkpoints": "mltools.ckpt",
    "convert_checkpoint": "mltools.ckpt",
    "scan_checkpoint": "mltools.ckpt",
    # files
    "detect_type": "mltools.files",
    "scan_types": "mltools.files",
    "disk_usage": "mltools.files",
    "find_candidates": "mltools.files",
    "delete_candidates": "mltools.files",
    "CleanSpec": "mltools.files",
    "sync": "mltools.files",
    "SyncOptions": "mltools.files",
    "find_processes": "mltools.files",
    "kill_processes": "mltools.files",
    # recordings
    "mark": "mltools._mark",
    "record_command": "mltools.record",
    "record_pid": "mltools.record",
    "load_run": "mltools.record",
    "summarize": "mltools.record",
    "compare_runs": "mltools.record",
    # units
    "parse_size": "mltools.units",
    "parse_age": "mltools.units",
    # dataframes
    "parallel_apply": "mltools.frame",
    "parallel_map": "mltools.frame",
    "Parallel": "mltools.frame",
}


__getattr__, __dir__, _public = attach("mltools", _LAZY)
__all__ = ["__version__", *_public]
