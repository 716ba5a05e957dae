"""Checkpoints: inspect, diff, convert and scan them without loading; load them onto the right device.

Importing this package is cheap (no torch): the names below resolve lazily.
"""

from __future__ import annotations

from mltools._lazy import attach

_LAZY: dict[str, str] = {
    "load_checkpoint": "mltools.ckpt.load",
    "load_state_dict": "mltools.ckpt.load",
    "resolve_map_location": "mltools.ckpt.load",
    "LoadResult": "mltools.ckpt.load",
    "inspect_checkpoint": "mltools.ckpt.inspect",
    "InspectReport": "mltools.ckpt.inspect",
    "diff_checkpoints": "mltools.ckpt.diff",
    "DiffReport": "mltools.ckpt.diff",
    "convert_checkpoint": "mltools.ckpt.convert",
    "ConvertReport": "mltools.ckpt.convert",
    "scan_checkpoint": "mltools.ckpt.scan",
    "ScanReport": "mltools.ckpt.scan",
    "detect_format": "mltools.ckpt.formats",
    "CheckpointError": "mltools.ckpt.errors",
    "UnsafePickleError": "mltools.ckpt.errors",
    "TruncatedCheckpointError": "mltools.ckpt.errors",
    "StateDictMismatchError": "mltools.ckpt.errors",
    "OutputExistsError": "mltools.ckpt.errors",
}


__getattr__, __dir__, _public = attach("mltools.ckpt", _LAZY)
__all__ = _public
