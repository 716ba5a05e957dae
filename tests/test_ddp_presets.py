"""`ddp-doctor env`: presets, names per torch version, formats, completion."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mltools.ddp import presets
from mltools.ddp.presets import PresetError, render, resolve, resolve_all
from mltools.errors import ExitCode
from tests.conftest import mltools_env, usage_error

REQUIRED = {
    "nccl-debug",
    "hang",
    "p2p-off",
    "ib-off",
    "shm-off",
    "ifname",
    "cuda-sync",
    "fail-fast",
}


def test_preset_names_are_cheap_and_complete():
    code = (
        "import sys; from mltools.ddp.presets import preset_names; print(','.join(preset_names()));"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    names, torch_loaded = out.stdout.split()
    assert set(names.split(",")) == REQUIRED
    assert torch_loaded == "False"


def test_names_follow_the_torch_version():
    new = resolve("hang", version=(2, 13)).variables
    assert new["TORCH_FR_BUFFER_SIZE"] == "2000"
    assert new["TORCH_FR_DUMP_TEMP_FILE"]
    assert new["TORCH_NCCL_DESYNC_DEBUG"] == "1"
    assert new["TORCH_NCCL_DUMP_ON_TIMEOUT"] == "1"
    assert new["TORCH_DISTRIBUTED_DEBUG"] == "INFO"
    mid = resolve("hang", version=(2, 4)).variables
    assert "TORCH_NCCL_TRACE_BUFFER_SIZE" in mid and "TORCH_FR_BUFFER_SIZE" not in mid
    old = resolve("hang", version=(2, 1)).variables
    assert "NCCL_DESYNC_DEBUG" in old
    assert resolve("fail-fast", version=(2, 1)).variables == {"NCCL_ASYNC_ERROR_HANDLING": "1"}
    assert resolve("fail-fast", version=(2, 5)).variables == {
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"
    }


def test_installed_torch_version_from_metadata():
    import torch

    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    assert presets.torch_version() == (major, minor)


def test_each_preset_sets_what_it_says():
    assert resolve("nccl-debug=/tmp/n").variables == {
        "NCCL_DEBUG": "INFO",
        "NCCL_DEBUG_SUBSYS": "ALL",
        "NCCL_DEBUG_FILE": "/tmp/n/nccl.%h.%p.log",
    }
    assert resolve("p2p-off").variables == {"NCCL_P2P_DISABLE": "1"}
    assert resolve("ib-off").variables == {"NCCL_IB_DISABLE": "1"}
    assert resolve("shm-off").variables == {"NCCL_SHM_DISABLE": "1"}
    assert resolve("cuda-sync").variables == {"CUDA_LAUNCH_BLOCKING": "1"}
    assert resolve("ifname=eth7").variables == {
        "NCCL_SOCKET_IFNAME": "=eth7",
        "GLOO_SOCKET_IFNAME": "eth7",
    }


def test_ifname_autodetects_the_route_to_master_addr():
    variables = resolve("ifname", env={"MASTER_ADDR": "127.0.0.1"}).variables
    assert variables["GLOO_SOCKET_IFNAME"] == "lo"
    with pytest.raises(PresetError, match="MASTER_ADDR"):
        resolve("ifname", env={})


def test_bad_presets():
    with pytest.raises(PresetError, match="unknown preset"):
        resolve("nope")
    with pytest.raises(PresetError, match="takes no argument"):
        resolve("p2p-off=1")


def test_render_formats():
    variables = {"A": "1", "B": "x y"}
    assert render(variables, "sh") == "export A=1\nexport B='x y'\n"
    assert render(variables, "fish") == "set -gx A 1\nset -gx B 'x y'\n"
    assert render(variables, "dotenv") == 'A=1\nB="x y"\n'
    assert json.loads(render(variables, "json")) == variables
    with pytest.raises(PresetError):
        render(variables, "xml")


def test_later_presets_win():
    merged = resolve_all(["ifname=a", "ifname=b"])
    assert merged["GLOO_SOCKET_IFNAME"] == "b"


def test_cli_env_sh_output_is_sourceable(cli, tmp_path):
    result = cli("ddp-doctor", "env", "nccl-debug", "p2p-off")
    assert result.exit_code == 0
    script = tmp_path / "env.sh"
    script.write_text(result.stdout + 'echo "$NCCL_DEBUG $NCCL_P2P_DISABLE"\n')
    out = subprocess.run(["sh", str(script)], capture_output=True, text=True)
    assert out.stdout.strip() == "INFO 1"


def test_cli_env_json_and_list(cli):
    result = cli("ddp-doctor", "env", "--json", "cuda-sync")
    assert json.loads(result.stdout) == {"CUDA_LAUNCH_BLOCKING": "1"}
    result = cli("ddp-doctor", "env", "-f", "dotenv", "shm-off")
    assert result.stdout == "NCCL_SHM_DISABLE=1\n"
    result = cli("ddp-doctor", "env", "--list", "--json")
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1
    listed = doc["presets"]
    assert {p["name"] for p in listed} == REQUIRED
    assert all(p["description"] for p in listed)
    result = cli("ddp-doctor", "env", "--list")
    assert "fail-fast" in result.stdout


def test_cli_env_errors(cli):
    result = cli("ddp-doctor", "env", "bogus")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("mltools: error: unknown preset: 'bogus'")
    assert "hint: known presets" in result.stderr
    usage_error(cli("ddp-doctor", "env"), "name at least one preset")
    xml = cli("ddp-doctor", "env", "-f", "xml", "hang")
    usage_error(xml, "unknown format: 'xml'", "use one of: sh, fish, dotenv, json")
    usage_error(cli("ddp-doctor", "env", "--", "-x"), "unknown preset: '-x'")


def test_completion_offers_preset_names():
    from mltools.cli.ddp_doctor import _complete_preset

    assert _complete_preset("") == presets.preset_names()
    assert _complete_preset("i") == ["ib-off", "ifname"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("mltools ddp-doctor env s", ["shm-off"]),
        ("mltools ddp-doctor run --preset i", ["ib-off", "ifname"]),
    ],
)
def test_shell_completion_end_to_end(words, expected):
    # the root app is built with add_completion=False; register Typer's shells as the
    # generated completion scripts do, then ask like bash would
    env = mltools_env(
        {
            "_MLTOOLS_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
    )
    code = "import typer._completion_classes as c; c.completion_init(); from mltools.cli.app import main; main()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == expected
