"""Read a ``.safetensors`` header (8-byte length + JSON) without the safetensors package."""

from __future__ import annotations

import itertools
import json
import os
import struct
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError
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
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "C64": "complex64",
    "F4": "float4_e2m1fn_x2",  # 4-bit elements: two per byte, the last dimension halves
}
# what convert writes: the dtypes safetensors.torch both writes and reads back exactly
TO_SAFETENSORS: dict[str, str] = {v: k for k, v in DTYPES.items() if k not in ("F8_E8M0", "F4")}

_MAX_HEADER = 100 * 1024 * 1024  # the safetensors spec's limit
MAX_TENSORS = 100_000  # per file; the largest real shards hold a few thousand


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """Return (header dict, byte offset where the data section starts)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise TruncatedCheckpointError(f"truncated safetensors file: {path} (no header)")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER or 8 + n > size:
            raise CheckpointError(
                f"truncated or corrupt safetensors file: {path} "
                f"(header length {n}, file size {size})",
                hint="the file was cut short or damaged; re-copy or re-save it",
            )
        text = f.read(n)
    count = text.count(b'"data_offsets"')
    if count > MAX_TENSORS:
        raise CheckpointError(
            f"safetensors header of {path} lists {count} tensors; mltools reads at most "
            f"{MAX_TENSORS} per file",
            hint="a hostile or broken file; real checkpoints shard far below this",
        )
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt safetensors header in {path}: {str(exc)[:200]}") from None
    except RecursionError:
        raise CheckpointError(f"corrupt safetensors header in {path}: nested too deeply") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"corrupt safetensors header in {path}: not a JSON object")
    return header, 8 + n


_MAX_DIMS = 64


def _bad(p: Path, name: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"corrupt safetensors header in {p}: entry {name[:80]!r} {why}",
        hint="the file was cut short or damaged; re-copy or re-save it",
    )


def read_safetensors(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a safetensors file into a ``Checkpoint`` (a flat dict name -> ``TensorMeta``).

    Every entry's byte range must lie inside the data section, and no two may overlap
    (what the safetensors library itself checks), so no header byte is read as data.
    """
    p = Path(path)
    header, data_start = read_header(p)
    size = p.stat().st_size
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"corrupt safetensors header in {p}: __metadata__ is not a dict")
    data_size = size - data_start
    root: dict[str, TensorMeta] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise _bad(p, name, "is not an object")
        raw_dtype = entry.get("dtype")
        raw_shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if raw_dtype not in DTYPES:
            raise _bad(p, name, f"has an unknown dtype {str(raw_dtype)[:20]!r}")
        if (
            not isinstance(raw_shape, list)
            or len(raw_shape) > _MAX_DIMS
            or not all(type(d) is int and d >= 0 for d in raw_shape)
        ):
            raise _bad(p, name, "has a bad shape")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(x) is int for x in offsets)
        ):
            raise _bad(p, name, "has bad data_offsets")
        begin, end = offsets
        dtype = DTYPES[raw_dtype]
        shape = tuple(raw_shape)
        if raw_dtype == "F4":
            if not shape or shape[-1] % 2:
                raise _bad(p, name, "is F4 with an odd last dimension")
            shape = (*shape[:-1], shape[-1] // 2)
        tensor = TensorMeta(dtype=dtype, shape=shape, device="cpu")
        if not 0 <= begin <= end <= data_size or end - begin != tensor.nbytes:
            raise CheckpointError(
                f"truncated or corrupt safetensors file: {p} (tensor {name[:80]!r} out of bounds)",
                hint="the file was cut short or damaged; re-copy or re-save it",
            )
        tensor.storage = StorageRef(
            key=name,
            dtype=dtype,
            numel=tensor.numel,
            device="cpu",
            file=str(p),
            offset=data_start + begin,
        )
        spans.append((begin, end, name))
        root[name] = tensor
    spans.sort()
    for (_b1, e1, n1), (b2, _e2, n2) in itertools.pairwise(spans):
        if b2 < e1:
            raise CheckpointError(
                f"corrupt safetensors file: {p} (tensors {n1[:60]!r} and {n2[:60]!r} overlap)"
            )
    return Checkpoint(path=str(p), format="safetensors", root=root, files=[str(p)], metadata=meta)
