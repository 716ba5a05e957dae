"""inspect's details (tied weights once, buffers, whole modules, views, bits16, sparse, F4),
shard paths kept inside the checkpoint's folder, and distributed checkpoints loaded without
plain pickle or weights_only=False."""

from __future__ import annotations

import json
import os
import struct
import warnings

import pytest

torch = pytest.importorskip("torch")

from mltools.ckpt import CheckpointError, UnsafePickleError  # noqa: E402
from mltools.ckpt.inspect import inspect_checkpoint  # noqa: E402


def _tied_module():
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    return torch.nn.ModuleDict({"emb": emb, "head": head, "bn": torch.nn.BatchNorm1d(4)})


def test_tied_weights_once_and_buffers_apart(tmp_path):
    m = _tied_module()
    real = sum(p.numel() for p in m.parameters())  # 48: the tied weight once
    buffers = sum(b.numel() for b in m.buffers())  # 9
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    totals = inspect_checkpoint(tmp_path / "sd.pt").totals
    assert (totals["parameters"], totals["buffers"]) == (real, buffers)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_whole_module_files(tmp_path, legacy):
    m = _tied_module()
    torch.save(m, tmp_path / "m.pt", _use_new_zipfile_serialization=not legacy)
    report = inspect_checkpoint(tmp_path / "m.pt")
    names = [t.name for t in report.tensors]
    assert "_modules.emb._parameters.weight" in names
    assert "_modules.head._parameters.weight" in names
    assert report.totals["parameters"] == sum(p.numel() for p in m.parameters())
    assert report.totals["buffers"] == sum(b.numel() for b in m.buffers())


def test_view_and_base_both_listed(tmp_path):
    t = torch.arange(12.0).reshape(3, 4)
    torch.save({"base": t, "view": t[1:]}, tmp_path / "v.pt")
    report = inspect_checkpoint(tmp_path / "v.pt")
    assert [(x.name, x.shape) for x in report.tensors] == [("base", [3, 4]), ("view", [2, 4])]
    assert report.totals["storage_bytes"] == 48


def test_bits16_bytes_and_sparse_parts_in_totals(tmp_path):
    torch.save(
        {"b": torch.zeros(3, dtype=torch.bits16), "sp": torch.eye(3).to_sparse()}, tmp_path / "x.pt"
    )
    report = inspect_checkpoint(tmp_path / "x.pt")
    sizes = {t.name: t.bytes for t in report.tensors}
    assert sizes == {"b": 6, "sp.indices": 48, "sp.values": 12}
    assert report.totals["bytes"] == 66


def test_safetensors_f4_is_read(tmp_path):
    header = json.dumps({"w": {"dtype": "F4", "shape": [2, 4], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "f4.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x12\x34\x56\x78")
    report = inspect_checkpoint(path)
    assert [(t.dtype, t.shape, t.bytes) for t in report.tensors] == [
        ("float4_e2m1fn_x2", [2, 2], 4)
    ]


def _index(folder, weight_map):
    folder.mkdir(exist_ok=True)
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps({"weight_map": weight_map}))
    return path


def test_self_referencing_index_is_refused(tmp_path):
    index = _index(tmp_path / "a", {"w": "model.safetensors.index.json"})
    with pytest.raises(CheckpointError, match="index file"):
        inspect_checkpoint(index)


@pytest.mark.parametrize(
    "shard", ["/etc/passwd", "../outside.safetensors", "sub/../../x.safetensors"]
)
def test_shards_outside_the_folder_are_refused(tmp_path, ckpts, shard):
    index = _index(tmp_path / "ck", {"w": shard})
    (tmp_path / "outside.safetensors").write_bytes(ckpts.safetensors.read_bytes())
    for fn in (inspect_checkpoint,):
        with pytest.raises(CheckpointError, match="outside the checkpoint"):
            fn(index)
    from mltools.ckpt import load_checkpoint, scan_checkpoint

    with pytest.raises(CheckpointError, match="outside the checkpoint"):
        scan_checkpoint(index)
    with pytest.raises(CheckpointError, match="outside the checkpoint"):
        load_checkpoint(index, map_location="cpu")


def test_symlinked_shard_outside_is_refused(tmp_path, ckpts):
    folder = tmp_path / "ck"
    index = _index(folder, {"w": "link.safetensors"})
    os.symlink(ckpts.safetensors, folder / "link.safetensors")
    with pytest.raises(CheckpointError, match="outside the checkpoint"):
        inspect_checkpoint(index)


pytest_plugins = ("tests._ckpt_factory",)


# --- distributed checkpoints --------------------------------------------------------------
def _dcp(folder, state):
    import torch.distributed.checkpoint as dcp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(state, checkpoint_id=str(folder))
    return folder


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_dcp_plain_entries_load_through_the_allowlist(tmp_path):
    from mltools.ckpt import load_checkpoint, scan_checkpoint

    folder = _dcp(
        tmp_path / "d", {"w": torch.ones(2, 3), "step": 5, "cfg": {"lr": 0.1, "tags": ["a"]}}
    )
    assert scan_checkpoint(folder).verdict == "safe"
    state = load_checkpoint(folder, map_location="cpu")
    assert torch.equal(state["w"], torch.ones(2, 3))
    assert state["step"] == 5 and state["cfg.lr"] == 0.1 and state["cfg.tags"] == ["a"]


def test_dcp_payload_entry_is_refused_everywhere(tmp_path, cli):
    from mltools.ckpt import convert_checkpoint, diff_checkpoints, load_checkpoint, scan_checkpoint

    marker = tmp_path / "PWNED"
    folder = _dcp(tmp_path / "d", {"w": torch.ones(2), "extra": _Evil(marker)})
    report = scan_checkpoint(folder)
    assert report.verdict == "dangerous" and "posix.system" in report.dangerous
    with pytest.raises(UnsafePickleError):
        load_checkpoint(folder, map_location="cpu")
    with pytest.raises(CheckpointError):
        convert_checkpoint(folder, tmp_path / "o.pt")
    plain = _dcp(tmp_path / "p", {"w": torch.ones(2)})
    with pytest.raises(CheckpointError):
        diff_checkpoints(plain, folder, values=True, select="")
    result = cli("ckpt", "scan", str(folder))
    assert result.exit_code == 1 and "posix.system" in result.stderr
    assert not marker.exists()


def test_dcp_metadata_with_a_torch_gadget_is_refused(tmp_path):
    from mltools.ckpt import load_checkpoint, scan_checkpoint
    from tests._ckpt_gadgets import as_pickle, gadgets

    marker = tmp_path / "PWNED"
    folder = _dcp(tmp_path / "d", {"w": torch.ones(2)})
    (folder / ".metadata").write_bytes(as_pickle(gadgets(marker)["torch.utils.collect_env.run"]))
    assert scan_checkpoint(folder).verdict == "dangerous"
    with pytest.raises(CheckpointError):
        load_checkpoint(folder, map_location="cpu")
    assert not marker.exists()


def test_dcp_entry_with_a_foreign_class_needs_unsafe(tmp_path):
    import argparse

    from mltools.ckpt import load_checkpoint, scan_checkpoint

    folder = _dcp(tmp_path / "d", {"w": torch.ones(2), "args": argparse.Namespace(lr=1)})
    report = scan_checkpoint(folder)
    assert report.verdict == "needs-allowlist" and report.to_allow == ["argparse.Namespace"]
    with pytest.raises(UnsafePickleError, match=r"--unsafe|weights_only"):
        load_checkpoint(folder, map_location="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = load_checkpoint(folder, map_location="cpu", weights_only=False)
    assert state["args"].lr == 1
