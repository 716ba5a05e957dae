"""Torch distributed checkpoints (``torch.distributed.checkpoint``): read ``.metadata``.

``.metadata`` is a pickle of a ``Metadata`` dataclass that torch itself loads with
plain ``pickle.load``, and torch's loader reads each non-tensor entry with
``torch.load(weights_only=False)``. Here ``.metadata`` is read symbolically (nothing in it
runs) and, when tensors are loaded, with an unpickler that resolves only the DCP metadata
classes and torch's weights_only allowlist; non-tensor entries go through
``torch.load(weights_only=True)`` after a scan. Tensor entries give the global shape and
dtype; the data stays in the ``*.distcp`` files. Loading them (with torch) is
``dcp_load``'s, above the scan.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError
from mltools.ckpt.paths import confined
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


def byte_entries(root: Any, folder: Path) -> list[tuple[str, Path, int, int, Any]]:
    """(fqn, file, offset, length, transforms) of every non-tensor entry of ``.metadata``'s tree."""
    attrs = root.attributes() if isinstance(root, OpaqueObject) else {}
    entries = attrs.get("state_dict_metadata")
    storage = attrs.get("storage_data")
    if not isinstance(entries, dict) or not isinstance(storage, dict):
        raise CheckpointError("corrupt distributed checkpoint metadata (no state_dict_metadata)")
    byte_fqns = {
        str(fqn)
        for fqn, entry in entries.items()
        if isinstance(entry, OpaqueObject) and entry.qualname.endswith(".BytesStorageMetadata")
    }
    out = []
    for index, info in storage.items():
        idx = index.attributes() if isinstance(index, OpaqueObject) else {}
        fqn = str(idx.get("fqn"))
        if fqn not in byte_fqns:
            continue
        item = info.attributes() if isinstance(info, OpaqueObject) else {}
        try:
            offset, length = int(item.get("offset")), int(item.get("length"))
        except (TypeError, ValueError):
            raise CheckpointError(f"corrupt distributed checkpoint metadata: entry {fqn}") from None
        file = confined(folder, item.get("relative_path"), f"entry {fqn}'s file")
        size = file.stat().st_size if file.is_file() else -1
        if offset < 0 or length < 0 or offset + length > size:
            raise TruncatedCheckpointError(
                f"truncated distributed checkpoint: entry {fqn} runs past the end of {file.name}"
            )
        out.append((fqn, file, offset, length, item.get("transform_descriptors")))
    return out


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
