"""One entry point that parses any supported checkpoint into a ``Checkpoint``, and tree walks.

The ckpt modules stand in a line, each importing only those below it: the format sniffer
(``formats``) and the pickle machines; the one-file readers (``zipreader``, ``legacy``,
``safetensors_header``, through ``onefile``); the many-file ones (``sharded``, ``dcp``);
this dispatcher; then the verdicts (``scan``) and what uses them (``load``, ``dcp_load``,
``inspect`` ...).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mltools.ckpt import formats
from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.onefile import read_file
from mltools.ckpt.records import Checkpoint, OpaqueObject, TensorMeta, key_text


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse ``path`` (any supported format) without reading tensor data and without torch."""
    p = Path(path)
    fmt = formats.detect_format(p)
    if fmt == formats.SHARDED:
        from mltools.ckpt.sharded import read_sharded

        return read_sharded(p)
    if fmt == formats.DCP:
        from mltools.ckpt.dcp import read_dcp

        return read_dcp(p)
    return read_file(p, fmt)


_MAX_DEPTH = 64


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple)):
        return list(obj)
    if isinstance(obj, OpaqueObject):
        return list(obj.attributes().values())
    return []


def distinct_nodes(obj: Any, limit: int = 50_000_000) -> int:
    """Distinct containers ``obj`` reaches plus their entries (each shared container once)."""
    seen: set[int] = set()
    stack = [obj]
    entries = 0
    while stack and len(seen) + entries < limit:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, (dict, list, tuple, OpaqueObject)):
            continue
        seen.add(id(node))
        children = _children(node)
        entries += len(children)
        stack.extend(children)
    return len(seen) + entries


class _Budget:
    """Visits allowed to a tree walk: a few per distinct node, so shared references
    (a 1 KB "billion laughs" pickle) cannot multiply the work."""

    def __init__(self, root: Any) -> None:
        self.left = 10_000 + 8 * distinct_nodes(root)

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise CheckpointError(
                "corrupt or hostile checkpoint: its object tree repeats shared parts "
                "far more often than it has parts (a 'billion laughs' pickle)"
            )


def walk(
    obj: Any, path: tuple[str, ...] = (), _budget: _Budget | None = None
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (key path, leaf) for every leaf of nested dicts, lists and opaque objects' state.

    Below ``_MAX_DEPTH`` levels a node is yielded whole (a leaf), whatever it holds. A
    cycle is yielded as a leaf; the number of visits is bounded by the number of distinct
    nodes (``CheckpointError`` beyond).
    """
    budget = _budget or _Budget(obj)
    cache: dict[int, bool] = getattr(budget, "cache", None) or {}
    budget.cache = cache  # type: ignore[attr-defined]
    budget.spend()
    if len(path) >= _MAX_DEPTH or isinstance(obj, TensorMeta):
        yield path, obj
    elif isinstance(obj, dict) and obj:
        leaf_level = len(path) + 1 >= _MAX_DEPTH
        for key, value in obj.items():
            here = (*path, key if type(key) is str else key_text(key))
            if type(value) is TensorMeta or leaf_level:  # a leaf: no generator of its own
                budget.spend()
                yield here, value
            else:
                yield from walk(value, here, budget)
    elif isinstance(obj, (list, tuple)) and obj and any(_has_tensor(v, 0, cache) for v in obj):
        for i, value in enumerate(obj):
            yield from walk(value, (*path, str(i)), budget)
    elif isinstance(obj, OpaqueObject) and _has_tensor(obj, 0, cache):
        yield from walk(obj.attributes(), path, budget)
    else:
        yield path, obj


def _has_tensor(obj: Any, depth: int = 0, cache: dict[int, bool] | None = None) -> bool:
    if depth > 50:
        return False
    if isinstance(obj, TensorMeta):
        return True
    if not isinstance(obj, (dict, list, tuple, OpaqueObject)):
        return False
    if cache is None:
        cache = {}
    known = cache.get(id(obj))
    if known is not None:
        return known
    cache[id(obj)] = False  # a cycle back here finds no tensor through itself
    found = any(_has_tensor(v, depth + 1, cache) for v in _children(obj))
    cache[id(obj)] = found
    return found


STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network")


def state_dict_of(obj: Any, select: str | None = None) -> tuple[dict[str, TensorMeta], str]:
    """The flat state dict (name -> tensor) inside ``obj`` and the key path it came from.

    ``select`` is a dotted key path (``"state_dict"``, ``"model"``); ``""`` means the whole
    object; ``None`` picks the first of the usual keys (``state_dict``, ``model`` ...) of a
    training checkpoint, or the whole object.
    """
    node, where = state_dict_node(obj, select)
    flat: dict[str, TensorMeta] = {}
    for key_path, leaf in walk(node):
        if isinstance(leaf, TensorMeta):
            flat[".".join(key_path)] = leaf
    return flat, where


def state_dict_node(obj: Any, select: str | None = None) -> tuple[Any, str]:
    """The node of ``obj`` that ``state_dict_of`` flattens, and its key path (same ``select``)."""
    if select:
        return select_path(obj, select), select
    if (
        select is None
        and isinstance(obj, dict)
        and not all(isinstance(v, TensorMeta) for v in obj.values())
    ):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict) and _has_tensor(obj[key], 0, {}):
                return obj[key], key
    return obj, ""


def select_path(obj: Any, select: str) -> Any:
    """Follow a dotted key path into nested dicts; a key may itself contain dots."""
    node = obj
    rest = select
    while rest:
        if not isinstance(node, dict):
            raise CheckpointError(f"--select {select!r}: {rest!r} is not inside a dict")
        for key in sorted((str(k) for k in node), key=len, reverse=True):
            if rest == key or rest.startswith(key + "."):
                node = node[key] if key in node else node[_orig_key(node, key)]
                rest = rest[len(key) + 1 :]
                break
        else:
            # flat dotted keys (distributed checkpoints, flattened state dicts): a prefix
            nested = {
                str(k)[len(rest) + 1 :]: v for k, v in node.items() if str(k).startswith(rest + ".")
            }
            if nested:
                return nested
            keys = ", ".join(sorted(str(k) for k in node)[:10])
            raise CheckpointError(
                f"--select {select!r}: no key {rest!r} (keys here: {keys})",
                hint="`mltools ckpt inspect --depth 1 PATH` shows the top-level keys",
            )
    return node


def _orig_key(node: dict[Any, Any], key: str) -> Any:
    return next(k for k in node if str(k) == key)
