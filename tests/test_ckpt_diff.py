"""`mltools ckpt diff`: keys, shapes, dtypes and (chunked) values of two checkpoints."""

from __future__ import annotations

import json

import pytest

from mltools.ckpt import diff_checkpoints
from mltools.errors import ExitCode

pytest_plugins = ("tests._ckpt_factory",)


def test_same_weights_in_every_format_are_identical(ckpts):
    for other in (ckpts.legacy, ckpts.safetensors, ckpts.sharded_index, ckpts.bin_index):
        report = diff_checkpoints(ckpts.plain, other, values=True)
        assert report.identical, other
        assert report.common == 4
        assert [v.max_abs_diff for v in report.value_diffs] == [0.0] * 4


def test_training_checkpoint_state_dict_is_picked(ckpts):
    report = diff_checkpoints(ckpts.train, ckpts.plain)
    assert report.a_selected == "state_dict"
    # same keys/shapes; values differ after the optimizer step: not called identical unseen
    assert report.identical is None
    with_values = diff_checkpoints(ckpts.train, ckpts.plain, values=True)
    assert not with_values.identical
    assert all(v.max_abs_diff > 0 for v in with_values.value_diffs)


def test_ddp_prefix_shows_as_only_in_and_normalises_away(ckpts, cli):
    report = diff_checkpoints(ckpts.ddp, ckpts.plain)
    assert sorted(report.only_in_a) == sorted(
        f"module.{k}" for k in ("0.weight", "0.bias", "2.weight", "2.bias")
    )
    assert len(report.only_in_b) == 4
    assert not report.identical
    result = cli("ckpt", "diff", str(ckpts.ddp), str(ckpts.plain))
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert "--normalize" in result.stderr
    ok = cli("ckpt", "diff", str(ckpts.ddp), str(ckpts.compiled), "--normalize", "--values")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    assert "identical:         yes" in ok.stdout


def test_without_values_different_weights_are_not_called_identical(ckpts, cli):
    result = cli("ckpt", "diff", str(ckpts.train), str(ckpts.plain))
    assert result.exit_code == 0
    assert "identical:         yes" not in result.stdout
    assert "values not compared" in result.stdout
    import json

    data = json.loads(cli("ckpt", "diff", str(ckpts.train), str(ckpts.plain), "--json").stdout)
    assert data["identical"] is None and data["values_compared"] is False


def test_shape_dtype_and_value_mismatches(tmp_path, cli):
    import torch

    torch.save(
        {"a": torch.zeros(3), "b": torch.ones(2, 2), "c": torch.arange(4.0), "x": torch.zeros(1)},
        tmp_path / "a.pt",
    )
    c = torch.arange(4.0)
    c[2] = 2.5
    torch.save(
        {
            "a": torch.zeros(4),
            "b": torch.ones(2, 2, dtype=torch.float16),
            "c": c,
            "y": torch.zeros(1),
        },
        tmp_path / "b.pt",
    )
    report = diff_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", values=True)
    assert report.only_in_a == ["x"] and report.only_in_b == ["y"]
    assert [(m.name, m.a, m.b) for m in report.shape_mismatches] == [("a", [3], [4])]
    assert [(m.name, m.a, m.b) for m in report.dtype_mismatches] == [("b", "float32", "float16")]
    values = {v.name: v for v in report.value_diffs}
    assert "a" not in values  # shapes differ: values not compared
    assert values["b"].equal
    assert values["c"].max_abs_diff == pytest.approx(0.5)
    assert values["c"].max_rel_diff == pytest.approx(0.5 / 2.5)
    result = cli(
        "ckpt", "diff", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--values", "--json"
    )
    assert result.exit_code == ExitCode.CHECK_FAILED
    data = json.loads(result.stdout)
    assert data["shape_mismatches"] == [{"name": "a", "a": [3], "b": [4]}]
    assert data["identical"] is False


def test_values_are_compared_chunk_by_chunk(tmp_path, monkeypatch):
    import torch

    from mltools.ckpt import diff as diff_mod

    monkeypatch.setattr(diff_mod, "CHUNK_ELEMENTS", 7)
    a = torch.randn(10, 10)
    b = a.clone()
    b[9, 9] += 1.0  # in the last chunk
    torch.save({"w": a, "t": a.t()}, tmp_path / "a.pt")  # a transposed (non-contiguous) view too
    torch.save({"w": b, "t": b.t()}, tmp_path / "b.pt")
    report = diff_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", values=True)
    values = {v.name: v.max_abs_diff for v in report.value_diffs}
    assert values["w"] == pytest.approx(1.0)
    assert values["t"] == pytest.approx(1.0)


def test_nan_in_both_is_equal(tmp_path):
    import torch

    t = torch.tensor([1.0, float("nan")])
    torch.save({"w": t}, tmp_path / "a.pt")
    torch.save({"w": t.clone()}, tmp_path / "b.pt")
    assert diff_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", values=True).identical


def test_distributed_checkpoint_against_plain(ckpts):
    report = diff_checkpoints(ckpts.dcp, ckpts.plain, strip_prefixes=["model."], values=True)
    assert report.common == 4
    assert report.only_in_b == []
    assert all(v.equal for v in report.value_diffs)


def test_missing_file(cli, ckpts, tmp_path):
    result = cli("ckpt", "diff", str(ckpts.plain), str(tmp_path / "none.pt"))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: no such file")


def test_bad_select(cli, ckpts):
    result = cli("ckpt", "diff", str(ckpts.train), str(ckpts.plain), "--select", "nope")
    assert result.exit_code == ExitCode.ERROR
    assert "--select 'nope'" in result.stderr


@pytest.mark.parametrize("shape", [(10, 10), (3, 50), (100,), (2, 3, 20), (0, 5)])
def test_chunks_are_bounded_and_in_order(monkeypatch, shape):
    import torch

    from mltools.ckpt import diff as diff_mod

    monkeypatch.setattr(diff_mod, "CHUNK_ELEMENTS", 7)
    t = torch.arange(float(torch.Size(shape).numel())).reshape(shape)
    for view in (t, t.transpose(0, -1)):
        pieces = list(diff_mod._chunks(view))
        assert all(p.numel() <= 7 for p in pieces)
        assert torch.equal(torch.cat(pieces), view.reshape(-1))


def test_quantized_and_exotic_dtypes(tmp_path):
    import torch

    from mltools.ckpt import inspect_checkpoint

    q = torch.quantize_per_tensor(torch.tensor([0.1, 0.2, 0.3]), 0.1, 0, torch.qint8)
    sd = {
        "q": q,
        "c": torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64),
        "f8": torch.tensor([0.5, 1.0]).to(torch.float8_e4m3fn),
    }
    torch.save(sd, tmp_path / "a.pt")
    q2 = torch.quantize_per_tensor(torch.tensor([0.1, 0.2, 0.5]), 0.1, 0, torch.qint8)
    torch.save({**sd, "q": q2}, tmp_path / "b.pt")
    dtypes = {t.name: t.dtype for t in inspect_checkpoint(tmp_path / "a.pt").tensors}
    assert dtypes == {"q": "qint8", "c": "complex64", "f8": "float8_e4m3fn"}
    report = diff_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", values=True)
    values = {v.name: v.max_abs_diff for v in report.value_diffs}
    assert values == {"q": 2.0, "c": 0.0, "f8": 0.0}  # q compares the raw integers (3 vs 5)
