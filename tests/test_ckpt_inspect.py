"""`mltools ckpt inspect` / inspect_checkpoint on real checkpoints written by torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from mltools.ckpt import detect_format, inspect_checkpoint
from mltools.ckpt.errors import CheckpointError
from mltools.errors import ExitCode
from tests.conftest import mltools_env

pytest_plugins = ("tests._ckpt_factory",)

MODEL = {
    "0.weight": ([4, 8], 128),
    "0.bias": ([4], 16),
    "2.weight": ([2, 4], 32),
    "2.bias": ([2], 8),
}


def _table(report):
    return {t.name: (t.shape, t.bytes) for t in report.tensors}


@pytest.mark.parametrize(
    "attr, fmt",
    [
        ("plain", "torch-zip"),
        ("legacy", "torch-legacy"),
        ("safetensors", "safetensors"),
        ("sharded_index", "sharded"),
        ("bin_index", "sharded"),
    ],
)
def test_every_format_lists_the_model(ckpts, attr, fmt):
    report = inspect_checkpoint(getattr(ckpts, attr))
    assert report.format == fmt
    assert _table(report) == MODEL
    assert report.totals["parameters"] == 46
    assert report.totals["bytes"] == 184
    assert report.totals["bytes_by_dtype"] == {"float32": 184}
    assert {t.device for t in report.tensors} == {"cpu"}
    assert report.prefix is None


def test_sharded_folder_is_accepted(ckpts):
    report = inspect_checkpoint(ckpts.sharded_index.parent)
    assert report.format == "sharded"
    assert len(report.files) == 2


def test_distributed_checkpoint(ckpts):
    report = inspect_checkpoint(ckpts.dcp)
    assert report.format == "torch-dcp"
    assert {t.name: t.shape for t in report.tensors} == {
        f"model.{k}": shape for k, (shape, _) in MODEL.items()
    }
    assert "step" in report.metadata
    assert detect_format(ckpts.dcp / ".metadata") == "torch-dcp"


def test_ddp_and_compile_prefixes_are_reported(ckpts):
    ddp = inspect_checkpoint(ckpts.ddp)
    assert (ddp.prefix, ddp.prefix_kind) == ("module.", "ddp")
    assert set(_table(ddp)) == {f"module.{k}" for k in MODEL}
    compiled = inspect_checkpoint(ckpts.compiled)
    assert (compiled.prefix, compiled.prefix_kind) == ("_orig_mod.", "compile")


def test_training_checkpoint_tree_and_metadata(ckpts):
    report = inspect_checkpoint(ckpts.train)
    names = {t.name for t in report.tensors}
    assert {f"state_dict.{k}" for k in MODEL} <= names
    assert "optimizer.state.0.exp_avg" in names
    assert report.state_dict_key == "state_dict"
    assert report.totals["parameters"] == 46
    assert report.metadata["epoch"] == 7
    assert report.metadata["args"] == {
        "__class__": "argparse.Namespace",
        "lr": 0.01,
        "batch_size": 32,
        "name": "run-1",
    }
    assert report.metadata["optimizer.param_groups"][0]["lr"] == 0.01
    assert "argparse.Namespace" in report.globals


def test_safetensors_header_metadata(ckpts):
    assert inspect_checkpoint(ckpts.safetensors).metadata["__metadata__"] == {"step": "100"}


def test_device_saved_from_is_reported(ckpts):
    report = inspect_checkpoint(ckpts.cuda1)
    assert [(t.name, t.device) for t in report.tensors] == [("w", "cuda:1")]


def test_shared_storage_counted_once(ckpts, cli):
    report = inspect_checkpoint(ckpts.tied)
    assert report.totals["bytes"] == 320  # the tensors as listed
    assert report.totals["storage_bytes"] == 160
    # the size and the per-dtype bytes count a tied weight once (they counted it twice)
    assert report.totals["data_bytes"] == 160
    assert report.totals["bytes_by_dtype"] == {"float32": 160}
    assert report.totals["shared_storages"] == 1
    out = cli("ckpt", "inspect", str(ckpts.tied)).stdout
    assert "size:       160 B (the tensors listed add up to 320 B: 1 storage shared)" in out
    assert "by dtype:   float32 160 B" in out


def test_size_of_views_of_one_storage(tmp_path, cli):
    import torch

    t = torch.arange(12.0)
    torch.save({"base": t, "tail": t[6:]}, tmp_path / "v.pt")
    report = inspect_checkpoint(tmp_path / "v.pt")
    assert report.totals["bytes"] == 48 + 24
    assert report.totals["data_bytes"] == 48
    torch.save({"a": torch.zeros(3), "b": torch.ones(2)}, tmp_path / "plain.pt")
    plain = inspect_checkpoint(tmp_path / "plain.pt").totals
    assert plain["data_bytes"] == plain["bytes"] == 20 and plain["shared_storages"] == 0
    assert "size:       20 B\n" in cli("ckpt", "inspect", str(tmp_path / "plain.pt")).stdout


def test_filter_and_depth(ckpts):
    report = inspect_checkpoint(ckpts.train, filter=r"\.bias$")
    assert {t.name for t in report.tensors} == {"state_dict.0.bias", "state_dict.2.bias"}
    grouped = inspect_checkpoint(ckpts.train, depth=1)
    groups = {g.name: (g.tensors, g.numel) for g in grouped.groups}
    assert groups["state_dict"] == (4, 46)
    assert groups["optimizer"][0] == 12  # step, exp_avg, exp_avg_sq for 4 params


def test_cli_json(cli, ckpts):
    result = cli("ckpt", "inspect", str(ckpts.ddp), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "torch-zip"
    assert data["prefix"] == "module."
    assert data["totals"]["parameters"] == 46
    first = data["tensors"][0]
    assert first == {
        "name": "module.0.weight",
        "shape": [4, 8],
        "dtype": "float32",
        "bytes": 128,
        "device": "cpu",
    }


def test_cli_table_and_depth(cli, ckpts):
    result = cli("ckpt", "inspect", str(ckpts.train))
    assert result.exit_code == 0
    assert "state_dict.0.weight" in result.stdout
    assert "[4, 8]" in result.stdout
    assert "argparse.Namespace" in result.stdout
    grouped = cli("ckpt", "inspect", str(ckpts.train), "--depth", "1", "--json")
    assert {g["name"] for g in json.loads(grouped.stdout)["groups"]} == {"state_dict", "optimizer"}
    ddp = cli("ckpt", "inspect", str(ckpts.ddp))
    assert "module." in ddp.stderr  # the prefix hint goes to stderr


def test_bad_regex_is_usage_error(cli, ckpts):
    result = cli("ckpt", "inspect", str(ckpts.plain), "--filter", "(")
    assert result.exit_code == ExitCode.USAGE
    assert "bad --filter" in result.stderr


def _one_line_error(result, code=ExitCode.ERROR):
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("mltools: error:")]
    assert len(lines) == 1
    assert "Traceback" not in result.stderr
    return lines[0]


def test_empty_truncated_corrupt_and_foreign_files(cli, ckpts, tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert "empty file" in _one_line_error(cli("ckpt", "inspect", str(empty)))

    data = ckpts.plain.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in _one_line_error(cli("ckpt", "inspect", str(cut)))

    st = ckpts.safetensors.read_bytes()
    cut_st = tmp_path / "cut.safetensors"
    cut_st.write_bytes(st[:-20])
    assert "safetensors" in _one_line_error(cli("ckpt", "inspect", str(cut_st)))

    legacy = ckpts.legacy.read_bytes()
    cut_legacy = tmp_path / "cut_legacy.pth"
    cut_legacy.write_bytes(legacy[:-30])
    assert "truncated" in _one_line_error(cli("ckpt", "inspect", str(cut_legacy)))

    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01hello world" * 10)
    assert "not a checkpoint" in _one_line_error(cli("ckpt", "inspect", str(garbage)))

    text = tmp_path / "notes.txt"
    text.write_text("just some text\n")
    assert "not a checkpoint" in _one_line_error(cli("ckpt", "inspect", str(text)))

    import zipfile

    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("a.txt", "hi")
    assert "without data.pkl" in _one_line_error(cli("ckpt", "inspect", str(other_zip)))

    assert "no such file" in _one_line_error(cli("ckpt", "inspect", str(tmp_path / "nope.pt")))
    assert "not a checkpoint" in _one_line_error(cli("ckpt", "inspect", str(tmp_path)))


def test_incomplete_sharded_checkpoint(ckpts, tmp_path):
    import shutil

    copy = tmp_path / "sh"
    shutil.copytree(ckpts.sharded_index.parent, copy)
    next(copy.glob("model-00002*")).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        inspect_checkpoint(copy / ckpts.sharded_index.name)


def test_permission_error_is_one_line(cli, ckpts, monkeypatch):
    """Root reads everything, so the OS error is raised where the file is opened."""
    import builtins

    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file) == str(ckpts.plain):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    line = _one_line_error(cli("ckpt", "inspect", str(ckpts.plain)))
    assert line == f"mltools: error: permission denied: {ckpts.plain}"


def test_name_starting_with_dash(cli, ckpts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-model.pt").write_bytes(ckpts.plain.read_bytes())
    result = cli("ckpt", "inspect", "--json", "--", "-model.pt")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["parameters"] == 46


_NO_TORCH = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "safetensors", "numpy"):
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, Block())
    from mltools.cli.app import main
    sys.argv = ["mltools", *sys.argv[1:]]
    main()
    """
)


