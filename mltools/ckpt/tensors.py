"""Turn ``TensorMeta`` records into torch tensors lazily, memory-mapped from the file.

Nothing is unpickled by torch here: the bytes are mapped copy-on-write and viewed
with ``torch.frombuffer`` + ``as_strided``, so tensors that share a storage stay
views of one base tensor and only the pages that are touched are read.
"""

from __future__ import annotations

import contextlib
import mmap
from typing import Any

from mltools._deps import require
from mltools.ckpt.errors import CheckpointError, UnsafePickleError
from mltools.ckpt.records import Checkpoint, StorageRef, TensorMeta

# quantized dtypes: their bytes are plain integers; scale and zero point live in the pickle
RAW_QUANTIZED = {
    "qint8": "int8",
    "quint8": "uint8",
    "qint32": "int32",
    "quint4x2": "uint8",
    "quint2x4": "uint8",
}


def torch_dtype(name: str) -> Any:
    torch = require("torch")
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise CheckpointError(f"dtype {name} is not known to this torch ({torch.__version__})")
    return dtype


class TensorSource:
    """Reads the tensors of one parsed ``Checkpoint``; use as a context manager."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self._maps: dict[str, mmap.mmap] = {}
        self._bases: dict[tuple[str, str], Any] = {}
        self._dcp: dict[str, Any] | None = None

    def __enter__(self) -> TensorSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._bases.clear()
        self._dcp = None
        for mm in self._maps.values():
            with contextlib.suppress(BufferError):  # a tensor still views it
                mm.close()
        self._maps.clear()

    def _map(self, file: str) -> mmap.mmap:
        mm = self._maps.get(file)
        if mm is None:
            with open(file, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
            self._maps[file] = mm
        return mm

    def _base(self, ref: StorageRef) -> Any:
        torch = require("torch")
        key = (ref.file, ref.key)
        base = self._bases.get(key)
        if base is None:
            dtype = torch_dtype(RAW_QUANTIZED.get(ref.dtype, ref.dtype))
            if ref.offset is None:
                raise CheckpointError(f"storage {ref.key} of {ref.file} has no known location")
            if ref.numel == 0:
                base = torch.empty(0, dtype=dtype)
            else:
                base = torch.frombuffer(
                    self._map(ref.file), dtype=dtype, count=ref.numel, offset=ref.offset
                )
                if ref.offset % base.element_size():
                    base = base.clone()  # misaligned (legacy format): copy once
            self._bases[key] = base
        return base

    def tensor(self, meta: TensorMeta, *, raw_quantized: bool = False) -> Any:
        """The tensor for ``meta`` (a view into the mapped file; clone it to own it).

        Quantized tensors come back as their raw integers with ``raw_quantized=True``
        (enough to compare two files); otherwise they are refused, since rebuilding
        them needs the quantizer parameters from the pickle.
        """
        if self.ckpt.format == "torch-dcp":
            return self._dcp_values()[meta.name]
        if meta.dtype in RAW_QUANTIZED and not raw_quantized:
            raise CheckpointError(
                f"{meta.name or 'a tensor'} is quantized ({meta.dtype}); mltools reads only "
                "its raw integers",
                hint="--unsafe loads the file with torch instead",
            )
        if meta.storage is None:
            raise CheckpointError(f"tensor {meta.name} has no data in this checkpoint")
        base = self._base(meta.storage)
        if meta.stride is None:
            return base[meta.storage_offset : meta.storage_offset + meta.numel].view(meta.shape)
        return base.as_strided(meta.shape, meta.stride, meta.storage_offset)

    def _dcp_values(self) -> dict[str, Any]:
        if self._dcp is None:
            self._dcp = load_dcp(self.ckpt)
        return self._dcp


def check_dcp_globals(ckpt: Checkpoint) -> None:
    """Refuse a distributed checkpoint whose ``.metadata`` imports anything but DCP's own classes."""
    from mltools.ckpt.allowlist import allowed_globals
    from mltools.ckpt.scan import DCP_METADATA_ALLOWED

    allowed = allowed_globals() | DCP_METADATA_ALLOWED
    for name in ckpt.globals:
        if name not in allowed:
            raise UnsafePickleError(
                f"refusing to load: the distributed checkpoint's .metadata imports {name}",
                global_name=name,
                hint="torch reads .metadata with plain pickle; only torch's own metadata "
                "classes are let through (--unsafe if you trust the file)",
            )


def load_dcp(ckpt: Checkpoint, *, unsafe: bool = False) -> dict[str, Any]:
    """Load every entry of a distributed checkpoint into CPU memory, in one process.

    By default nothing goes through plain pickle or ``weights_only=False``: ``.metadata`` is
    read by an unpickler that resolves only DCP's metadata classes and torch's allowlist,
    and each non-tensor entry is scanned and read with ``torch.load(weights_only=True)``
    (``UnsafePickleError`` otherwise). ``unsafe=True`` uses torch's own reader (after the
    globals known to run code were refused by the scan).
    """
    require("torch")
    if not unsafe:
        check_dcp_globals(ckpt)
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    from mltools.ckpt.dcp import safe_dcp_loader

    if unsafe:
        reader_cls, planner_cls = FileSystemReader, _EmptyStateDictLoadPlanner
    else:
        reader_cls, planner_cls = safe_dcp_loader()
    state: dict[str, Any] = {}
    try:
        _load_state_dict(
            state,
            storage_reader=reader_cls(ckpt.path),
            planner=planner_cls(),
            no_dist=True,
        )
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot read distributed checkpoint {ckpt.path}: {exc}") from None
    flat: dict[str, Any] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    put("", state)
    return flat
