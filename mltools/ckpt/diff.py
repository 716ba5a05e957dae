"""``diff_checkpoints``: what ``load_state_dict(strict=True)`` would complain about, before running it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mltools.ckpt.reader import read_checkpoint, state_dict_of
from mltools.ckpt.records import TensorMeta

CHUNK_ELEMENTS = 1 << 22  # 4 Mi elements per chunk: ~32 MiB of float64 per side at most


@dataclass
class Mismatch:
    name: str
    a: list[int] | str
    b: list[int] | str


@dataclass
class ValueDiff:
    name: str
    max_abs_diff: float
    max_rel_diff: float
    equal: bool


@dataclass
class DiffReport:
    """The answer of ``diff_checkpoints``.

    ``identical`` is False on any difference found, True only when the values were
    compared too and every byte matched, and None when names, shapes and dtypes match but
    the values were not compared (``values=False``): two files with different weights are
    never called identical without looking at them.
    """

    a: str
    b: str
    a_selected: str
    b_selected: str
    only_in_a: list[str]
    only_in_b: list[str]
    shape_mismatches: list[Mismatch]
    dtype_mismatches: list[Mismatch]
    common: int
    values_compared: bool = False
    value_diffs: list[ValueDiff] = field(default_factory=list)
    identical: bool | None = None


def _normalise(names: dict[str, TensorMeta], prefixes: list[str]) -> dict[str, TensorMeta]:
    out: dict[str, TensorMeta] = {}
    for name, meta in names.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if p and name.startswith(p):
                    name, changed = name[len(p) :], True
        out[name] = meta
    return out


def _chunks(t: Any) -> Iterator[Any]:
    """Flat pieces of ``t`` of at most ``CHUNK_ELEMENTS`` elements, in order.

    Slicing along the leading dimensions first means a non-contiguous tensor (a
    transposed view) is only ever copied one piece at a time.
    """
    if t.dim() == 0 or t.numel() <= CHUNK_ELEMENTS:
        yield t.reshape(-1)
        return
    row = t[0].numel()
    if row > CHUNK_ELEMENTS:
        for i in range(t.shape[0]):
            yield from _chunks(t[i])
        return
    step = max(1, CHUNK_ELEMENTS // max(row, 1))
    for i in range(0, t.shape[0], step):
        yield t[i : i + step].reshape(-1)


def _as_bytes(t: Any) -> Any:
    import torch

    t = t.contiguous()
    return t.view(torch.uint8)


def compare_values(a: Any, b: Any) -> tuple[float, float, bool]:
    """(max |a-b|, max |a-b| / |b|, bytes equal) over pieces of both tensors, memory bounded.

    Equality is of the real bytes when the dtypes match (exact for uint64, fp8, bits16 ...,
    where a float64 comparison would round); the differences are numeric (NaN in both places
    counts as equal, NaN in one place is an infinite difference), or NaN when the dtype has
    no arithmetic (bits, fp4).
    """
    import torch

    max_abs = 0.0
    max_rel = 0.0
    same_dtype = a.dtype == b.dtype
    equal = tuple(a.shape) == tuple(b.shape)
    numeric = True
    for ca, cb in zip(_chunks(a), _chunks(b)):
        if same_dtype:
            equal = equal and bool(torch.equal(_as_bytes(ca), _as_bytes(cb)))
        if not numeric:
            continue
        try:
            if ca.is_complex() or cb.is_complex():
                fa, fb = ca.to(torch.complex128), cb.to(torch.complex128)
            else:
                fa, fb = ca.to(torch.float64), cb.to(torch.float64)
        except (RuntimeError, NotImplementedError, TypeError):
            numeric = False
            continue
        d = (fa - fb).abs()
        both_nan = torch.isnan(fa) & torch.isnan(fb)
        d = torch.where(both_nan, torch.zeros_like(d), d)
        d = torch.nan_to_num(d, nan=float("inf"))
        if d.numel() == 0:
            continue
        max_abs = max(max_abs, float(d.max()))
        rel = d / fb.abs().clamp_min(torch.finfo(torch.float64).tiny)
        rel = torch.where(d == 0, torch.zeros_like(rel), rel)
        max_rel = max(max_rel, float(rel.max()))
    if not same_dtype:
        equal = equal and numeric and max_abs == 0.0
    if not numeric:
        max_abs = max_rel = 0.0 if equal else float("nan")
    elif same_dtype and not equal and max_abs == 0.0:
        max_abs = max_rel = float(
            "nan"
        )  # bytes differ where float64 cannot tell (-0.0, NaN bits, >2**53)
    return max_abs, max_rel, equal


def diff_checkpoints(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    select: str | None = None,
    strip_prefixes: list[str] | None = None,
    values: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> DiffReport:
    """Compare the state dicts of two checkpoints: keys, shapes, dtypes and (``values``) values.

    ``select`` picks the same sub-dict in both (``None``: a training checkpoint's
    ``state_dict``/``model`` entry, ``""``: everything). ``strip_prefixes`` are removed
    from names on both sides first (e.g. ``["module.", "_orig_mod."]``). ``values``
    needs torch; tensors are memory-mapped and compared chunk by chunk.
    ``on_progress(done_bytes, total_bytes)`` is called after each compared tensor.
    """
    ca, cb = read_checkpoint(a), read_checkpoint(b)
    sa, where_a = state_dict_of(ca.root, select)
    sb, where_b = state_dict_of(cb.root, select)
    if strip_prefixes:
        sa, sb = _normalise(sa, strip_prefixes), _normalise(sb, strip_prefixes)
    only_a = [n for n in sa if n not in sb]
    only_b = [n for n in sb if n not in sa]
    common = [n for n in sa if n in sb]
    shapes = [
        Mismatch(n, list(sa[n].shape), list(sb[n].shape))
        for n in common
        if sa[n].shape != sb[n].shape
    ]
    dtypes = [Mismatch(n, sa[n].dtype, sb[n].dtype) for n in common if sa[n].dtype != sb[n].dtype]
    report = DiffReport(
        a=str(a),
        b=str(b),
        a_selected=where_a,
        b_selected=where_b,
        only_in_a=only_a,
        only_in_b=only_b,
        shape_mismatches=shapes,
        dtype_mismatches=dtypes,
        common=len(common),
    )
    if values:
        from mltools._deps import require
        from mltools.ckpt.tensors import TensorSource

        torch = require("torch")
        bad_shape = {m.name for m in shapes}
        total = sum(sa[n].nbytes for n in common if n not in bad_shape)
        done = 0
        with TensorSource(ca) as src_a, TensorSource(cb) as src_b:
            for name in common:
                if name in bad_shape:
                    continue
                ma, mb = sa[name], sb[name]
                ma.name, mb.name = _orig_name(sa, ca, name), _orig_name(sb, cb, name)
                ta = src_a.tensor(ma, raw_quantized=True)
                tb = src_b.tensor(mb, raw_quantized=True)
                if not (isinstance(ta, torch.Tensor) and isinstance(tb, torch.Tensor)):
                    continue
                max_abs, max_rel, equal = compare_values(ta, tb)
                report.value_diffs.append(ValueDiff(name, max_abs, max_rel, equal))
                done += ma.nbytes
                if on_progress is not None:
                    on_progress(done, total)
        report.values_compared = True
    different = bool(
        only_a or only_b or shapes or dtypes or any(not v.equal for v in report.value_diffs)
    )
    report.identical = False if different else (True if report.values_compared else None)
    return report


def _orig_name(flat: dict[str, TensorMeta], ckpt, name: str) -> str:  # type: ignore[no-untyped-def]
    """The DCP loader is keyed by the original full name; other sources ignore ``name``."""
    meta = flat[name]
    if ckpt.format == "torch-dcp":
        for key, value in ckpt.root.items():
            if value is meta:
                return key
    return meta.name or name
