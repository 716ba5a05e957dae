"""`mltools top` as a command: no driver, --json, --once, option errors, the options that
reach the UI, and start-up that never imports Textual for other commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mltools.errors import ExitCode
from tests import _gpu_fixtures
from tests._fake_nvml import GiB
from tests._gpu_fixtures import fake_cli
from tests.conftest import mltools_env
from tests.test_top import busy_spec

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn


@pytest.mark.parametrize("init_error", ["LibraryNotFound", "DriverNotLoaded"])
def test_no_driver_is_the_same_line_and_exit_3_as_gpu(fake_nvml, cli, init_error):
    fake_nvml({"gpus": [], "init_error": init_error})
    top, gpu_ = cli("top"), cli("gpu")
    assert top.exit_code == gpu_.exit_code == ExitCode.NO_GPU == 3
    assert top.stderr == gpu_.stderr
    assert top.stderr.startswith("mltools: error: no usable NVIDIA driver: ")
    assert len(top.stderr.splitlines()) == 2 and top.stderr.splitlines()[1].startswith("hint: ")
    assert top.stdout == ""


def test_no_driver_in_a_real_subprocess():
    result = fake_cli({"gpus": [], "init_error": "DriverNotLoaded"}, "top")
    assert result.returncode == 3
    assert result.stderr.startswith("mltools: error: no usable NVIDIA driver")
    assert "Traceback" not in result.stderr


def test_json_one_sample_with_processes_ranks_and_host(fake_nvml, cli, spawn):
    rank = spawn(sys.executable, "-c", "import time; time.sleep(300)",
                 env={"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "SLURM_JOB_ID": "77"})  # fmt: skip
    other = spawn()
    fake_nvml(busy_spec(rank.pid, other.pid))
    result = cli("top", "--json", "--idle-after", "0")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["snapshot"]["gpus"][0]["utilization_gpu_percent"] == 55
    assert isinstance(doc["host"]["memory_total_bytes"], int)
    procs = {p["pid"]: p for p in doc["processes"]}
    assert procs[rank.pid]["ddp_rank"] == "1/2 L1" and procs[rank.pid]["owner"] == "slurm:77"
    assert procs[rank.pid]["gpu_memory_bytes"] == 20 * GiB and procs[rank.pid]["gpu"] == "0"
    assert procs[other.pid]["ddp_rank"] is None
    assert procs[other.pid]["idle_holding"] is False  # GPU 0 is busy (55%)
    assert [p["pid"] for p in doc["processes"]] == [rank.pid, other.pid]  # GPU memory, descending


def test_idle_after_flags_memory_on_an_idle_gpu(fake_nvml, cli, spawn):
    child = spawn()
    spec = busy_spec(child.pid)
    spec["gpus"][0]["util_gpu"] = 0
    fake_nvml(spec)
    doc = json.loads(cli("top", "--json", "--idle-after", "0").stdout)
    assert doc["processes"][0]["idle_holding"] is True
    doc = json.loads(cli("top", "--json", "--idle-after", "60").stdout)  # not idle long enough
    assert doc["processes"][0]["idle_holding"] is False


def test_gpus_sort_and_once(fake_nvml, cli, spawn):
    a, b = spawn(), spawn()
    spec = busy_spec(a.pid, b.pid, n=3)
    fake_nvml(spec)
    doc = json.loads(cli("top", "--json", "--gpus", "1,2").stdout)
    assert [g["index"] for g in doc["snapshot"]["gpus"]] == [1, 2] and doc["processes"] == []
    doc = json.loads(cli("top", "--json", "--sort", "pid").stdout)
    assert [p["pid"] for p in doc["processes"]] == sorted([a.pid, b.pid])
    result = cli("top", "--once")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(s.startswith(" 0 A100-SXM4-80GB") for s in lines)
    header = next(s for s in lines if s.startswith("PID"))
    assert header.split()[:4] == ["PID", "USER", "GPU", "GPU-MEM"]
    rows = [s for s in lines[lines.index(header) + 1 :] if s.strip()]
    assert [int(s.split()[0]) for s in rows] == [a.pid, b.pid]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--gpus", "0,x"], ["--gpus", "GPU indices"]),
        (["--filter", "pid:abc"], ["--filter", "pid must be a number"]),
        (["--filter", "(("], ["--filter", "bad regular expression"]),
        (["--interval", "0"], ["--interval", "0.1"]),
        (["--idle-after", "-1"], ["--idle-after"]),
        (["--layout", "tiny"], ["--layout", "tiny"]),
        (["--sort", "size"], ["--sort", "size"]),
        (["--hosts", "a,-oProxyCommand=x"], ["not a host name", "-oProxyCommand=x"]),
        (["--hosts", " , "], ["--hosts needs at least one host name"]),
        (["--host-timeout", "0"], ["--host-timeout"]),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(fake_nvml, cli, args, words):
    fake_nvml(busy_spec())
    result = cli("top", *args)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    for word in words:
        assert word in result.stderr


def test_options_reach_the_interactive_app(fake_nvml, cli, spawn, monkeypatch, tmp_path):
    """On a terminal, each option is handed to the app (whose effects test_top.py checks)."""
    from mltools.cli import top as top_cli
    from mltools.tui import app as tui_app

    child = spawn()
    fake_nvml(busy_spec(child.pid))
    seen = []
    # the stand-in for run() closes the source as run() does: an NVML session left open
    # here was counted by the next test that counts them (test_sampler: 4 == 1)
    monkeypatch.setattr(
        tui_app.TopApp, "run", lambda self: (seen.append(self), self.source.close())
    )
    monkeypatch.setattr(top_cli, "_interactive", lambda: True)
    (tmp_path / "ssh_config").write_text("Host *\n")
    result = cli(
        "top", "--interval", "0.25", "--layout", "compact", "--gpu-only", "--readonly",
        "--filter", "gpu:0", "--sort", "cpu", "--idle-after", "5", "--hosts", "n1,n2",
        "--host-timeout", "7", "--ssh-config", str(tmp_path / "ssh_config"),
        "--remote-mltools", "/opt/mltools",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (app,) = seen
    assert (app.interval, app.layout_mode, app.show_host, app.readonly) == (
        0.25,
        "compact",
        False,
        True,
    )
    assert (app.row_filter.gpus, app.sort_column, app.idle_after) == ([0], "cpu", 5.0)
    assert app.source.hosts == ["n1", "n2"]
    assert app.source._ssh == {  # what the cluster view (key c) hands to gpu --hosts' layer
        "timeout": 7.0, "ssh_config": str(tmp_path / "ssh_config"), "remote_command": "/opt/mltools"
    }  # fmt: skip
    seen.clear()
    cli("top")
    (app,) = seen
    assert (app.interval, app.layout_mode, app.show_host, app.readonly) == (
        1.0,
        "auto",
        True,
        False,
    )
    assert app.color is True
    seen.clear()
    cli("top", env={"TERM": "dumb"})
    assert seen[0].color is False


@pytest.mark.parametrize(
    "argv", [["--help"], ["gpu", "--help"], ["gpu", "--json"], ["top", "--help"]]
)
def test_textual_is_imported_only_by_the_interactive_top(argv):
    code = (
        "import sys; from mltools.cli.app import main; sys.argv = ['mltools', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TEXTUAL' if 'textual' in sys.modules else 'CLEAN', file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=mltools_env(),
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == "CLEAN"
