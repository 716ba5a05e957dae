"""A malicious corpus against every default path, and benign real-library files against scan.

Malicious: picklescan's public samples (MIT, verbatim in tests/fixtures/ckpt_corpus, see its
SOURCES.md), modelscan's unsafe_zip_pytorch.pt (Apache-2.0), and our own gadgets
(tests/_ckpt_gadgets.py) wrapped into every kind of file mltools reads: a bare pickle, a torch
zip file, each of the legacy format's pickles, a nested ``_load_from_bytes`` pickle, a
distributed checkpoint's non-tensor entry and its ``.metadata``. Every default path runs on
each, in a temp dir, with an audit hook watching for process, network, file-write and
``pickle.find_class`` events and a marker file per gadget; nothing may run, and no scan may
say "safe". The gadgets themselves are proven live by running them for real in a child
process (``test_our_gadgets_are_live``).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from mltools.errors import MltoolsError  # noqa: E402
from tests import _ckpt_gadgets as gad  # noqa: E402

pytest_plugins = ("tests._ckpt_factory",)

CORPUS = Path(__file__).parent / "fixtures" / "ckpt_corpus"
PUBLIC = sorted(p for p in CORPUS.glob("*/*") if p.is_file() and p.name != "SOURCES.md")
PUBLIC_BENIGN = {"data__benign0_v0.pkl", "data__benign0_v3.pkl", "data__benign0_v4.pkl",
                 "data__new_pytorch_model.bin", "data__malicious6.pkl", "data__not_a_pickle.bin",
                 "data__bad_pytorch.pt", "data__benign_password_protected.zip"}  # fmt: skip

_WATCH = (
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "subprocess.Popen",
    "pty.spawn",
    "socket.connect",
    "socket.getaddrinfo",
    "webbrowser.open",
    "pickle.find_class",
    "ctypes.dlopen",
    "shutil.copyfile",
    "shutil.rmtree",
    "os.remove",
    "os.mkdir",
    "code.__new__",
    "function.__new__",
    "cpython.run_command",
)
_events: list[str] = []
_armed = [False]


def _hook(event: str, args: tuple) -> None:
    if not _armed[0]:
        return
    if event in _WATCH or (
        event == "open"
        and len(args) > 1
        and isinstance(args[1], str)
        and set(args[1]) & set("wax+")
    ):
        _events.append(f"{event} {str(args)[:120]}")


sys.addaudithook(_hook)


class _Watch:
    def __enter__(self):
        _events.clear()
        _armed[0] = True
        return self

    def __exit__(self, *exc):
        _armed[0] = False


# --- building the malicious files -------------------------------------------------------
def _torch_bytes(opcodes_pickle: bytes) -> bytes:
    """A torch zip file whose data.pkl is ``opcodes_pickle`` (for nested payloads)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", opcodes_pickle)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


class _EvilReduce:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def malicious(tmp_path_factory, ckpts):
    """name -> (path, marker) for every gadget in every container."""
    root = tmp_path_factory.mktemp("malicious")
    markers = root / "markers"
    markers.mkdir()
    plain_pkl = _zip_member(ckpts.plain)
    legacy_bytes = ckpts.legacy.read_bytes()
    out: dict[str, tuple[Path, Path]] = {}
    names = list(gad.gadgets(markers / "x", _torch_bytes))
    for n, name in enumerate(names):
        marker = markers / f"m{n}"
        ops = gad.gadgets(marker, _torch_bytes)[name]
        files = {
            "pkl": gad.as_pickle(ops, gad.protocol_of(name)),
            "zip": None,
            "legacy-objects": gad.legacy_with(legacy_bytes, 3, ops),
            "legacy-keys": gad.legacy_with(legacy_bytes, 4, ops),
            "legacy-sysinfo": gad.legacy_with(legacy_bytes, 2, ops),
        }
        for kind, data in files.items():
            path = root / f"g{n}-{kind}.pt"
            if kind == "zip":
                gad.replace_data_pkl(ckpts.plain, path, gad.inject(plain_pkl, ops))
            else:
                path.write_bytes(data)
            out[f"{name} [{kind}]"] = (path, marker)
    # distributed checkpoints: a payload in a non-tensor entry, and in .metadata
    import torch.distributed.checkpoint as dcp

    for n in range(2):
        marker = markers / f"dcp{n}"
        folder = root / f"dcp{n}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcp.save({"w": torch.ones(3), "extra": _EvilReduce(marker)}, checkpoint_id=str(folder))
        if n == 1:
            ops = gad.gadgets(marker)["torch.utils.collect_env.run"]
            (folder / ".metadata").write_bytes(gad.as_pickle(ops))
        out[f"dcp {'metadata' if n else 'entry'}"] = (folder, marker)
    return out


