"""`mltools ckpt scan`: the globals a pickle would import and the weights_only verdict."""

from __future__ import annotations

import json

import pytest

from mltools.ckpt import scan_checkpoint
from mltools.errors import ExitCode

pytest_plugins = ("tests._ckpt_factory",)


@pytest.mark.parametrize("attr", ["plain", "legacy", "ddp", "compiled", "bin_index"])
def test_plain_state_dicts_are_weights_only_loadable(ckpts, attr):
    report = scan_checkpoint(getattr(ckpts, attr))
    assert report.verdict == "safe"
    assert report.weights_only_loadable is True
    names = {g.name for g in report.globals}
    assert "torch._utils._rebuild_tensor_v2" in names
    assert report.to_allow == [] and report.dangerous == []


def test_training_checkpoint_needs_namespace_allowed(ckpts, cli):
    report = scan_checkpoint(ckpts.train)
    assert report.verdict == "needs-allowlist"
    assert report.weights_only_loadable is False
    assert report.to_allow == ["argparse.Namespace"]
    result = cli("ckpt", "scan", str(ckpts.train))
    # exit 5, not 0: a gate (`ckpt scan f && train --resume f`) used to pass a file that
    # torch.load(weights_only=True) then refused
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert "argparse.Namespace" in result.stdout
    assert "weights_only=True  will fail" in result.stdout or "will fail" in result.stdout
    first, hint = result.stderr.strip().splitlines()[-2:]
    assert first.startswith("mltools: error: weights_only=True refuses argparse.Namespace in ")
    assert "add_safe_globals([argparse.Namespace])" in first
    assert (
        hint
        == "hint: on the command line, --unsafe stands for weights_only=False (trusted files only)"
    )
    as_json = cli("ckpt", "scan", str(ckpts.train), "--json")
    assert as_json.exit_code == ExitCode.CHECK_FAILED
    assert json.loads(as_json.stdout)["verdict"] == "needs-allowlist"
    safe = cli("ckpt", "scan", str(ckpts.plain))
    assert (safe.exit_code, safe.stderr) == (0, "")


def test_scan_verdict_matches_torch(ckpts):
    import torch

    for attr in ("plain", "legacy", "train"):
        path = getattr(ckpts, attr)
        predicted = scan_checkpoint(path).weights_only_loadable
        try:
            torch.load(path, weights_only=True)
            actual = True
        except Exception:
            actual = False
        assert predicted == actual, attr


def test_user_allowlist_is_honoured(ckpts):
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        report = scan_checkpoint(ckpts.train)
    assert report.weights_only_loadable is True


def test_safetensors_has_no_pickle(ckpts, cli):
    report = scan_checkpoint(ckpts.safetensors)
    assert report.pickle_free is True
    assert report.verdict == "safe"
    data = json.loads(cli("ckpt", "scan", "--json", str(ckpts.sharded_index)).stdout)
    assert data["pickle_free"] is True


def test_dcp_metadata_is_scanned(ckpts):
    report = scan_checkpoint(ckpts.dcp)
    assert report.format == "torch-dcp"
    assert "torch.distributed.checkpoint.metadata.Metadata" in {g.name for g in report.globals}
    assert report.dangerous == []
    assert report.notes


def test_scan_json_shape(ckpts, cli):
    result = cli("ckpt", "scan", "--json", str(ckpts.train))
    assert result.exit_code == ExitCode.CHECK_FAILED  # needs-allowlist: weights_only fails
    data = json.loads(result.stdout)
    assert set(data) >= {"format", "globals", "weights_only_loadable", "to_allow", "verdict"}
    assert {
        "name": "argparse.Namespace",
        "category": "needs-allowlist",
        "file": str(ckpts.train),
    } in data["globals"]


def test_scan_corrupt_file(cli, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    result = cli("ckpt", "scan", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("mltools: error: truncated or corrupt")
