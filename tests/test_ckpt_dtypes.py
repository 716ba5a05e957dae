"""Every dtype torch can save survives ``convert`` to pt and to safetensors exactly (or is
refused where safetensors has no such dtype), from the zip and the legacy format, and
``diff --values`` sees a one-byte change in any of them."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from mltools.ckpt import CheckpointError, convert_checkpoint, diff_checkpoints  # noqa: E402
from mltools.ckpt.safetensors_header import TO_SAFETENSORS  # noqa: E402


def _savable_dtypes() -> list[str]:
    """Every dtype in torch's weights_only allowlist that torch.save accepts here."""
    import io

    from mltools.ckpt.allowlist import TORCH_ALLOWED

    out = []
    for name in sorted(TORCH_ALLOWED):
        attr = name.removeprefix("torch.")
        dtype = getattr(torch, attr, None)
        if "." in attr or not isinstance(dtype, torch.dtype):
            continue
        if attr.startswith("q"):
            continue  # quantized: needs a quantizer, tested below
        try:
            torch.save(torch.zeros(128, dtype=torch.uint8).view(dtype), io.BytesIO())
        except Exception:
            continue  # uint1..7 / int1..7: torch cannot save them
        out.append(attr)
    return out


DTYPES = _savable_dtypes()


def _tensor(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    raw = torch.randint(0, 256, (128,), dtype=torch.uint8, generator=g)
    if dtype == torch.bool:
        return (raw % 2).bool().reshape(4, -1)
    return raw.view(dtype).reshape(4, -1)


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8)


def test_the_dtype_list_is_complete():
    for name in (
        "uint16",
        "uint32",
        "uint64",
        "float8_e4m3fn",
        "float8_e5m2",
        "float8_e8m0fnu",
        "float4_e2m1fn_x2",
        "complex32",
        "complex128",
        "bits16",
        "bits8",
        "bfloat16",
    ):
        assert name in DTYPES


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_dtype_round_trips(tmp_path, legacy):
    from safetensors.torch import load_file

    failures = []
    for name in DTYPES:
        dtype = getattr(torch, name)
        t = _tensor(dtype)
        src = tmp_path / f"{name}.pt"
        view = t[:, 1:]  # a strided view sharing the storage
        torch.save({"w": t, "v": view}, src, _use_new_zipfile_serialization=not legacy)
        for fmt in ("pt", "safetensors"):
            dst = tmp_path / f"{name}-out.{fmt}"
            if fmt == "safetensors" and name not in TO_SAFETENSORS:
                with pytest.raises(CheckpointError, match="safetensors has no"):
                    convert_checkpoint(src, dst, to=fmt)
                assert not dst.exists()
                continue
            convert_checkpoint(src, dst, to=fmt)
            back = torch.load(dst, weights_only=True) if fmt == "pt" else load_file(dst)
            for key, want in (("w", t), ("v", view)):
                got = back[key]
                if got.dtype != dtype or not torch.equal(_bytes(got), _bytes(want)):
                    failures.append(f"{name} {fmt} {key}")
            report = diff_checkpoints(src, dst, values=True)
            if not report.identical:
                failures.append(f"{name} {fmt}: diff says different")
    assert failures == []


@pytest.mark.parametrize(
    "name",
    ["uint16", "uint64", "float8_e5m2", "bits16", "complex32", "float4_e2m1fn_x2", "complex128"],
)
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_diff_values_sees_one_byte(tmp_path, name, legacy):
    dtype = getattr(torch, name)
    t = _tensor(dtype)
    u = t.clone()
    raw = u.view(torch.uint8).reshape(-1)
    raw[-1] ^= 1  # the lowest bit of the last element
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save({"w": t}, a, _use_new_zipfile_serialization=not legacy)
    torch.save({"w": u}, b, _use_new_zipfile_serialization=not legacy)
    report = diff_checkpoints(a, b, values=True)
    assert report.identical is False
    assert [v.equal for v in report.value_diffs] == [False]
    assert diff_checkpoints(a, a, values=True).identical is True


def test_uint64_above_2_53_is_not_rounded_away(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save({"w": torch.tensor([2**60], dtype=torch.uint64)}, a)
    torch.save({"w": torch.tensor([2**60 + 1], dtype=torch.uint64)}, b)
    assert diff_checkpoints(a, b, values=True).identical is False


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_quantized_round_trip_to_pt(tmp_path, legacy):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=g)
    tensors = {
        "qint8": torch.quantize_per_tensor(x, 0.1, 3, torch.qint8),
        "quint8": torch.quantize_per_tensor(x, 0.05, 128, torch.quint8),
        "qint32": torch.quantize_per_tensor(x, 0.001, 0, torch.qint32),
        "per_channel": torch.quantize_per_channel(
            x,
            torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),
            torch.tensor([1, 2, 3]),
            0,
            torch.qint8,
        ),
    }
    src = tmp_path / "q.pt"
    torch.save(tensors, src, _use_new_zipfile_serialization=not legacy)
    convert_checkpoint(src, tmp_path / "o.pt")
    back = torch.load(tmp_path / "o.pt", weights_only=True)
    for name, q in tensors.items():
        got = back[name]
        assert got.dtype == q.dtype and got.qscheme() == q.qscheme(), name
        assert torch.equal(got.int_repr(), q.int_repr()), name
        assert torch.equal(got.dequantize(), q.dequantize()), name
    with pytest.raises(CheckpointError, match="safetensors has no qint8"):
        convert_checkpoint(src, tmp_path / "o.safetensors")


def test_sub_byte_quantized_is_refused_without_unsafe(tmp_path):
    q = torch.quantize_per_tensor(torch.randn(8), 0.1, 3, torch.quint4x2)
    src = tmp_path / "q.pt"
    torch.save({"q": q}, src)
    with pytest.raises(CheckpointError, match="quantized"):
        convert_checkpoint(src, tmp_path / "o.pt")
    report = convert_checkpoint(src, tmp_path / "o2.pt", unsafe=True)
    assert report.tensors == 1
    back = torch.load(tmp_path / "o2.pt", weights_only=True)["q"]
    assert torch.equal(back.int_repr(), q.int_repr())
