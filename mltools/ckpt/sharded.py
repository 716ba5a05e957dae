"""Sharded checkpoints: an ``*.index.json`` whose ``weight_map`` names the shard of each tensor."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.onefile import read_file
from mltools.ckpt.paths import confined
from mltools.ckpt.records import Checkpoint

_MAX_INDEX_BYTES = 256 * 1024 * 1024


def shard_path(index: Path, shard_name: str) -> Path:
    """The shard ``shard_name`` next to ``index``: never absolute, never ``..``, never an index."""
    shard = confined(index.parent, shard_name, f"shard named in {index.name}:")
    if shard.name.endswith(".index.json") or shard.resolve() == index.resolve():
        raise CheckpointError(f"corrupt index file {index}: shard {shard_name!r} is an index file")
    if not shard.is_file():
        raise CheckpointError(
            f"incomplete sharded checkpoint: {shard_name} (named in {index.name}) is missing",
            hint="copy every shard listed in the index next to it",
        )
    return shard


def read_index(path: Path) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """Return (index file, weight_map, metadata) for an index file or a folder holding one."""
    from mltools.ckpt.formats import find_index

    index = find_index(path) if path.is_dir() else path
    if index is None:
        raise CheckpointError(f"no *.index.json in {path}")
    size = index.stat().st_size
    if size > _MAX_INDEX_BYTES:
        raise CheckpointError(f"corrupt index file {index}: {size} bytes is too big for an index")
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt index file {index}: {str(exc)[:200]}") from None
    except RecursionError:
        raise CheckpointError(f"corrupt index file {index}: nested too deeply") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"corrupt index file {index}: no weight_map")
    return index, {str(k): str(v) for k, v in weight_map.items()}, doc.get("metadata") or {}


def read_sharded(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse every shard named by the index; tensors keep their own file and offset."""
    index, weight_map, meta = read_index(Path(path))
    root: dict[str, Any] = {}
    files: list[str] = []
    globals_: list[str] = []
    for shard_name in dict.fromkeys(weight_map.values()):
        shard = shard_path(index, shard_name)
        part = read_file(shard)
        if not isinstance(part.root, dict):
            raise CheckpointError(f"shard {shard} does not hold a state dict")
        root.update(part.root)
        files.append(str(shard))
        globals_ += [g for g in part.globals if g not in globals_]
    missing = [k for k in weight_map if k not in root]
    if missing:
        raise CheckpointError(
            f"incomplete sharded checkpoint: {len(missing)} tensors in {index.name} are in no "
            f"shard (first: {missing[0]})"
        )
    return Checkpoint(
        path=str(index), format="sharded", root=root, files=files, globals=globals_, metadata=meta
    )
