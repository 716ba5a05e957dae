"""`mltools ckpt convert`: select, rename, cast, safetensors/pt, atomic and no silent overwrite."""

from __future__ import annotations

import json

import pytest

from mltools.ckpt import convert_checkpoint
from mltools.ckpt.errors import CheckpointError, OutputExistsError
from mltools.errors import ExitCode
from tests.conftest import usage_error

pytest_plugins = ("tests._ckpt_factory",)


def _load_st(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_ddp_to_safetensors_strips_prefix(ckpts, tmp_path, cli):
    import torch

    out = tmp_path / "model.safetensors"
    result = cli("ckpt", "convert", str(ckpts.ddp), str(out), "--strip-prefix", "module.", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "safetensors" and data["tensors"] == 4 and data["renamed"] == 4
    got = _load_st(out)
    want = torch.load(ckpts.ddp, weights_only=True)
    assert set(got) == {k.removeprefix("module.") for k in want}
    for k, v in want.items():
        assert torch.equal(got[k.removeprefix("module.")], v)


def test_select_from_training_checkpoint_and_cast(ckpts, tmp_path):
    import torch

    out = tmp_path / "model.pt"
    report = convert_checkpoint(
        ckpts.train, out, select="state_dict", dtype="bf16", add_prefix="net."
    )
    assert report.cast == 4 and report.dtype == "bfloat16"
    got = torch.load(out, weights_only=True)
    want = torch.load(ckpts.train, weights_only=False)["state_dict"]
    assert set(got) == {f"net.{k}" for k in want}
    for k, v in want.items():
        assert got[f"net.{k}"].dtype == torch.bfloat16
        assert torch.equal(got[f"net.{k}"], v.to(torch.bfloat16))


def test_progress_follows_the_bytes_read(ckpts, tmp_path):
    import torch

    seen: list[tuple[int, int]] = []
    convert_checkpoint(ckpts.ddp, tmp_path / "m.safetensors", on_progress=lambda *a: seen.append(a))
    want = torch.load(ckpts.ddp, weights_only=True)
    total = sum(t.numel() * t.element_size() for t in want.values())
    assert len(seen) == len(want)  # one update per tensor read
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total and done[0] > 0


def test_training_checkpoint_without_select_is_refused_unless_unsafe(ckpts, tmp_path, cli):
    import torch

    out = tmp_path / "all.pt"
    result = cli("ckpt", "convert", str(ckpts.train), str(out))
    assert result.exit_code == ExitCode.ERROR
    assert "argparse.Namespace" in result.stderr
    assert not out.exists()
    unsafe = cli("ckpt", "convert", str(ckpts.train), str(out), "--unsafe")
    assert unsafe.exit_code == 0, unsafe.stderr
    assert "warning: --unsafe" in unsafe.stderr
    loaded = torch.load(out, weights_only=False)
    assert loaded["args"].batch_size == 32 and loaded["epoch"] == 7


def test_optimizer_state_keeps_structure_in_pt(ckpts, tmp_path):
    import torch

    out = tmp_path / "opt.pt"
    convert_checkpoint(ckpts.train, out, select="optimizer")
    got = torch.load(out, weights_only=True)
    want = torch.load(ckpts.train, weights_only=False)["optimizer"]
    assert got["param_groups"] == want["param_groups"]
    assert torch.equal(got["state"][0]["exp_avg"], want["state"][0]["exp_avg"])


def test_shared_tensors(ckpts, tmp_path):
    import torch

    st = tmp_path / "tied.safetensors"
    report = convert_checkpoint(ckpts.tied, st)
    assert report.shared_copied == ["head.weight"]
    got = _load_st(st)
    assert torch.equal(got["emb.weight"], got["head.weight"])
    pt = tmp_path / "tied.pt"
    convert_checkpoint(ckpts.tied, pt)
    again = torch.load(pt, weights_only=True)
    assert (
        again["emb.weight"].untyped_storage().data_ptr()
        == again["head.weight"].untyped_storage().data_ptr()
    )


@pytest.mark.parametrize("attr", ["legacy", "sharded_index", "dcp", "safetensors"])
def test_other_formats_to_pt(ckpts, tmp_path, attr):
    import torch

    out = tmp_path / "out.pt"
    strip = "model." if attr == "dcp" else None
    convert_checkpoint(
        getattr(ckpts, attr), out, select="model" if attr == "dcp" else None, strip_prefix=strip
    )
    got = torch.load(out, weights_only=True)
    want = torch.load(ckpts.plain, weights_only=True)
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_refuses_overwrite_without_yes(ckpts, tmp_path, cli):
    out = tmp_path / "exists.safetensors"
    out.write_bytes(b"precious")
    result = cli("ckpt", "convert", str(ckpts.plain), str(out))
    assert result.exit_code == ExitCode.ERROR
    assert "exists" in result.stderr and "--yes" in result.stderr
    assert out.read_bytes() == b"precious"
    with pytest.raises(OutputExistsError):
        convert_checkpoint(ckpts.plain, out)
    ok = cli("ckpt", "convert", str(ckpts.plain), str(out), "--yes")
    assert ok.exit_code == 0, ok.stderr
    assert len(_load_st(out)) == 4


def test_failure_leaves_existing_output_and_no_temp(ckpts, tmp_path, monkeypatch):
    out = tmp_path / "keep.pt"
    out.write_bytes(b"old")
    before = ckpts.plain.read_bytes()

    import torch

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        convert_checkpoint(ckpts.plain, out, overwrite=True)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]
    assert ckpts.plain.read_bytes() == before


def test_safetensors_needs_tensors_only(ckpts, tmp_path):
    with pytest.raises(CheckpointError, match="only tensors"):
        convert_checkpoint(ckpts.train, tmp_path / "x.safetensors", select="optimizer")


def test_bad_options(cli, ckpts, tmp_path):
    bad_dtype = cli("ckpt", "convert", str(ckpts.plain), str(tmp_path / "o.pt"), "--dtype", "int3")
    usage_error(bad_dtype, "--dtype must be one of bf16, fp16, fp32, not 'int3'")
    bad_to = cli("ckpt", "convert", str(ckpts.plain), str(tmp_path / "o.pt"), "--to", "onnx")
    usage_error(bad_to, "--to must be one of safetensors, pt, not 'onnx'")
    corrupt = tmp_path / "c.pt"
    corrupt.write_bytes(ckpts.plain.read_bytes()[:100])
    res = cli("ckpt", "convert", str(corrupt), str(tmp_path / "o.pt"))
    assert res.exit_code == ExitCode.ERROR
    assert not (tmp_path / "o.pt").exists()


def test_quantized_is_rebuilt_without_unsafe(tmp_path):
    import torch

    q = torch.quantize_per_tensor(torch.tensor([0.1, 0.2]), 0.1, 0, torch.qint8)
    torch.save({"q": q}, tmp_path / "q.pt")
    convert_checkpoint(tmp_path / "q.pt", tmp_path / "out.pt")  # scale and zero point kept
    back = torch.load(tmp_path / "out.pt", weights_only=True)["q"]
    assert (back.q_scale(), back.q_zero_point()) == (q.q_scale(), q.q_zero_point())
    convert_checkpoint(tmp_path / "q.pt", tmp_path / "out.pt", unsafe=True, overwrite=True)
    assert torch.equal(
        torch.load(tmp_path / "out.pt", weights_only=True)["q"].int_repr(), q.int_repr()
    )