@pytest.mark.parametrize(
    "attr", ["plain", "legacy", "safetensors", "sharded_index", "dcp", "train"]
)
def test_inspect_works_without_torch(ckpts, attr):
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, "ckpt", "inspect", "--json", str(getattr(ckpts, attr))],
        capture_output=True,
        text=True,
        env=mltools_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["tensors"]) >= 4


def test_missing_torch_exit_code_for_values(ckpts):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _NO_TORCH,
            "ckpt",
            "diff",
            "--values",
            str(ckpts.plain),
            str(ckpts.legacy),
        ],
        capture_output=True,
        text=True,
        env=mltools_env(),
        timeout=60,
    )
    assert out.returncode == ExitCode.MISSING_DEPENDENCY, out.stderr
    assert "PyTorch" in out.stderr


def test_lightning_style_checkpoint(tmp_path):
    import torch

    from mltools.ckpt import load_state_dict, scan_checkpoint
    from tests._ckpt_factory import make_model

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ckpt = {
        "epoch": 3,
        "global_step": 1200,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [{"step_size": 10, "gamma": 0.5}],
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.25)}
        },
        "hyper_parameters": {"lr": 0.1, "layers": [8, 4, 2]},
    }
    path = tmp_path / "epoch=3-step=1200.ckpt"
    torch.save(ckpt, path)
    report = inspect_checkpoint(path)
    assert report.state_dict_key == "state_dict"
    assert report.totals["parameters"] == 46
    assert report.metadata["pytorch-lightning_version"] == "2.4.0"
    assert report.metadata["hyper_parameters.layers"] == [8, 4, 2]
    assert "callbacks.ModelCheckpoint{'monitor': 'val_loss'}.best_model_score" in {
        t.name for t in report.tensors
    }
    assert scan_checkpoint(path).weights_only_loadable
    plain = torch.nn.Module()
    plain.model = make_model()
    assert load_state_dict(plain, path).loaded == 4
