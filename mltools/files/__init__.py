"""File chores as a library: types, disk usage, cleaning, syncing and killing processes.

Importing this package is cheap: the submodules (and libmagic, psutil, rich)
load only when one of the names below is first used.
"""

from __future__ import annotations

from mltools._lazy import attach

_LAZY: dict[str, str] = {
    "detect_type": "mltools.files.filetype",
    "scan_types": "mltools.files.filetype",
    "FileType": "mltools.files.filetype",
    "disk_usage": "mltools.files.du",
    "find_candidates": "mltools.files.clean",
    "delete_candidates": "mltools.files.clean",
    "CleanSpec": "mltools.files.clean",
    "sync": "mltools.files.sync",
    "SyncOptions": "mltools.files.sync",
    "find_processes": "mltools.files.kill",
    "kill_processes": "mltools.files.kill",
}


__getattr__, __dir__, _public = attach("mltools.files", _LAZY)
__all__ = _public
