"""Read a ``.safetensors`` header (8-byte length + JSON) without the safetensors package."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.records import Checkpoint, StorageRef, TensorMeta

# safetensors dtype -> torch dtype name
DTYPES: dict[str, str] = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0fnu",
    "C64": "complex64",
}
TO_SAFETENSORS: dict[str, str] = {v: k for k, v in DTYPES.items()}

_MAX_HEADER = 100 * 1024 * 1024  # the safetensors spec's limit


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """Return (header dict, byte offset where the data section starts)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(f"truncated safetensors file: {path} (no header)")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER or 8 + n > size:
            raise CheckpointError(
                f"truncated or corrupt safetensors file: {path} "
                f"(header length {n}, file size {size})",
                hint="the file was cut short or damaged; re-copy or re-save it",
            )
        text = f.read(n)
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt safetensors header in {path}: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"corrupt safetensors header in {path}: not a JSON object")
    return header, 8 + n


def read_safetensors(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a safetensors file into a ``Checkpoint`` (a flat dict name -> ``TensorMeta``)."""
    p = Path(path)
    header, data_start = read_header(p)
    size = p.stat().st_size
    meta = header.pop("__metadata__", None) or {}
    root: dict[str, TensorMeta] = {}
    for name, entry in header.items():
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(
                f"corrupt safetensors header in {p}: bad entry {name!r}"
            ) from None
        ref = StorageRef(
            key=name,
            dtype=dtype,
            numel=0,
            device="cpu",
            file=str(p),
            offset=data_start + begin,
        )
        tensor = TensorMeta(dtype=dtype, shape=shape, storage=ref, device="cpu")
        ref.numel = tensor.numel
        if end - begin != tensor.nbytes or data_start + end > size:
            raise CheckpointError(
                f"truncated or corrupt safetensors file: {p} (tensor {name!r} out of bounds)",
                hint="the file was cut short or damaged; re-copy or re-save it",
            )
        root[name] = tensor
    return Checkpoint(path=str(p), format="safetensors", root=root, files=[str(p)], metadata=meta)
