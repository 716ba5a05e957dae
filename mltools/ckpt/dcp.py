"""Torch distributed checkpoints (``torch.distributed.checkpoint``): read ``.metadata``.

``.metadata`` is a pickle of a ``Metadata`` dataclass that torch itself loads with
plain ``pickle.load``; here it is read symbolically, so nothing in it runs. Tensor
entries give the global shape and dtype; the data stays in the ``*.distcp`` files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.records import Checkpoint, OpaqueObject, TensorMeta
from mltools.ckpt.unpickler import symbolic_load


def metadata_path(path: Path) -> Path:
    return path if path.name == ".metadata" else path / ".metadata"


def _dtype(properties: Any) -> str:
    if isinstance(properties, OpaqueObject):
        state = properties.state
        if isinstance(state, tuple) and state:
            return str(state[0])
        dtype = properties.attributes().get("dtype")
        if dtype is not None:
            return str(dtype)
    return "unknown"


def read_dcp(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a distributed checkpoint directory (or its ``.metadata``) into a ``Checkpoint``."""
    meta_file = metadata_path(Path(path))
    data = meta_file.read_bytes()
    if not data:
        raise CheckpointError(f"empty file: {meta_file}")
    obj, unpickler = symbolic_load(data, file_name=str(meta_file))
    entries = obj.attributes().get("state_dict_metadata") if isinstance(obj, OpaqueObject) else None
    if not isinstance(entries, dict):
        raise CheckpointError(f"corrupt distributed checkpoint metadata: {meta_file}")
    root: dict[str, Any] = {}
    for fqn, entry in entries.items():
        attrs = entry.attributes() if isinstance(entry, OpaqueObject) else {}
        if "size" in attrs and "properties" in attrs:
            root[str(fqn)] = TensorMeta(
                dtype=_dtype(attrs["properties"]),
                shape=tuple(int(d) for d in attrs["size"]),
                device="cpu",
            )
        else:
            root[str(fqn)] = entry
    files = sorted(str(p) for p in meta_file.parent.glob("*.distcp"))
    return Checkpoint(
        path=str(meta_file.parent),
        format="torch-dcp",
        root=root,
        files=files,
        globals=unpickler.globals,
    )
