"""File chores as a library: types, disk usage, cleaning, syncing and killing processes.

Importing this package is cheap: the submodules (and libmagic, psutil, rich)
load only when one of the names below is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "detect_type": "mltools.files.filetype",
    "scan_types": "mltools.files.filetype",
    "FileType": "mltools.files.filetype",
    "disk_usage": "mltools.files.du",
    "find_candidates": "mltools.files.clean",
    "delete_candidates": "mltools.files.clean",
    "CleanSpec": "mltools.files.clean",
    "sync": "mltools.files.sync",
    "find_processes": "mltools.files.kill",
    "kill_processes": "mltools.files.kill",
    "parse_size": "mltools.files.sizes",
    "parse_age": "mltools.files.sizes",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mltools.files' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
