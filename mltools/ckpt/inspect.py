"""``inspect_checkpoint``: what a checkpoint holds, from its header or pickle alone."""

from __future__ import annotations

import gc
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mltools.ckpt.reader import read_checkpoint, state_dict_node, state_dict_of, walk
from mltools.ckpt.records import ITEMSIZE, OpaqueObject, StorageRef, TensorMeta, key_text
from mltools.errors import UsageError

KNOWN_PREFIXES = ("module.", "_orig_mod.")
_MAX_STR = 200
_MAX_ITEMS = 20


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    bytes: int
    device: str


@dataclass
class GroupInfo:
    name: str
    tensors: int
    numel: int
    bytes: int


@dataclass
class InspectReport:
    """The answer of ``inspect_checkpoint`` (its ``--json`` is this, field by field)."""

    path: str
    format: str
    files: list[str]
    tensors: list[TensorInfo]
    totals: dict[str, Any]
    metadata: dict[str, Any]
    state_dict_key: str
    prefix: str | None
    prefix_kind: str | None
    groups: list[GroupInfo] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)


def detect_prefix(names: list[str]) -> tuple[str | None, str | None]:
    """The prefix every name shares among ``module.``/``_orig_mod.`` (and nested), with its kind.

    Kinds: ``ddp`` (DistributedDataParallel/DataParallel ``module.``), ``compile``
    (``torch.compile``'s ``_orig_mod.``) or ``ddp+compile``.
    """
    if not names:
        return None, None
    prefix = ""
    while True:
        for p in KNOWN_PREFIXES:
            if all(n.startswith(prefix + p) for n in names):
                prefix += p
                break
        else:
            break
    if not prefix:
        return None, None
    kinds = []
    if "module." in prefix:
        kinds.append("ddp")
    if "_orig_mod." in prefix:
        kinds.append("compile")
    return prefix, "+".join(kinds)


class _Nodes:
    """How many more values the renderings of one report may produce."""

    def __init__(self, left: int = 200_000) -> None:
        self.left = left


def jsonable_value(value: Any, depth: int = 0, budget: _Nodes | None = None) -> Any:
    """A small, JSON-friendly rendering of a non-tensor value (opaque objects as dicts)."""
    budget = budget if budget is not None else _Nodes(20_000)
    budget.left -= 1
    if (depth > 4 or budget.left < 0) and isinstance(
        value, (OpaqueObject, dict, list, tuple, set, frozenset)
    ):
        return "..."
    if isinstance(value, OpaqueObject):
        out: dict[str, Any] = {"__class__": value.qualname}
        attrs = value.attributes()
        if attrs:
            out.update(
                {
                    key_text(k): jsonable_value(v, depth + 1, budget)
                    for k, v in list(attrs.items())[:_MAX_ITEMS]
                }
            )
        elif value.args:
            out["args"] = jsonable_value(list(value.args), depth + 1, budget)
        elif value.state is not None:
            out["state"] = jsonable_value(value.state, depth + 1, budget)
        return out
    if isinstance(value, TensorMeta):
        return {"__tensor__": value.dtype, "shape": list(value.shape)}
    if isinstance(value, type) and issubclass(value, OpaqueObject):
        return value.qualname
    if isinstance(value, StorageRef):
        return f"<storage {value.dtype}[{value.numel}]>"
    if isinstance(value, dict):
        items = list(value.items())
        out = {key_text(k): jsonable_value(v, depth + 1, budget) for k, v in items[:_MAX_ITEMS]}
        if len(items) > _MAX_ITEMS:
            out["..."] = f"{len(items) - _MAX_ITEMS} more"
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        rendered = [jsonable_value(v, depth + 1, budget) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            rendered.append(f"... {len(items) - _MAX_ITEMS} more")
        return rendered
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > _MAX_STR:
        return value[:_MAX_STR] + "..."
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, complex):
        return str(value)
    return repr(value)[:_MAX_STR]


_BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")
_FLOATING = ("float", "bfloat", "complex")


def _parameters_and_buffers(
    tensors: list[TensorMeta],
    numels: list[int],
    originals: dict[int, TensorMeta],
    sd_ids: set[int],
) -> tuple[int, int]:
    """(parameter elements, buffer elements), each tensor counted once however often it is named.

    When the file holds ``Parameter`` objects (a whole pickled module) they are the
    parameters; in a plain state dict, parameters are its floating-point tensors other
    than BatchNorm's running statistics (integer tensors can never be trained).
    ``numels[i]`` is ``tensors[i].numel``.
    """
    flagged = any(t.parameter for t in tensors)
    seen: set[tuple[Any, ...]] = set()
    params = buffers = 0
    for t, numel in zip(tensors, numels):
        original = originals.get(id(t), t)
        # two records are the same tensor when they view the same bytes the same way
        storage = original.storage
        if storage is None:
            key: tuple[Any, ...] = ("nostorage", id(original))
        else:
            o = original
            key = (storage.file, storage.key, o.dtype, o.storage_offset, o.shape, o.stride)
        if key in seen:
            continue
        seen.add(key)
        if flagged:
            is_param = t.parameter
            is_buffer = not is_param and "_buffers" in t.path
        else:
            in_sd = id(original) in sd_ids
            if not in_sd:
                continue
            is_param = t.dtype.startswith(_FLOATING) and t.name.rsplit(".", 1)[-1] not in (
                _BUFFER_NAMES
            )
            is_buffer = not is_param
        if is_param:
            params += numel
        elif is_buffer:
            buffers += numel
    return params, buffers


