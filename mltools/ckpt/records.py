"""What a checkpoint holds, described without tensor data: tensor records and opaque objects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# torch dtype name -> bytes per element
ITEMSIZE: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "uint16": 2,
    "uint32": 4,
    "uint64": 8,
    "bool": 1,
    "complex128": 16,
    "complex64": 8,
    "complex32": 4,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
    "qint8": 1,
    "quint8": 1,
    "qint32": 4,
    "quint4x2": 1,
    "quint2x4": 1,
    "float4_e2m1fn_x2": 1,
    "bits8": 1,
    "bits16": 2,
    "bits1x8": 1,
    "bits2x4": 1,
    "bits4x2": 1,
    **{f"{s}int{n}": 1 for s in ("", "u") for n in range(1, 8)},
}


@dataclass
class StorageRef:
    """One storage (a run of bytes) of a checkpoint: where its data lives in which file."""

    key: str
    dtype: str
    numel: int
    device: str
    file: str = ""
    offset: int | None = None  # byte offset of the data in ``file``; None when unknown

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE.get(self.dtype, 1)


@dataclass
class TensorMeta:
    """A tensor as recorded in a checkpoint: enough to describe it and to read it lazily."""

    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...] | None = None
    storage_offset: int = 0
    storage: StorageRef | None = None
    device: str = "cpu"
    parameter: bool = False
    quantizer: tuple[Any, ...] | None = None  # (scheme, scale(s), zero point(s)[, axis])
    name: str = ""  # dotted path, filled in when the tree is flattened
    path: tuple[str, ...] = ()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * ITEMSIZE.get(self.dtype, 1)

    def is_contiguous(self) -> bool:
        if self.stride is None:
            return True
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.stride)):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True


class OpaqueObject:
    """A stand-in for an object of a class mltools does not import (e.g. ``argparse.Namespace``).

    It records the class name, the constructor arguments and the state, and runs nothing.
    """

    qualname: str = "?"
    state: Any = None

    def __new__(cls, *args: Any, **kwargs: Any) -> OpaqueObject:
        self = super().__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.items = []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ recorded the arguments (NEWOBJ calls only __new__)

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    items: list[Any]

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def __repr__(self) -> str:
        return f"<{self.qualname}>"

    def attributes(self) -> dict[str, Any]:
        """The recorded state as a dict (``__dict__``-style state, or slots state)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        if isinstance(state, dict):
            return dict(state)
        return {}


def opaque_class(qualname: str) -> type[OpaqueObject]:
    """A fresh ``OpaqueObject`` subclass standing in for the global ``qualname``."""
    return type("Opaque", (OpaqueObject,), {"qualname": qualname})


@dataclass
class Checkpoint:
    """A parsed checkpoint: its format, the object tree (tensors as ``TensorMeta``) and files."""

    path: str
    format: str
    root: Any
    files: list[str] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # format-level metadata (safetensors)


def key_text(key: Any) -> str:
    """``str(key)`` for a dict key from a pickle, bounded (huge ints, long strings)."""
    try:
        text = key if isinstance(key, str) else str(key)
    except (ValueError, RecursionError):
        return f"<{type(key).__name__}>"
    return text
