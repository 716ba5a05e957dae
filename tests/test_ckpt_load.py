"""load_checkpoint (map_location="auto", weights_only) and load_state_dict (prefix matching)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from mltools.ckpt import (
    StateDictMismatchError,
    UnsafePickleError,
    load_checkpoint,
    load_state_dict,
    resolve_map_location,
)
from mltools.ckpt.load import match_keys
from mltools.errors import UsageError
from tests._ckpt_factory import make_model
from tests.conftest import mltools_env

pytest_plugins = ("tests._ckpt_factory",)


@pytest.mark.parametrize(
    "cuda, local_rank, current, expected",
    [
        (True, "3", 0, "cuda:3"),  # torchrun rank 3: its own GPU, not cuda:0
        (True, "0", 5, "cuda:0"),
        (True, None, 2, "cuda:2"),  # no LOCAL_RANK: the current device
        (True, None, None, "cuda:0"),
        (False, "3", None, "cpu"),  # no CUDA: cpu whatever LOCAL_RANK says
        (False, None, None, "cpu"),
        (True, "", 1, "cuda:1"),  # an empty LOCAL_RANK counts as unset
    ],
)
def test_auto_map_location_decision(cuda, local_rank, current, expected):
    assert resolve_map_location(cuda, local_rank, current) == expected


@pytest.mark.parametrize("bad", ["x", "-1", "1.5"])
def test_bad_local_rank(bad):
    with pytest.raises(UsageError, match="LOCAL_RANK"):
        resolve_map_location(True, bad, 0)


def test_auto_on_this_machine_uses_torch(monkeypatch, ckpts):
    import torch

    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    from mltools.ckpt import load as load_mod

    assert load_mod.auto_map_location() == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_mod.auto_map_location() == "cpu"
    sd = load_checkpoint(ckpts.plain)  # auto -> cpu here
    assert {v.device.type for v in sd.values()} == {"cpu"}


def test_device_saved_from_cuda_lands_on_cpu(ckpts):
    sd = load_checkpoint(ckpts.cuda1, map_location="cpu")
    assert sd["w"].device.type == "cpu"
    assert sd["w"].sum().item() == 6.0


@pytest.mark.parametrize(
    "attr", ["plain", "legacy", "safetensors", "sharded_index", "bin_index", "dcp"]
)
def test_every_format_loads(ckpts, attr):
    import torch

    want = torch.load(ckpts.plain, weights_only=True)
    got = load_checkpoint(getattr(ckpts, attr), map_location="cpu")
    if attr == "dcp":
        got = {k.removeprefix("model."): v for k, v in got.items() if k.startswith("model.")}
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_weights_only_refuses_namespace_with_hint(ckpts):
    with pytest.raises(UnsafePickleError) as info:
        load_checkpoint(ckpts.train, map_location="cpu")
    assert info.value.global_name == "argparse.Namespace"
    # the fix is in the message a script prints (str(exc)), not only on .hint
    assert "torch.serialization.add_safe_globals([argparse.Namespace])" in str(info.value)
    assert "weights_only=False" in str(info.value)
    assert "--unsafe" in info.value.hint
    with pytest.warns(UserWarning, match="weights_only=False"):
        ckpt = load_checkpoint(ckpts.train, map_location="cpu", weights_only=False)
    assert ckpt["args"].lr == 0.01 and ckpt["epoch"] == 7


def test_allowlisted_namespace_loads(ckpts):
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = load_checkpoint(ckpts.train, map_location="cpu")
    assert ckpt["args"].batch_size == 32


@pytest.mark.parametrize("attr", ["plain", "ddp", "compiled"])
def test_load_state_dict_into_plain_model(ckpts, attr):
    import torch

    model = make_model()
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    result = load_state_dict(model, getattr(ckpts, attr))
    assert result.loaded == 4 and result.missing_keys == [] and result.unexpected_keys == []
    assert result.stripped_prefix == {"plain": "", "ddp": "module.", "compiled": "_orig_mod."}[attr]
    want = torch.load(ckpts.plain, weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in want.items())


def test_load_plain_into_compiled_model_adds_prefix(ckpts):
    import torch

    compiled = torch.compile(make_model())
    result = load_state_dict(compiled, ckpts.plain)
    assert result.added_prefix == "_orig_mod."
    assert result.loaded == 4


def test_training_checkpoint_via_dict(ckpts):
    import torch

    ckpt = torch.load(ckpts.train, weights_only=False)
    model = make_model()
    assert load_state_dict(model, ckpt).loaded == 4
    assert torch.equal(model[0].weight, ckpt["state_dict"]["0.weight"])


def test_strict_mismatch_reports_keys_and_leaves_model_untouched(ckpts):
    import torch

    model = torch.nn.Sequential(
        torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2), torch.nn.Linear(2, 2)
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(StateDictMismatchError) as info:
        load_state_dict(model, ckpts.plain)
    assert sorted(info.value.missing) == ["3.bias", "3.weight"]
    assert "missing 2 keys" in info.value.message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    result = load_state_dict(model, ckpts.plain, strict=False)
    assert result.loaded == 4 and sorted(result.missing_keys) == ["3.bias", "3.weight"]


def test_shape_mismatch_is_clear(ckpts):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    with pytest.raises(
        StateDictMismatchError,
        match=r"shape mismatch for 0.weight: checkpoint \[4, 8\], model \[5, 8\]",
    ):
        load_state_dict(model, ckpts.plain, strict=False)


def test_match_keys_both_ways():
    mapping, missing, unexpected, stripped, added = match_keys(
        ["module._orig_mod.a", "module._orig_mod.b"], ["a", "b", "c"]
    )
    assert mapping == {"a": "module._orig_mod.a", "b": "module._orig_mod.b"}
    assert (missing, unexpected, stripped, added) == ([], ["c"], "", "module._orig_mod.")


def test_public_imports_are_lazy_and_torch_free():
    code = (
        "import sys, mltools.ckpt, mltools; from mltools import load_checkpoint, load_state_dict, "
        "inspect_checkpoint; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stdout.strip() == "False", out.stderr


def test_corrupt_file_gives_checkpoint_error(tmp_path, ckpts):
    from mltools.ckpt import CheckpointError

    bad = tmp_path / "bad.pt"
    bad.write_bytes(ckpts.plain.read_bytes()[:-40])
    with warnings.catch_warnings(), pytest.raises(CheckpointError):
        load_checkpoint(bad, map_location="cpu")


def test_auto_location_reaches_torch_load(monkeypatch, ckpts):
    """Under torchrun (LOCAL_RANK=1) with CUDA, torch.load is asked for cuda:1 and mmap."""
    import torch

    seen = {}
    real_load = torch.load

    def recording_load(path, **kwargs):
        seen.update(kwargs)
        return real_load(path, **{**kwargs, "map_location": "cpu"})

    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch, "load", recording_load)
    load_checkpoint(ckpts.plain)
    assert seen == {"map_location": "cuda:1", "weights_only": True, "mmap": True}
    load_checkpoint(ckpts.legacy)  # the legacy format cannot be memory-mapped
    assert seen["mmap"] is False
