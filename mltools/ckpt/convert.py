"""``convert_checkpoint``: select, rename, cast and re-save a checkpoint, atomically.

Tensors are read memory-mapped (no torch unpickling of the input unless
``unsafe=True``), written to a temporary file next to the output, flushed and
renamed into place: a failure leaves the input and any existing output as they were.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools._deps import require
from mltools.ckpt.errors import CheckpointError, OutputExistsError
from mltools.ckpt.reader import read_checkpoint, select_path, walk
from mltools.ckpt.records import OpaqueObject, TensorMeta
from mltools.errors import UsageError

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
TARGETS = ("safetensors", "pt")


@dataclass
class ConvertReport:
    """What ``convert_checkpoint`` wrote."""

    input: str
    output: str
    format: str
    selected: str
    tensors: int
    bytes_written: int
    cast: int = 0
    dtype: str | None = None
    renamed: int = 0
    shared_copied: list[str] = field(default_factory=list)


def target_format(dst: Path, to: str | None) -> str:
    if to is not None:
        if to not in TARGETS:
            raise UsageError(f"--to must be one of {', '.join(TARGETS)}, not {to!r}")
        return to
    return "safetensors" if dst.suffix == ".safetensors" else "pt"


def _rename(node: Any, strip: str | None, add: str | None) -> tuple[Any, int]:
    if not (strip or add):
        return node, 0
    if not isinstance(node, dict):
        raise UsageError("--strip-prefix/--add-prefix need a dict of tensors; use --select")
    out: dict[str, Any] = {}
    renamed = 0
    for key, value in node.items():
        new = str(key)
        if strip and new.startswith(strip):
            new = new[len(strip) :]
        if add:
            new = add + new
        renamed += new != key
        if new in out:
            raise CheckpointError(f"renaming makes two entries called {new!r}")
        out[new] = value
    return out, renamed


def _first_opaque(node: Any, path: str = "") -> str | None:
    if isinstance(node, OpaqueObject):
        return f"{path or '<root>'} ({node.qualname})"
    if isinstance(node, dict):
        for k, v in node.items():
            found = _first_opaque(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    if isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            found = _first_opaque(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def convert_checkpoint(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str | None = None,
    select: str | None = None,
    strip_prefix: str | None = None,
    add_prefix: str | None = None,
    dtype: str | None = None,
    overwrite: bool = False,
    unsafe: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ConvertReport:
    """Write ``src`` (or its ``select``-ed part) to ``dst`` as safetensors or a torch zip file.

    ``to`` defaults from ``dst``'s suffix (``.safetensors`` or torch). ``dtype`` (bf16,
    fp16, fp32) casts floating-point tensors. Tensors sharing storage are copied apart
    for safetensors (which refuses aliases) and listed in ``shared_copied``. Objects
    other than tensors and plain data (e.g. ``argparse.Namespace``) are only kept with
    ``unsafe=True``, which unpickles the input with torch (after refusing globals that
    can run code) and warns. ``on_progress(bytes_read, bytes_total)`` follows the
    tensors being read from ``src``; the write that follows is one call.
    """
    torch = require("torch")
    src_p, dst_p = Path(src), Path(dst)
    fmt = target_format(dst_p, to)
    if dtype is not None and dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dst_p.exists() and not overwrite:
        raise OutputExistsError(
            f"{dst_p} exists; not overwriting it", hint="pass --yes to replace it"
        )
    if dst_p.is_dir():
        raise CheckpointError(f"{dst_p} is a directory")
    ckpt = read_checkpoint(src_p)
    from mltools.ckpt.tensors import TensorSource, load_dcp

    source = TensorSource(ckpt)
    try:
        if unsafe:
            from mltools.ckpt.load import load_checkpoint

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                root = load_checkpoint(src_p, map_location="cpu", weights_only=False)
        elif ckpt.format == "torch-dcp":
            root = load_dcp(ckpt)  # .metadata and non-tensor entries through the allowlist
        else:
            root = ckpt.root
        node = select_path(root, select) if select else root
        if not unsafe:
            opaque = _first_opaque(node)
            if opaque:
                raise CheckpointError(
                    f"{src_p} holds an object mltools will not unpickle: {opaque}",
                    hint="--select the tensors you need (e.g. --select state_dict), "
                    "or --unsafe if you trust the file",
                )
        node, renamed = _rename(node, strip_prefix, add_prefix)
        target = getattr(torch, DTYPES[dtype]) if dtype else None
        counts = {"tensors": 0, "cast": 0, "bytes_read": 0}
        total = sum(leaf.nbytes for _, leaf in walk(node) if isinstance(leaf, TensorMeta))

        def build(value: Any) -> Any:
            if isinstance(value, TensorMeta):
                counts["bytes_read"] += value.nbytes
                value = source.tensor(value)
                if on_progress is not None:
                    on_progress(counts["bytes_read"], total)
            if isinstance(value, torch.Tensor):
                counts["tensors"] += 1
                if target is not None and value.is_floating_point() and value.dtype != target:
                    counts["cast"] += 1
                    value = value.to(target)
                return value
            if isinstance(value, dict):
                return {k: build(v) for k, v in value.items()}
            if isinstance(value, list):
                return [build(v) for v in value]
            if isinstance(value, tuple):
                return tuple(build(v) for v in value)
            return value

        tree = build(node)
        shared: list[str] = []
        if fmt == "safetensors":
            tree, shared = _flat_tensors(tree, torch)
        _atomic_write(dst_p, lambda tmp: _save(fmt, tree, tmp, torch))
    finally:
        source.close()
    return ConvertReport(
        input=str(src_p),
        output=str(dst_p),
        format=fmt,
        selected=select or "",
        tensors=counts["tensors"],
        bytes_written=dst_p.stat().st_size,
        cast=counts["cast"],
        dtype=DTYPES[dtype] if dtype else None,
        renamed=renamed,
        shared_copied=shared,
    )


def _flat_tensors(tree: Any, torch: Any) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(tree, dict):
        raise CheckpointError("safetensors holds a dict of tensors; --select one")
    flat: dict[str, Any] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, torch.Tensor):
            flat[prefix] = value
        else:
            raise CheckpointError(
                f"safetensors holds only tensors, but {prefix or '<root>'} is "
                f"{type(value).__name__}",
                hint="--select the state dict (e.g. --select state_dict) or use --to pt",
            )

    put("", tree)
    from mltools.ckpt.safetensors_header import TO_SAFETENSORS

    for name, t in flat.items():
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in TO_SAFETENSORS:
            raise CheckpointError(
                f"safetensors has no {dtype} dtype (tensor {name}); nothing was written",
                hint="use --to pt, or --dtype to cast floating-point tensors",
            )
        if t.is_quantized or t.layout != torch.strided:
            raise CheckpointError(
                f"safetensors holds only dense tensors; {name} is {t.layout}",
                hint="use --to pt",
            )
    seen: dict[tuple[int, int], str] = {}
    shared: list[str] = []
    for name, t in flat.items():
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if (
            key in seen
            or not t.is_contiguous()
            or t.storage_offset()
            or t.numel() * t.element_size() != key[1]
        ):
            if key in seen:
                shared.append(name)
            flat[name] = t.contiguous().clone()
        else:
            seen[key] = name
    return flat, shared


def _save(fmt: str, tree: Any, tmp: Path, torch: Any) -> None:
    if fmt == "safetensors":
        require("safetensors")
        from safetensors.torch import save_file

        save_file(tree, str(tmp), metadata={"format": "pt"})
    else:
        torch.save(tree, tmp)


def _atomic_write(dst: Path, write: Any) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent or ".")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
