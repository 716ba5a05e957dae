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

    def _raw(self, ref: StorageRef) -> Any:
        """The storage's bytes as a flat uint8 tensor (mapped; copied once when misaligned)."""
        torch = require("torch")
        key = (ref.file, ref.key)
        raw = self._bases.get(key)
        if raw is None:
            if ref.offset is None:
                raise CheckpointError(f"storage {ref.key} of {ref.file} has no known location")
            nbytes = ref.nbytes
            if nbytes == 0:
                raw = torch.empty(0, dtype=torch.uint8)
            else:
                raw = torch.frombuffer(
                    self._map(ref.file), dtype=torch.uint8, count=nbytes, offset=ref.offset
                )
                if ref.offset % 64:
                    raw = raw.clone()  # misaligned (legacy format): copy once, aligned
            self._bases[key] = raw
        return raw

    def tensor(self, meta: TensorMeta, *, raw_quantized: bool = False) -> Any:
        """The tensor for ``meta`` (a view into the mapped file; clone it to own it).

        The storage's bytes are viewed as the tensor's own dtype (uint16, fp8, fp4,
        complex32, bits16 ... exactly as saved, whatever the storage's type). Quantized
        tensors come back as their raw integers with ``raw_quantized=True`` (enough to
        compare two files); otherwise they are refused, since rebuilding them needs the
        quantizer parameters from the pickle.
        """
        if self.ckpt.format == "torch-dcp":
            return self._dcp_values()[meta.name]
        if meta.dtype in RAW_QUANTIZED and not raw_quantized:
            return self._quantized(meta)
        if meta.storage is None:
            raise CheckpointError(f"tensor {meta.name} has no data in this checkpoint")
        dtype = torch_dtype(RAW_QUANTIZED.get(meta.dtype, meta.dtype))
        raw = self._raw(meta.storage)
        itemsize = dtype.itemsize
        usable = raw.numel() - raw.numel() % itemsize
        base = raw[:usable].view(dtype)
        if meta.stride is None:
            end = meta.storage_offset + meta.numel
            if meta.storage_offset < 0 or end > base.numel():
                raise CheckpointError(f"corrupt checkpoint: tensor {meta.name} runs past its data")
            return base[meta.storage_offset : end].view(meta.shape)
        _check_bounds(meta, base.numel())
        return base.as_strided(meta.shape, meta.stride, meta.storage_offset)

    def _quantized(self, meta: TensorMeta) -> Any:
        """A quantized tensor rebuilt from its integers and the quantizer recorded in the pickle."""
        torch = require("torch")
        q = meta.quantizer or ()
        scheme = str(q[0]).rpartition(".")[2] if q else ""
        if meta.dtype not in ("qint8", "quint8", "qint32") or scheme not in (
            "per_tensor_affine",
            "per_channel_affine",
            "per_channel_affine_float_qparams",
        ):
            raise CheckpointError(
                f"{meta.name or 'a tensor'} is quantized ({meta.dtype}, {scheme or 'no quantizer'});"
                " mltools rebuilds only per-tensor and per-channel qint8/quint8/qint32",
                hint="--unsafe loads the file with torch instead",
            )
        ints = self.tensor(meta, raw_quantized=True).contiguous()
        try:
            if scheme == "per_tensor_affine":
                return torch._make_per_tensor_quantized_tensor(ints, float(q[1]), int(q[2]))
            scales, zeros, axis = q[1], q[2], int(q[3])
            scales = self.tensor(scales) if isinstance(scales, TensorMeta) else torch.tensor(scales)
            zeros = self.tensor(zeros) if isinstance(zeros, TensorMeta) else torch.tensor(zeros)
            return torch._make_per_channel_quantized_tensor(ints, scales, zeros, axis)
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            raise CheckpointError(
                f"cannot rebuild quantized tensor {meta.name}: {str(exc)[:100]}"
            ) from None

    def _dcp_values(self) -> dict[str, Any]:
        if self._dcp is None:
            self._dcp = load_dcp(self.ckpt)
        return self._dcp


def _check_bounds(meta: TensorMeta, available: int) -> None:
    """Refuse a shape/stride/offset that reaches outside the storage (as torch would)."""
    if meta.storage_offset < 0 or any(d < 0 for d in meta.shape):
        raise CheckpointError(f"corrupt checkpoint: tensor {meta.name} has a negative size")
    if any(d == 0 for d in meta.shape):
        return
    stride = meta.stride or ()
    if len(stride) != len(meta.shape) or any(s < 0 for s in stride):
        raise CheckpointError(f"corrupt checkpoint: tensor {meta.name} has a bad stride")
    last = meta.storage_offset + sum((d - 1) * s for d, s in zip(meta.shape, stride))
    if last >= available:
        raise CheckpointError(f"corrupt checkpoint: tensor {meta.name} runs past its data")


def check_dcp_globals(ckpt: Checkpoint) -> None:
    """Refuse a distributed checkpoint whose ``.metadata`` imports anything but DCP's own classes."""
    from mltools.ckpt.allowlist import DCP_METADATA_ALLOWED, allowed_globals

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

    from mltools.ckpt.dcp_load import safe_dcp_loader

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
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # torch's CheckpointException is a BaseException
        for failure in getattr(exc, "failures", {}).values():
            inner = failure[0] if isinstance(failure, tuple) else failure
            if isinstance(inner, CheckpointError):
                raise inner from None
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read distributed checkpoint {ckpt.path}: {first}") from None
    flat: dict[str, Any] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    put("", state)
    return flat
