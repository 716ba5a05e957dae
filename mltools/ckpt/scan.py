"""``scan_checkpoint``: which globals a checkpoint's pickle would import, and whether that is safe.

Nothing is executed: the pickle is read twice, by ``pickletools`` (opcodes only)
and by the symbolic unpickler in record-only mode (every ``find_class`` call,
including names built on the stack), and the union is classified.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from mltools.ckpt import formats
from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.unpickler import (
    ALLOWED,
    DANGEROUS,
    NEEDS_ALLOWLIST,
    SymbolicUnpickler,
    classify_global,
    pickle_globals,
)


@dataclass
class GlobalInfo:
    name: str
    category: str  # allowed | needs-allowlist | dangerous
    file: str


@dataclass
class ScanReport:
    """The answer of ``scan_checkpoint``: globals, verdict and what to allow."""

    path: str
    format: str
    files: list[str]
    globals: list[GlobalInfo]
    weights_only_loadable: bool
    dangerous: list[str]
    to_allow: list[str]
    verdict: str  # safe | needs-allowlist | dangerous
    pickle_free: bool = False
    notes: list[str] = field(default_factory=list)


def _record(data: bytes, file: str) -> list[str]:
    import io

    unpickler = SymbolicUnpickler(io.BytesIO(data), record_only=True, file_name=file)
    with contextlib.suppress(Exception):  # keep what was recorded; pickletools covers the rest
        unpickler.load()
    return unpickler.globals


def _pickles_of(path: Path, fmt: str) -> list[tuple[str, bytes]]:
    if fmt == formats.ZIP:
        from mltools.ckpt.zipreader import read_pickle_bytes

        return [(str(path), read_pickle_bytes(path))]
    if fmt == formats.LEGACY:
        from mltools.ckpt.legacy import read_legacy_pickles

        return [(str(path), read_legacy_pickles(path))]
    if fmt == formats.PICKLE:
        return [(str(path), path.read_bytes())]
    if fmt == formats.DCP:
        from mltools.ckpt.dcp import metadata_path

        meta = metadata_path(path)
        return [(str(meta), meta.read_bytes())]
    if fmt == formats.SHARDED:
        from mltools.ckpt.sharded import read_index

        index, weight_map, _ = read_index(path)
        out = []
        for shard_name in dict.fromkeys(weight_map.values()):
            shard = index.parent / shard_name
            if not shard.is_file():
                raise CheckpointError(f"incomplete sharded checkpoint: {shard_name} is missing")
            out += _pickles_of(shard, formats.detect_format(shard))
        return out
    return []  # safetensors: no pickle at all


def scan_checkpoint(path: str | os.PathLike[str]) -> ScanReport:
    """List the pickle globals of ``path`` without executing anything, and classify them.

    ``weights_only_loadable`` says whether ``torch.load(weights_only=True)`` will accept
    every global (torch's default allowlist plus any ``add_safe_globals`` made in this
    process, when torch is imported); ``to_allow`` is what to pass to
    ``torch.serialization.add_safe_globals`` if the file is trusted.
    """
    p = Path(path)
    fmt = formats.detect_format(p)
    found: list[GlobalInfo] = []
    seen: set[tuple[str, str]] = set()
    pickles = _pickles_of(p, fmt)
    user_allowed = _user_safe_globals()
    for file, data in pickles:
        names = _record(data, file) + pickle_globals(data)
        for name in names:
            if (name, file) in seen:
                continue
            seen.add((name, file))
            category = classify_global(name)
            if category == NEEDS_ALLOWLIST and name in user_allowed:
                category = ALLOWED
            found.append(GlobalInfo(name, category, file))
    dangerous = sorted({g.name for g in found if g.category == DANGEROUS})
    to_allow = sorted({g.name for g in found if g.category == NEEDS_ALLOWLIST})
    notes = []
    if fmt == formats.DCP:
        notes.append("torch reads a distributed checkpoint's .metadata with plain pickle")
    verdict = DANGEROUS if dangerous else (NEEDS_ALLOWLIST if to_allow else "safe")
    return ScanReport(
        path=str(p),
        format=fmt,
        files=[f for f, _ in pickles] or [str(p)],
        globals=found,
        weights_only_loadable=not dangerous and not to_allow,
        dangerous=dangerous,
        to_allow=to_allow,
        verdict=verdict,
        pickle_free=not pickles,
        notes=notes,
    )


def _user_safe_globals() -> set[str]:
    """Globals the user allowlisted with ``torch.serialization.add_safe_globals`` (if torch is loaded)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return set()
    out = set()
    for item in torch.serialization.get_safe_globals():
        obj = item[0] if isinstance(item, tuple) else item
        name = item[1] if isinstance(item, tuple) else f"{obj.__module__}.{obj.__qualname__}"
        out.add(name)
    return out