def _zip_member(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


# --- running every default path ---------------------------------------------------------
def _default_paths(path: Path, plain: Path, out: Path) -> dict[str, str]:
    """Run each default path on ``path``; return path -> outcome (error class or 'ok')."""
    from mltools.ckpt import (
        convert_checkpoint,
        diff_checkpoints,
        inspect_checkpoint,
        load_checkpoint,
        load_state_dict,
        scan_checkpoint,
    )
    from tests._ckpt_factory import make_model

    calls = {
        "scan": lambda: scan_checkpoint(path).verdict,
        "inspect": lambda: inspect_checkpoint(path),
        "diff": lambda: diff_checkpoints(path, plain),
        "diff --values": lambda: diff_checkpoints(plain, path, values=True),
        "convert pt": lambda: convert_checkpoint(path, out / "o.pt", overwrite=True),
        "convert safetensors": lambda: convert_checkpoint(
            path, out / "o.safetensors", overwrite=True, select=""
        ),
        "load_checkpoint": lambda: load_checkpoint(path, map_location="cpu"),
        "load_state_dict": lambda: load_state_dict(make_model(), path, strict=False),
    }
    outcome = {}
    for what, fn in calls.items():
        try:
            result = fn()
            outcome[what] = result if isinstance(result, str) else "ok"
        except MltoolsError as exc:  # any refusal is fine; running is not
            outcome[what] = type(exc).__name__
        except Exception as exc:  # a crash is not a refusal: the CLI would call it a bug
            outcome[what] = f"CRASH {type(exc).__name__}: {exc}"
    return outcome


def _crashes(outcome: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in outcome.items() if v.startswith("CRASH")}


@pytest.mark.slow
def test_no_default_path_runs_our_gadgets(malicious, ckpts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    safe, ran, loaded, crashed = [], [], [], []
    for name, (path, marker) in malicious.items():
        with _Watch():
            outcome = _default_paths(path, ckpts.plain, tmp_path)
        if _events or marker.exists():
            ran.append(f"{name}: {_events[:2]} marker={marker.exists()}")
        if outcome["scan"] == "safe":
            safe.append(name)
        if outcome["load_checkpoint"] == "ok":
            loaded.append(name)
        if _crashes(outcome):
            crashed.append(f"{name}: {_crashes(outcome)}")
    assert ran == []
    assert safe == []
    assert loaded == []
    assert crashed == []


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.name)
def test_no_default_path_runs_public_samples(path, ckpts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with _Watch():
        outcome = _default_paths(path, ckpts.plain, tmp_path)
    assert _events == []
    assert _crashes(outcome) == {}
    if path.name not in PUBLIC_BENIGN:
        assert outcome["scan"] != "safe", outcome
        assert outcome["load_checkpoint"] != "ok", outcome


def test_scan_names_most_public_samples_dangerous():
    """The denylist only names; still, it should name most public samples (a regression check)."""
    from mltools.ckpt import CheckpointError, scan_checkpoint

    verdicts = {}
    for path in PUBLIC:
        try:
            verdicts[path.name] = scan_checkpoint(path).verdict
        except CheckpointError:
            verdicts[path.name] = "error"
    malicious = {k: v for k, v in verdicts.items() if k not in PUBLIC_BENIGN}
    assert "safe" not in malicious.values()
    # Every malicious sample is named dangerous, except these, each refused unread (not a
    # floor: a sample whose verdict changes either way fails here by name).
    assert {k: v for k, v in malicious.items() if v != "dangerous"} == NOT_NAMED_DANGEROUS
    assert len(malicious) - len(NOT_NAMED_DANGEROUS) == 86


# Zip files damaged on purpose (a bad CRC, flag bits, a broken central directory) that the
# zip reader refuses before any pickle is read, and a pickle the scanner cannot parse.
NOT_NAMED_DANGEROUS = {
    "data2__malicious1_crc.zip": "error",
    "data__malicious1_0x1.zip": "error",
    "data__malicious1_0x20.zip": "error",
    "data__malicious1_0x40.zip": "error",
    "data__malicious1_central_directory.zip": "error",
    "data__malicious1_wrong_ext.zip": "corrupt",
    "data__sys_module_override_sploit.pkl": "corrupt",
}


@pytest.mark.slow
def test_our_gadgets_are_live(malicious, tmp_path):
    """Each bare-pickle gadget really runs under plain pickle (so the corpus proves something)."""
    bare = {n: p for n, (p, _m) in malicious.items() if n.endswith("[pkl]")}
    markers = {n: str(m) for n, (_p, m) in malicious.items() if n.endswith("[pkl]")}
    script = (
        "import json, pickle, sys\n"
        "files = json.loads(sys.argv[1])\n"
        "for name, path in files.items():\n"
        "    try:\n"
        "        pickle.loads(open(path, 'rb').read())\n"
        "    except BaseException:\n"
        "        pass\n"
    )
    payload = json.dumps({n: str(p) for n, p in bare.items()})
    subprocess.run(
        [sys.executable, "-c", script, payload], cwd=tmp_path, timeout=300, capture_output=True
    )
    live = [n for n in bare if Path(markers[n]).exists()]
    for m in markers.values():
        if Path(m).is_dir():
            import shutil

            shutil.rmtree(m)
        elif Path(m).exists():
            Path(m).unlink()
    print(
        f"live gadgets: {len(live)} of {len(bare)}; not live here: {sorted(set(bare) - set(live))}"
    )
    assert sorted(set(bare) - set(live)) == []  # every one: a dead gadget proves nothing
    assert len(bare) >= 25


# --- benign files from real libraries: no false alarm ------------------------------------
@pytest.fixture(scope="module")
def benign(tmp_path_factory, ckpts):
    root = tmp_path_factory.mktemp("benign")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    lightning = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": model.state_dict(),
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.5)}
        },
        "hyper_parameters": {"lr": 1e-3, "layers": [4, 4], "name": "run"},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 3}}}},
    }
    files = {
        "plain": ckpts.plain,
        "legacy": ckpts.legacy,
        "ddp": ckpts.ddp,
        "compiled": ckpts.compiled,
        "safetensors": ckpts.safetensors,
        "sharded": ckpts.sharded_index,
        "bin sharded": ckpts.bin_index,
        "dcp": ckpts.dcp,
        "tied": ckpts.tied,
    }
    torch.save(lightning, root / "lightning.ckpt")
    files["lightning"] = root / "lightning.ckpt"
    torch.save(lightning, root / "lightning_legacy.ckpt", _use_new_zipfile_serialization=False)
    files["lightning legacy"] = root / "lightning_legacy.ckpt"
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    scripted.save(str(root / "scripted.pt"))
    files["torchscript"] = root / "scripted.pt"
    nested = torch.nested.nested_tensor([torch.ones(2, 3), torch.ones(1, 3)], layout=torch.jagged)
    torch.save({"nt": nested, "s": {1, 2}, "sp": torch.eye(3).to_sparse()}, root / "odd.pt")
    files["njt, set, sparse"] = root / "odd.pt"
    return files


def test_benign_files_have_no_false_alarm(benign):
    from mltools.ckpt import inspect_checkpoint, load_checkpoint, scan_checkpoint

    alarms = []
    for name, path in benign.items():
        report = scan_checkpoint(path)
        expected = "unsupported" if name == "torchscript" else "safe"
        if report.verdict != expected or report.dangerous or report.unknown:
            alarms.append(f"{name}: {report.verdict} {report.dangerous} {report.unknown}")
        if name != "torchscript":
            inspect_checkpoint(path)
            load_checkpoint(path, map_location="cpu")
    assert alarms == []


def test_scan_agrees_with_torch_on_benign_files(benign):
    from mltools.ckpt import scan_checkpoint

    for name, path in benign.items():
        if Path(path).is_dir() or str(path).endswith((".json", ".safetensors")):
            continue
        predicted = scan_checkpoint(path).weights_only_loadable
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.load(path, weights_only=True)
            actual = True
        except pickle.UnpicklingError:  # torch's weights-only refusal
            actual = False
        except RuntimeError as exc:  # the refusal of a TorchScript archive; no other failure
            assert "weights_only" in str(exc), (name, exc)
            actual = False
        assert predicted == actual, name
