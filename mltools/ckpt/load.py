"""``load_checkpoint`` (each rank onto its own device, weights_only by default) and ``load_state_dict``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools._deps import require
from mltools.ckpt import formats
from mltools.ckpt.errors import CheckpointError, StateDictMismatchError, UnsafePickleError
from mltools.ckpt.inspect import KNOWN_PREFIXES
from mltools.errors import UsageError, first_line


def resolve_map_location(
    cuda_available: bool, local_rank: str | None, current_device: int | None = None
) -> str:
    """The device ``map_location="auto"`` means: a pure decision, easy to test.

    - CUDA and ``LOCAL_RANK`` set: ``cuda:{LOCAL_RANK}`` (each DDP rank its own GPU, so
      nothing lands on ``cuda:0`` where the checkpoint was saved from);
    - CUDA and no ``LOCAL_RANK``: the current CUDA device (``cuda:{current_device}``);
    - no CUDA: ``cpu`` (whatever ``LOCAL_RANK`` says).
    """
    if not cuda_available:
        return "cpu"
    if local_rank is not None and local_rank.strip() != "":
        try:
            rank = int(local_rank)
        except ValueError:
            raise UsageError(
                f"LOCAL_RANK={local_rank!r} is not an integer",
                hint="torchrun sets LOCAL_RANK to 0, 1, ...; unset it or fix it",
            ) from None
        if rank < 0:
            raise UsageError(f"LOCAL_RANK={local_rank!r} is negative")
        return f"cuda:{rank}"
    return f"cuda:{current_device or 0}"


def auto_map_location() -> str:
    """``resolve_map_location`` for this process (asks torch whether CUDA is usable)."""
    torch = require("torch")
    available = bool(torch.cuda.is_available())
    current = torch.cuda.current_device() if available else None
    return resolve_map_location(available, os.environ.get("LOCAL_RANK"), current)


def _check_pickle(path: Path, weights_only: bool) -> None:
    """Refuse what scan calls dangerous, corrupt or unknown always; with ``weights_only`` (the
    default) refuse anything short of "safe" (torch's allowlist, torch's opcodes)."""
    from mltools.ckpt.scan import CORRUPT, scan_checkpoint
    from mltools.ckpt.unpickler import UNKNOWN, unsafe_error

    report = scan_checkpoint(path)
    if report.dangerous:
        raise unsafe_error(report.dangerous[0])
    if report.verdict == CORRUPT:
        raise CheckpointError(
            f"cannot load {path}: {report.problems[0] if report.problems else 'corrupt'}",
            hint="the file was cut short or damaged; re-copy or re-save it",
        )
    if report.verdict == UNKNOWN or weights_only:
        refusal = weights_only_refusal(report, path)
        if refusal is not None:
            raise refusal


def weights_only_refusal(report: Any, path: str | os.PathLike[str]) -> UnsafePickleError | None:
    """Why ``torch.load(path, weights_only=True)`` fails on a scanned file, or None if it loads.

    ``report`` is :func:`~mltools.ckpt.scan.scan_checkpoint`'s. The message itself says
    how to load the file (scripts print ``str(exc)``, not the hint); the hint adds the
    command-line way.
    """
    from mltools.ckpt.scan import SAFE, UNSUPPORTED
    from mltools.ckpt.unpickler import UNKNOWN

    if report.verdict == SAFE or report.weights_only_loadable:
        return None
    if report.verdict == UNKNOWN:
        name = report.unknown[0]
        return UnsafePickleError(
            f"refusing to load {path}: it imports {name}, which names nothing importable "
            "(a crafted or foreign file: do not allowlist it)",
            global_name=name,
            hint="`mltools ckpt scan` lists everything it imports",
        )
    if report.verdict == UNSUPPORTED or not report.to_allow:
        problem = report.problems[0] if report.problems else report.verdict
        return UnsafePickleError(
            f"weights_only=True cannot read {path}: {problem}; re-save it with "
            "torch.save(..., pickle_protocol=2), or load it with weights_only=False if you "
            "trust the file",
            global_name="",
            hint="on the command line, --unsafe stands for weights_only=False",
        )
    names = ", ".join(report.to_allow)
    return UnsafePickleError(
        f"weights_only=True refuses {names} in {path}; if you trust the file, call "
        f"torch.serialization.add_safe_globals([{names}]) first, or pass weights_only=False",
        global_name=report.to_allow[0],
        hint="on the command line, --unsafe stands for weights_only=False (trusted files only)",
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: Any = "auto",
    weights_only: bool = True,
    mmap: bool = True,
) -> Any:
    """Load a checkpoint of any supported format, each tensor on the right device.

    ``map_location="auto"`` resolves with ``resolve_map_location``: ``cuda:{LOCAL_RANK}``
    under torchrun, the current CUDA device without ``LOCAL_RANK``, ``cpu`` without CUDA.
    The pickle is scanned first: globals that can run code are always refused
    (``UnsafePickleError`` names the global); with ``weights_only=True`` (default) so is
    anything torch's safe loader would refuse. ``weights_only=False`` warns. ``mmap`` maps
    zip checkpoints instead of reading them (ignored for formats that cannot be mapped).
    Sharded checkpoints come back as one merged state dict; a distributed checkpoint as a
    flat dict.
    """
    torch = require("torch")
    p = Path(path)
    fmt = formats.detect_format(p)
    location = auto_map_location() if map_location == "auto" else map_location
    if not weights_only:
        warnings.warn(
            f"loading {p} with weights_only=False: its pickle may run code; only for trusted files",
            UserWarning,
            stacklevel=2,
        )
    if fmt == formats.SAFETENSORS:
        return _load_safetensors(p, location)
    if fmt == formats.SHARDED:
        from mltools.ckpt.sharded import read_index, shard_path

        index, weight_map, _ = read_index(p)
        merged: dict[str, Any] = {}
        for shard_name in dict.fromkeys(weight_map.values()):
            shard = shard_path(index, shard_name)
            merged.update(load_checkpoint(shard, location, weights_only, mmap))
        return merged
    if fmt == formats.DCP:
        from mltools.ckpt.reader import read_checkpoint
        from mltools.ckpt.tensors import load_dcp

        _check_pickle(p, weights_only)
        state = load_dcp(read_checkpoint(p), unsafe=not weights_only)
        return {k: v.to(location) if isinstance(v, torch.Tensor) else v for k, v in state.items()}
    _check_pickle(p, weights_only)
    try:
        return torch.load(
            p, map_location=location, weights_only=weights_only, mmap=mmap and fmt == formats.ZIP
        )
    except Exception as exc:
        first = first_line(exc)
        raise CheckpointError(f"cannot load {p}: {first}") from None


def _load_safetensors(path: Path, location: Any) -> dict[str, Any]:
    require("safetensors")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from mltools.ckpt.safetensors_header import read_header

    read_header(path)  # a clean one-line error for a truncated file
    try:
        return load_file(path, device=str(location))
    except SafetensorError as exc:
        raise CheckpointError(f"cannot load {path}: {exc}") from None


@dataclass
class LoadResult:
    """What ``load_state_dict`` did: the key mapping used and what did not match."""

    loaded: int
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    stripped_prefix: str = ""
    added_prefix: str = ""


def _strip(name: str) -> tuple[str, str]:
    prefix = ""
    changed = True
    while changed:
        changed = False
        for p in KNOWN_PREFIXES:
            if name.startswith(p):
                name, prefix, changed = name[len(p) :], prefix + p, True
    return name, prefix


def match_keys(
    model_keys: list[str], ckpt_keys: list[str]
) -> tuple[dict[str, str], list[str], list[str], str, str]:
    """Map checkpoint keys onto model keys, ignoring ``module.``/``_orig_mod.`` prefixes.

    Returns (ckpt key -> model key, missing model keys, unexpected ckpt keys, the prefix
    stripped from the checkpoint, the prefix added for the model).
    """
    model_set = set(model_keys)
    by_bare: dict[str, str] = {}
    for key in model_keys:
        by_bare.setdefault(_strip(key)[0], key)
    mapping: dict[str, str] = {}
    stripped = added = ""
    for key in ckpt_keys:
        if key in model_set:
            mapping[key] = key
            continue
        bare, ckpt_prefix = _strip(key)
        target = by_bare.get(bare)
        if target is not None and target not in mapping.values():
            mapping[key] = target
            stripped = stripped or ckpt_prefix
            added = added or _strip(target)[1]
    targets = set(mapping.values())
    missing = [k for k in model_keys if k not in targets]
    unexpected = [k for k in ckpt_keys if k not in mapping]
    return mapping, missing, unexpected, stripped, added


def _summary(names: list[str], n: int = 3) -> str:
    shown = ", ".join(names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def load_state_dict(
    model: Any,
    path_or_dict: str | os.PathLike[str] | Mapping[str, Any],
    strict: bool = True,
    *,
    map_location: Any = "auto",
    weights_only: bool = True,
) -> LoadResult:
    """Load a state dict into ``model``, matching DDP ``module.`` and compile ``_orig_mod.`` prefixes.

    ``path_or_dict`` is a checkpoint path (loaded with ``load_checkpoint``; a training
    checkpoint's ``state_dict``/``model`` entry is picked) or a state dict. Keys are
    matched after stripping/adding the prefixes on either side. With ``strict=True``
    missing or unexpected keys, or shape mismatches, raise ``StateDictMismatchError``
    before the model is touched.
    """
    torch = require("torch")
    if isinstance(path_or_dict, Mapping):
        state = path_or_dict
    else:
        loc = map_location
        if loc == "auto":
            try:
                loc = next(iter(model.parameters())).device
            except StopIteration:
                loc = "auto"
        state = load_checkpoint(path_or_dict, map_location=loc, weights_only=weights_only)
    state = _pick_state_dict(state)
    own = model.state_dict()
    mapping, missing, unexpected, stripped, added = match_keys(list(own), list(state))
    mismatched = [
        (mapping[k], tuple(state[k].shape), tuple(own[mapping[k]].shape))
        for k in mapping
        if isinstance(state[k], torch.Tensor)
        and tuple(state[k].shape) != tuple(own[mapping[k]].shape)
    ]
    if mismatched:
        name, got, want = mismatched[0]
        raise StateDictMismatchError(
            f"shape mismatch for {name}: checkpoint {list(got)}, model {list(want)}"
            + (f" ({len(mismatched)} tensors in all)" if len(mismatched) > 1 else ""),
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
            hint="the checkpoint is from a different model configuration",
        )
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys ({_summary(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys ({_summary(unexpected)})")
        raise StateDictMismatchError(
            "state dict does not match the model: " + "; ".join(parts),
            missing=missing,
            unexpected=unexpected,
            mismatched=[],
            hint="`mltools ckpt diff` compares two checkpoints; strict=False loads what matches",
        )
    model.load_state_dict({mapping[k]: state[k] for k in mapping}, strict=False)
    return LoadResult(
        loaded=len(mapping),
        missing_keys=missing,
        unexpected_keys=unexpected,
        stripped_prefix=stripped,
        added_prefix=added,
    )


def _pick_state_dict(obj: Any) -> Mapping[str, Any]:
    from mltools.ckpt.reader import STATE_DICT_KEYS

    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state dict, got {type(obj).__name__}")
    torch = require("torch")
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    for key in STATE_DICT_KEYS:
        value = obj.get(key)
        if isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values()):
            return value
    return obj
