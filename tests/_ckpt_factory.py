"""Real checkpoints written by torch on the CPU, for the ckpt tests (built once per module)."""

from __future__ import annotations

import argparse
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest


class _Evil:
    """Unpickling this runs ``os.system('touch MARKER')``: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Ckpts:
    root: Path
    marker: Path
    plain: Path
    ddp: Path
    compiled: Path
    train: Path
    legacy: Path
    safetensors: Path
    sharded_index: Path
    bin_index: Path
    dcp: Path
    tied: Path
    cuda1: Path
    evil_zip: Path
    evil_legacy: Path
    evil_pickle: Path
    evil_dotted: Path


def make_model():  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def _ddp_state_dict(model, tmp: Path):  # type: ignore[no-untyped-def]
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp / 'pg-store'}", rank=0, world_size=1)
    try:
        return DistributedDataParallel(model).state_dict()
    finally:
        dist.destroy_process_group()


def build(root: Path) -> Ckpts:
    import torch
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    model = make_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    paths = {name: root / name for name in ("plain.pt", "ddp.pt", "compiled.pt", "train.ckpt")}
    torch.save(sd, paths["plain.pt"])
    torch.save(_ddp_state_dict(make_model(), root), paths["ddp.pt"])
    torch.save(torch.compile(make_model()).state_dict(), paths["compiled.pt"])

    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(3, 8)).sum().backward()
    opt.step()
    train = {
        "epoch": 7,
        "state_dict": model.state_dict(),
        "optimizer": opt.state_dict(),
        "args": argparse.Namespace(lr=0.01, batch_size=32, name="run-1"),
    }
    torch.save(train, paths["train.ckpt"])
    legacy = root / "legacy.pth"
    torch.save(sd, legacy, _use_new_zipfile_serialization=False)

    st = root / "model.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st), metadata={"step": "100"})

    shard_dir = root / "sharded"
    shard_dir.mkdir()
    names = list(sd)
    weight_map = {}
    for i, part in enumerate((names[:2], names[2:])):
        fname = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, str(shard_dir / fname))
        weight_map.update({k: fname for k in part})
    index = shard_dir / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))

    bin_dir = root / "binsharded"
    bin_dir.mkdir()
    bin_map = {}
    for i, part in enumerate((names[:2], names[2:])):
        fname = f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save({k: sd[k] for k in part}, bin_dir / fname)
        bin_map.update({k: fname for k in part})
    bin_index = bin_dir / "pytorch_model.bin.index.json"
    bin_index.write_text(json.dumps({"metadata": {}, "weight_map": bin_map}))

    dcp_dir = root / "dcp"
    dcp.save(
        {"model": {k: v.clone() for k, v in sd.items()}, "step": 5}, checkpoint_id=str(dcp_dir)
    )

    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # tied weights share one storage
    tied = root / "tied.pt"
    torch.save({"emb.weight": emb.weight.data, "head.weight": head.weight.data}, tied)

    cuda1 = root / "cuda1.pt"
    _save_as_if_from("cuda:1", {"w": torch.ones(2, 3)}, cuda1)

    marker = root / "PWNED"
    evil = _Evil(marker)
    evil_zip = root / "evil.pt"
    torch.save({"w": torch.zeros(2), "payload": evil}, evil_zip)
    evil_legacy = root / "evil_legacy.pt"
    torch.save(
        {"w": torch.zeros(2), "payload": evil}, evil_legacy, _use_new_zipfile_serialization=False
    )
    evil_pickle = root / "evil.pkl"
    evil_pickle.write_bytes(pickle.dumps({"payload": evil}))
    evil_dotted = root / "evil_dotted.pt"
    _replace_data_pkl(paths["plain.pt"], evil_dotted, _dotted_system_pickle(marker))
    assert not marker.exists()
    return Ckpts(
        root=root,
        marker=marker,
        plain=paths["plain.pt"],
        ddp=paths["ddp.pt"],
        compiled=paths["compiled.pt"],
        train=paths["train.ckpt"],
        legacy=legacy,
        safetensors=st,
        sharded_index=index,
        bin_index=bin_index,
        dcp=dcp_dir,
        tied=tied,
        cuda1=cuda1,
        evil_zip=evil_zip,
        evil_legacy=evil_legacy,
        evil_pickle=evil_pickle,
        evil_dotted=evil_dotted,
    )


def _dotted_system_pickle(marker: Path) -> bytes:
    """Protocol 4 reaching os.system as the dotted name ``pathlib`` / ``os.system``."""

    def unicode(text: str) -> bytes:
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    return (
        b"\x80\x04"
        + unicode("pathlib")
        + unicode("os.system")
        + b"\x93"  # STACK_GLOBAL
        + unicode(f"touch {marker}")
        + b"\x85R."  # TUPLE1, REDUCE, STOP
    )


def _replace_data_pkl(src: Path, dst: Path, data: bytes) -> None:
    """Copy a torch zip checkpoint with its data.pkl replaced."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            payload = data if info.filename.endswith("/data.pkl") else zin.read(info)
            zout.writestr(info, payload)


def _save_as_if_from(location: str, obj: object, path: Path) -> None:
    """torch.save ``obj`` with its storages tagged as saved from ``location`` (no GPU needed)."""
    import torch
    import torch.serialization as ser

    def tagger(storage):  # type: ignore[no-untyped-def]
        return location if storage.device.type == "cpu" else None

    ser.register_package(-100, tagger, lambda storage, loc: None)
    try:
        torch.save(obj, path)
    finally:
        ser._package_registry[:] = [e for e in ser._package_registry if e[1] is not tagger]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> Ckpts:
    return build(tmp_path_factory.mktemp("ckpts"))
