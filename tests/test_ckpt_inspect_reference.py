"""``inspect_checkpoint`` against the reference it was sped up from: the same report, field by field.

The report's tensors, totals, metadata, prefixes, groups and globals were computed with a
generator per tree node, ``copy.copy`` of every tensor record and a second walk for the state
dict. That code is kept below, verbatim apart from names, as the reference; the fast one
must agree with it on every checkpoint the factory writes, and on tied weights, whole
modules (zip and legacy), views, sparse tensors, deep and wide trees, filters and depths.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mltools.ckpt import inspect as fast
from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.reader import _MAX_DEPTH, _Budget, _has_tensor, read_checkpoint, state_dict_node
from mltools.ckpt.records import OpaqueObject, TensorMeta, key_text

torch = pytest.importorskip("torch")
pytest_plugins = ("tests._ckpt_factory",)


def ref_walk(
    obj: Any, path: tuple[str, ...] = (), _budget: _Budget | None = None
) -> Iterator[tuple[tuple[str, ...], Any]]:
    budget = _budget or _Budget(obj)
    cache: dict[int, bool] = getattr(budget, "cache", None) or {}
    budget.cache = cache  # type: ignore[attr-defined]
    budget.spend()
    if len(path) >= _MAX_DEPTH or isinstance(obj, TensorMeta):
        yield path, obj
    elif isinstance(obj, dict) and obj:
        for key, value in obj.items():
            yield from ref_walk(value, (*path, key_text(key)), budget)
    elif isinstance(obj, (list, tuple)) and obj and any(_has_tensor(v, 0, cache) for v in obj):
        for i, value in enumerate(obj):
            yield from ref_walk(value, (*path, str(i)), budget)
    elif isinstance(obj, OpaqueObject) and _has_tensor(obj, 0, cache):
        yield from ref_walk(obj.attributes(), path, budget)
    else:
        yield path, obj


def ref_state_dict_of(obj: Any) -> tuple[dict[str, TensorMeta], str]:
    node, where = state_dict_node(obj)
    flat: dict[str, TensorMeta] = {}
    for key_path, leaf in ref_walk(node):
        if isinstance(leaf, TensorMeta):
            flat[".".join(key_path)] = leaf
    return flat, where


def _view_key(t: TensorMeta) -> tuple[Any, ...]:
    if t.storage is None:
        return ("nostorage", id(t))
    return (t.storage.file, t.storage.key, t.dtype, t.storage_offset, t.shape, t.stride)


def ref_parameters_and_buffers(
    tensors: list[TensorMeta], originals: dict[int, TensorMeta], sd_ids: set[int]
) -> tuple[int, int]:
    flagged = any(t.parameter for t in tensors)
    seen: set[tuple[Any, ...]] = set()
    params = buffers = 0
    for t in tensors:
        original = originals.get(id(t), t)
        key = _view_key(original)
        if key in seen:
            continue
        seen.add(key)
        if flagged:
            is_param = t.parameter
            is_buffer = not is_param and "_buffers" in t.path
        else:
            in_sd = id(original) in sd_ids
            floating = t.dtype.startswith(("float", "bfloat", "complex"))
            buffer_name = t.name.rsplit(".", 1)[-1] in fast._BUFFER_NAMES
            is_param = in_sd and floating and not buffer_name
            is_buffer = in_sd and not is_param
        if is_param:
            params += t.numel
        elif is_buffer:
            buffers += t.numel
    return params, buffers


def reference(path: Path, filter: str | None = None, depth: int | None = None) -> Any:
    pattern = re.compile(filter) if filter else None
    ckpt = read_checkpoint(path)
    nodes = fast._Nodes()
    tensors: list[TensorMeta] = []
    metadata: dict[str, Any] = {}
    originals: dict[int, TensorMeta] = {}
    for key_path, leaf in ref_walk(ckpt.root):
        name = ".".join(key_path)
        if isinstance(leaf, TensorMeta):
            placed = copy.copy(leaf)
            placed.path, placed.name = key_path, name
            originals[id(placed)] = leaf
            tensors.append(placed)
        else:
            metadata[name or "<root>"] = fast.jsonable_value(leaf, 0, nodes)
    if ckpt.metadata:
        metadata["__metadata__"] = fast.jsonable_value(ckpt.metadata)
    selected = [t for t in tensors if pattern is None or pattern.search(t.name)]
    state_dict, sd_key = ref_state_dict_of(ckpt.root)
    prefix, kind = fast.detect_prefix(list(state_dict))
    by_dtype: Counter[str] = Counter()
    storages: dict[tuple[str, str], int] = {}
    users: Counter[tuple[str, str]] = Counter()
    for t in selected:
        if t.storage is None:
            by_dtype[t.dtype] += t.nbytes
            continue
        key = (t.storage.file, t.storage.key)
        users[key] += 1
        if key not in storages:
            storages[key] = t.storage.nbytes
            by_dtype[t.dtype] += t.storage.nbytes
    unshared = sum(t.nbytes for t in selected if t.storage is None)
    sd_ids = {id(t) for t in state_dict.values()}
    params, buffers = ref_parameters_and_buffers(selected, originals, sd_ids)
    totals = {
        "tensors": len(selected),
        "numel": sum(t.numel for t in selected),
        "parameters": params,
        "buffers": buffers,
        "bytes": sum(t.nbytes for t in selected),
        "storage_bytes": sum(storages.values()),
        "data_bytes": sum(storages.values()) + unshared,
        "shared_storages": sum(1 for n in users.values() if n > 1),
        "bytes_by_dtype": dict(sorted(by_dtype.items(), key=lambda kv: -kv[1])),
    }
    groups: list[fast.GroupInfo] = []
    if depth is not None:
        acc: dict[str, fast.GroupInfo] = {}
        for t in selected:
            key = ".".join(t.path[:depth])
            g = acc.setdefault(key, fast.GroupInfo(key, 0, 0, 0))
            g.tensors += 1
            g.numel += t.numel
            g.bytes += t.nbytes
        groups = list(acc.values())
    return fast.InspectReport(
        path=str(ckpt.path),
        format=ckpt.format,
        files=ckpt.files,
        tensors=[
            fast.TensorInfo(t.name, list(t.shape), t.dtype, t.nbytes, t.device) for t in selected
        ],
        totals=totals,
        metadata=metadata,
        state_dict_key=sd_key,
        prefix=prefix,
        prefix_kind=kind,
        groups=groups,
        globals=ckpt.globals,
    )


def outcome(fn: Any, path: Path, **kwargs: Any) -> Any:
    try:
        return dataclasses.asdict(fn(path, **kwargs))
    except CheckpointError as exc:
        return ("error", type(exc).__name__, str(exc))


def agree(path: Path, **kwargs: Any) -> Any:
    got = outcome(fast.inspect_checkpoint, path, **kwargs)
    assert got == outcome(reference, path, **kwargs), path
    return got


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("odd")
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    module = torch.nn.ModuleDict({"emb": emb, "head": head, "bn": torch.nn.BatchNorm1d(4)})
    base = torch.arange(12.0).reshape(3, 4)
    deep: Any = {"w": torch.ones(1)}
    for i in range(80):  # deeper than the walk's 64 levels
        deep = {f"k{i}": deep, "t": torch.zeros(1)}
    objects: dict[str, Any] = {
        "state_dict": module.state_dict(),
        "views": {"base": base, "view": base[1:], "again": base},
        "sparse": {"sp": torch.eye(3).to_sparse(), "b": torch.zeros(2, dtype=torch.bits16)},
        "nested": {"model": {"module.w": torch.ones(2)}, "opt": {"lr": 0.1}, "tags": ["a"]},
        "lists": {"layers": [torch.ones(1), {"x": torch.zeros(2)}, 3], "t": (torch.ones(1), 2)},
        "deep": deep,
        "int_keys": {1: torch.ones(1), (2, 3): torch.zeros(1), "s": "text"},
        "many": {f"layers.{i}.w": torch.zeros(2, i % 3 + 1) for i in range(500)},
    }
    files = []
    for name, obj in objects.items():
        files.append(root / f"{name}.pt")
        torch.save(obj, files[-1])
    for legacy in (False, True):
        files.append(root / f"module_{legacy}.pt")
        torch.save(module, files[-1], _use_new_zipfile_serialization=not legacy)
    return files


def test_factory_checkpoints_get_the_reference_report(ckpts: Any) -> None:
    paths = [
        v for k, v in vars(ckpts).items() if isinstance(v, Path) and k not in ("root", "marker")
    ]
    outcomes = [agree(p) for p in paths]
    assert sum(not isinstance(o, tuple) for o in outcomes) >= 8  # reports, not errors


def test_odd_trees_get_the_reference_report(odd_files: list[Path]) -> None:
    for path in odd_files:
        report = agree(path)
        assert not isinstance(report, tuple), report
    tied = agree(odd_files[-2])  # a whole module: the tied Parameter under both names
    names = [t["name"] for t in tied["tensors"]]
    assert "_modules.emb._parameters.weight" in names
    assert "_modules.head._parameters.weight" in names


@pytest.mark.parametrize(("filter", "depth"), [("weight", None), (None, 1), ("w$", 2), ("^$", 3)])
def test_filters_and_depths_get_the_reference_report(
    odd_files: list[Path], filter: str | None, depth: int | None
) -> None:
    for path in odd_files:
        agree(path, filter=filter, depth=depth)
