"""A malicious pickle (its reduce calls os.system) is refused on every path, and nothing runs."""

from __future__ import annotations

import warnings

import pytest

from mltools.ckpt import UnsafePickleError, load_checkpoint
from mltools.ckpt.unpickler import DANGEROUS, NEEDS_ALLOWLIST, classify_global, pickle_globals
from mltools.errors import ExitCode

pytest_plugins = ("tests._ckpt_factory",)


EVIL = ["evil_zip", "evil_legacy", "evil_pickle", "evil_dotted"]


def _refused(result, marker):
    assert result.exit_code == ExitCode.ERROR, (result.stdout, result.stderr)
    assert "system" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("attr", EVIL)
def test_cli_paths_refuse_and_never_execute(cli, ckpts, attr, tmp_path):
    evil = str(getattr(ckpts, attr))
    _refused(cli("ckpt", "inspect", evil), ckpts.marker)
    _refused(cli("ckpt", "inspect", evil, "--json"), ckpts.marker)
    _refused(cli("ckpt", "scan", evil), ckpts.marker)
    _refused(cli("ckpt", "diff", evil, str(ckpts.plain)), ckpts.marker)
    _refused(cli("ckpt", "diff", str(ckpts.plain), evil, "--values"), ckpts.marker)
    out = tmp_path / "out.pt"
    _refused(cli("ckpt", "convert", evil, str(out)), ckpts.marker)
    _refused(cli("ckpt", "convert", evil, str(out), "--unsafe", "--select", "w"), ckpts.marker)
    _refused(cli("ckpt", "convert", evil, str(tmp_path / "o.safetensors")), ckpts.marker)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


@pytest.mark.parametrize("attr", EVIL)
@pytest.mark.parametrize("weights_only", [True, False])
def test_load_checkpoint_refuses(ckpts, attr, weights_only):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsafePickleError) as info:
            load_checkpoint(getattr(ckpts, attr), map_location="cpu", weights_only=weights_only)
    assert info.value.global_name in ("posix.system", "pathlib.os.system")
    assert not ckpts.marker.exists()


def test_load_state_dict_refuses(ckpts):
    from mltools.ckpt import load_state_dict
    from tests._ckpt_factory import make_model

    with pytest.raises(UnsafePickleError):
        load_state_dict(make_model(), ckpts.evil_zip)
    assert not ckpts.marker.exists()


def test_scan_json_names_the_global(cli, ckpts):
    import json

    result = cli("ckpt", "scan", str(ckpts.evil_zip), "--json")
    assert result.exit_code == ExitCode.ERROR
    data = json.loads(result.stdout)
    assert data["verdict"] == "dangerous"
    assert data["dangerous"] == ["posix.system"]
    assert data["weights_only_loadable"] is False
    assert not ckpts.marker.exists()


def test_stack_global_names_are_followed_by_the_vm(tmp_path):
    import pickle

    from mltools.ckpt import scan_checkpoint

    class Gadget:
        def __reduce__(self):
            import subprocess

            return (subprocess.call, (["true"],))

    # pickletools alone cannot know a STACK_GLOBAL's names: never vouched for
    assert pickle_globals(pickle.dumps(Gadget(), protocol=4)) == ["<unknown STACK_GLOBAL>"]
    for protocol in range(6):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"x": Gadget()}, protocol=protocol))
        report = scan_checkpoint(path)
        assert report.dangerous == ["subprocess.call"], protocol
        assert report.verdict == DANGEROUS
    old = pickle_globals(pickle.dumps(Gadget(), protocol=2))
    assert [classify_global(n) for n in old] == [DANGEROUS]


@pytest.mark.parametrize(
    "name, category",
    [
        ("posix.system", DANGEROUS),
        ("os.system", DANGEROUS),
        ("subprocess.Popen", DANGEROUS),
        ("builtins.eval", DANGEROUS),
        ("builtins.getattr", DANGEROUS),
        ("torch.jit._script.RecursiveScriptModule", DANGEROUS),
        ("pathlib.os.system", DANGEROUS),
        ("torch.os.system", DANGEROUS),
        ("collections.os.popen", DANGEROUS),
        ("argparse.Namespace.__init__", DANGEROUS),
        ("types.FunctionType", DANGEROUS),
        ("types.SimpleNamespace", NEEDS_ALLOWLIST),
        ("functools.partial", NEEDS_ALLOWLIST),
        ("cProfile.run", DANGEROUS),
        ("torch.utils.collect_env.run", DANGEROUS),
        ("torch.storage._load_from_bytes", DANGEROUS),
        ("builtins.set", "allowed"),
        ("torch.float4_e2m1fn_x2", "allowed"),
        ("torch.nested._internal.nested_tensor._rebuild_njt", "allowed"),
        ("pathlib.PosixPath", NEEDS_ALLOWLIST),
        ("argparse.Namespace", NEEDS_ALLOWLIST),
        ("numpy.core.multiarray._reconstruct", NEEDS_ALLOWLIST),
        ("torch._utils._rebuild_tensor_v2", "allowed"),
        ("torch.BFloat16Storage", "allowed"),
        ("torch.float8_e4m3fn", "allowed"),
        ("collections.OrderedDict", "allowed"),
    ],
)
def test_classification(name, category):
    assert classify_global(name) == category