def inspect_checkpoint(
    path: str | os.PathLike[str], *, filter: str | None = None, depth: int | None = None
) -> InspectReport:
    """Describe a checkpoint (tensors, totals, metadata, prefixes) without loading tensor data.

    ``filter`` is a regular expression matched (``re.search``) against tensor names;
    ``depth`` groups tensors by their first ``depth`` key-path components. Works
    without torch for zip, legacy, safetensors, sharded and distributed checkpoints.
    """
    if depth is not None and depth < 1:
        raise UsageError("--depth must be at least 1")
    try:
        pattern = re.compile(filter) if filter else None
    except re.error as exc:
        raise UsageError(f"bad --filter regular expression {filter!r}: {exc}") from None
    collecting = gc.isenabled()
    gc.disable()  # the readers bound what they make: a collection every 700 objects is waste
    try:
        return _inspect(path, pattern, depth)
    finally:
        if collecting:
            gc.enable()


def _inspect(
    path: str | os.PathLike[str], pattern: re.Pattern[str] | None, depth: int | None
) -> InspectReport:
    ckpt = read_checkpoint(path)
    nodes = _Nodes()
    tensors: list[TensorMeta] = []
    metadata: dict[str, Any] = {}
    originals: dict[int, TensorMeta] = {}  # id(copy) -> the object in the tree
    placed_ids: set[int] = set()  # tree objects already named by their first place
    for key_path, leaf in walk(ckpt.root):
        name = ".".join(key_path)
        if isinstance(leaf, TensorMeta):
            # one record per place: a tensor object referenced twice (tied weights of a
            # whole-module file) keeps both names. Its first place names the tree's own
            # object (the tree is this call's); each later one a copy, as copy.copy makes it
            if id(leaf) in placed_ids:
                placed = type(leaf).__new__(type(leaf))
                placed.__dict__.update(leaf.__dict__)
                originals[id(placed)] = leaf
            else:
                placed = leaf
                placed_ids.add(id(leaf))
            placed.path, placed.name = key_path, name
            tensors.append(placed)
        else:
            metadata[name or "<root>"] = jsonable_value(leaf, 0, nodes)
    if ckpt.metadata:
        metadata["__metadata__"] = jsonable_value(ckpt.metadata)
    selected = [t for t in tensors if pattern is None or pattern.search(t.name)]

    node, sd_key = state_dict_node(ckpt.root)
    if node is ckpt.root:  # the walk above saw its tensors already: state_dict_of's flattening
        state_dict = {t.name: originals.get(id(t), t) for t in tensors}
    else:
        state_dict, sd_key = state_dict_of(ckpt.root)
    prefix, kind = detect_prefix(list(state_dict))
    numels = [math.prod(t.shape) for t in selected]
    nbytes = [n * ITEMSIZE.get(t.dtype, 1) for n, t in zip(numels, selected)]
    # bytes per dtype and in all with each shared storage once (tied weights, views): what the
    # data takes on disk and in memory; "bytes" sums the tensors as listed
    by_dtype: Counter[str] = Counter()
    storages: dict[tuple[str, str], int] = {}
    users: Counter[tuple[str, str]] = Counter()
    unshared = 0
    for t, size in zip(selected, nbytes):
        storage = t.storage
        if storage is None:
            by_dtype[t.dtype] += size
            unshared += size
            continue
        key = (storage.file, storage.key)
        users[key] += 1
        if key not in storages:
            storages[key] = storage.nbytes
            by_dtype[t.dtype] += storages[key]
    sd_ids = {id(t) for t in state_dict.values()}
    params, buffers = _parameters_and_buffers(selected, numels, originals, sd_ids)
    totals = {
        "tensors": len(selected),
        "numel": sum(numels),
        "parameters": params,
        "buffers": buffers,
        "bytes": sum(nbytes),
        "storage_bytes": sum(storages.values()),
        "data_bytes": sum(storages.values()) + unshared,
        "shared_storages": sum(1 for n in users.values() if n > 1),
        "bytes_by_dtype": dict(sorted(by_dtype.items(), key=lambda kv: -kv[1])),
    }
    groups: list[GroupInfo] = []
    if depth is not None:
        acc: dict[str, GroupInfo] = {}
        for t in selected:
            key = ".".join(t.path[:depth])
            g = acc.setdefault(key, GroupInfo(key, 0, 0, 0))
            g.tensors += 1
            g.numel += t.numel
            g.bytes += t.nbytes
        groups = list(acc.values())
    return InspectReport(
        path=str(ckpt.path),
        format=ckpt.format,
        files=ckpt.files,
        tensors=[
            TensorInfo(t.name, list(t.shape), t.dtype, size, t.device)
            for t, size in zip(selected, nbytes)
        ],
        totals=totals,
        metadata=metadata,
        state_dict_key=sd_key,
        prefix=prefix,
        prefix_kind=kind,
        groups=groups,
        globals=ckpt.globals,
    )
