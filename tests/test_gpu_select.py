"""`gpu pick` / `select_gpus` and `gpu run`: thresholds, topology, PCI bus order, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mltools.errors import ExitCode, UnavailableError, UsageError
from mltools.gpu import select_gpus
from mltools.units import parse_size
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests._gpu_fixtures import FAKE_RUN, fake_cli
from tests._nvml_double import write_spec
from tests.conftest import mltools_env, read_line, usage_error

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn

PIX, SYS, NODE = 10, 50, 40


def eight_gpus(overrides: dict[int, dict] | None = None) -> list[dict]:
    return [gpu(i, **(overrides or {}).get(i, {})) for i in range(8)]


def test_parse_size():
    assert parse_size("24GiB") == 24 * GiB
    assert parse_size("24G") == 24 * GiB
    assert parse_size("512mib") == 512 * 1024**2
    assert parse_size("1.5g") == int(1.5 * GiB)
    assert parse_size("1000") == 1000
    for bad in ("", "lots", "-1G", "5 X"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_single_gpu_prefers_most_free_memory(fake_nvml):
    fake_nvml({"gpus": [gpu(0, mem_used=40 * GiB), gpu(1), gpu(2, mem_used=GiB)]})
    sel = select_gpus(1)
    assert sel.indices == [1]
    assert sel.env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    assert sel.uuids == ["GPU-00000001-1111-2222-3333-444455556666"]


def test_thresholds_and_reasons(fake_nvml, spawn):
    other = None
    if os.geteuid() == 0:  # a process of another user: nobody, once setpriv has dropped root
        other = spawn(
            "setpriv", "--reuid=65534", "sh", "-c", "echo ready; exec sleep 300",
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert read_line(other.stdout) == "ready\n"  # the shell runs as nobody by now
    procs = [{"pid": other.pid, "mem": GiB}] if other else [{"pid": 4_000_000, "mem": GiB}]
    fake_nvml(
        {
            "gpus": [
                gpu(0, util_gpu=50),
                gpu(1, mem_used=79 * GiB),
                gpu(2, mem_used=GiB, compute=procs),
                gpu(3, lost=True),
                gpu(4, mig=[1, 1]),
                gpu(5),
                gpu(6, compute_mode=2),
            ]
        }
    )
    sel = select_gpus(1, min_free_memory_bytes=10 * GiB, max_utilization_percent=10)
    assert sel.indices == [5]
    reasons = {c.index: c.reasons for c in sel.candidates}
    assert reasons[0] == ["utilization 50% > 10%"]
    assert reasons[1] == ["not enough free memory"]
    assert reasons[2] == ["1 process(es) of other users or not visible here"]
    assert reasons[3][0].startswith("GPU has fallen off the bus")
    assert reasons[4] == ["MIG mode is on (pick a MIG instance by UUID instead)"]
    assert reasons[6] == ["compute mode is Prohibited"]
    with pytest.raises(UnavailableError) as info:
        select_gpus(2, min_free_memory_bytes=10 * GiB)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert info.value.message.startswith("1 of 7 GPUs qualify, 2 needed (GPU 0: utilization")


def test_own_processes_allowed_unless_exclusive(fake_nvml, spawn):
    mine = spawn()
    fake_nvml({"gpus": [gpu(0, mem_used=GiB, compute=[{"pid": mine.pid, "mem": GiB}])]})
    assert select_gpus(1).indices == [0]
    with pytest.raises(UnavailableError):
        select_gpus(1, exclusive=True)


def test_topology_aware_pair(fake_nvml):
    """GPUs 1 and 6 share an NVLink; the pair beats two PCIe neighbours with more free memory."""
    gpus = eight_gpus(
        {
            1: {"mem_used": 2 * GiB, "nvlink": {"0": "00000000:70:00.0", "1": "00000000:70:00.0"}},
            6: {"mem_used": 2 * GiB, "nvlink": {"0": "00000000:20:00.0", "1": "00000000:20:00.0"}},
        }
    )
    fake_nvml({"gpus": gpus, "ancestors": {"0,2": PIX, "3,4": PIX}})
    assert select_gpus(2).indices == [1, 6]
    # without NVLink, the same-switch pair with the most free memory wins
    fake_nvml({"gpus": eight_gpus(), "ancestors": {"0,2": PIX, "3,4": PIX, "5,7": NODE}})
    assert select_gpus(2).indices == [0, 2]
    assert select_gpus(4).indices == [0, 2, 3, 4]


def test_indices_in_pci_bus_order(fake_nvml):
    """NVML index 0 sits on a later bus than index 1: output follows the bus."""
    fake_nvml(
        {
            "gpus": [gpu(0, bus_id="00000000:B1:00.0"), gpu(1, bus_id="00000000:1A:00.0")],
            "ancestors": {"0,1": PIX},
        }
    )
    assert select_gpus(2).indices == [1, 0]


def test_nvswitch_counts_as_nvlink(fake_nvml):
    switch = {str(link): "switch" for link in range(4)}
    gpus = eight_gpus({2: {"nvlink": switch}, 5: {"nvlink": switch}})
    fake_nvml({"gpus": gpus, "ancestors": {"0,1": PIX}})
    assert select_gpus(2).indices == [2, 5]


def test_pick_cli_formats(fake_nvml, cli):
    fake_nvml({"gpus": [gpu(0, util_gpu=90), gpu(1), gpu(2)], "ancestors": {"1,2": PIX}})
    result = cli("gpu", "pick", "-n", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "CUDA_DEVICE_ORDER=PCI_BUS_ID\nCUDA_VISIBLE_DEVICES=1,2\n"
    result = cli("gpu", "pick", "-n", "2", "--format", "csv")
    assert result.stdout == "1,2\n"
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in result.stderr
    result = cli("gpu", "pick", "--json")
    doc = json.loads(result.stdout)
    assert doc["cuda_device_order"] == "PCI_BUS_ID"
    assert doc["indices"] == [1] and doc["cuda_visible_devices"] == "1"
    assert doc["candidates"][0]["reasons"] == ["utilization 90% > 10%"]


def test_pick_cli_errors(fake_nvml, cli):
    fake_nvml({"gpus": [gpu(0, util_gpu=90), gpu(1)]})
    result = cli("gpu", "pick", "-n", "2")
    assert result.exit_code == ExitCode.UNAVAILABLE
    # the env format's failure word: `export $(...)` and `eval "$(...)"` fail on it
    assert result.stdout == "mltools-gpu-pick-failed\n"
    assert result.stderr.splitlines()[0].startswith("mltools: error: 1 of 2 GPUs qualify, 2 needed")
    result = cli("gpu", "pick", "--min-free-mem", "lots")
    assert result.exit_code == ExitCode.USAGE
    usage_error(result, "Invalid value for '--min-free-mem': not a size: 'lots'")
    result = cli("gpu", "pick", "--format", "yaml")
    usage_error(result, "unknown --format 'yaml'; use env, csv or json")
    result = cli("gpu", "pick", "-n", "0")
    usage_error(result, "Invalid value for '-n' / '--count'", "0 is not in the range 1<=x")
    result = cli("gpu", "pick", "--max-util", "-5")
    usage_error(result, "Invalid value for '--max-util'", "-5.0 is not in the range 0<=x<=100")


def test_run_execs_with_env_and_passes_exit_code():
    code = "import os,sys; print(os.environ['CUDA_DEVICE_ORDER'], os.environ['CUDA_VISIBLE_DEVICES'], os.getpid()); sys.exit(7)"
    spec = {"gpus": [gpu(0, util_gpu=99), gpu(1)]}
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps(spec)})
    proc = subprocess.Popen(
        [sys.executable, FAKE_RUN, "gpu", "run", "--", sys.executable, "-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7, err
    order, visible, pid = out.split()
    assert (order, visible) == ("PCI_BUS_ID", "1")
    assert int(pid) == proc.pid  # exec'd in place, not a child
    assert "running on GPU(s) 1" in err


def test_run_command_args_that_look_like_options():
    spec = {"gpus": [gpu(0)]}
    result = fake_cli(spec, "gpu", "run", "-n", "1", "--", "echo", "-n", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "--json"  # echo got -n and --json, not mltools


def test_run_without_free_gpus_and_bad_command():
    spec = {"gpus": [gpu(0, util_gpu=99)]}
    result = fake_cli(spec, "gpu", "run", "--", "true")
    assert result.returncode == ExitCode.UNAVAILABLE
    result = fake_cli(
        spec, "gpu", "run", "--wait", "--timeout", "0.5", "--poll", "0.2", "--", "true"
    )
    assert result.returncode == ExitCode.UNAVAILABLE
    assert "timed out after" in result.stderr
    assert "waiting for 1 free GPU(s)" in result.stderr
    # a timeout no longer than the poll interval still waits (it gave up after 0 s)
    result = fake_cli(spec, "gpu", "run", "--wait", "--timeout", "1", "--poll", "5", "--", "true")
    assert result.returncode == ExitCode.UNAVAILABLE
    assert "mltools: error: timed out after 1 s waiting for 1 free GPU(s)" in result.stderr
    result = fake_cli({"gpus": [gpu(0)]}, "gpu", "run", "--", "no-such-command-xyz")
    assert result.returncode == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: command not found: no-such-command-xyz")


def test_run_waits_until_a_gpu_frees_up(tmp_path):
    spec_file = tmp_path / "gpus.txt"  # the C double re-reads it at every nvmlInit
    write_spec(spec_file, {"gpus": [gpu(0, util_gpu=95)]})
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps({"spec_file": str(spec_file)})})
    proc = subprocess.Popen(
        [sys.executable, FAKE_RUN, "gpu", "run", "--wait", "--poll", "0.2", "--timeout", "60",
         "--", sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        first = read_line(proc.stderr)
        assert first.startswith("waiting for 1 free GPU(s)")
        # write_spec replaces the file in one step: never read truncated or half-written
        write_spec(spec_file, {"gpus": [gpu(0, util_gpu=0)]})
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "0\n"


class _Clock:
    """A fake monotonic clock that sleeping advances (no real waiting in the test)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("timeout", "poll"), [(5.0, 5.0), (0.6, 5.0), (12.0, 5.0)])
def test_wait_uses_the_whole_timeout_whatever_the_poll(fake_nvml, monkeypatch, timeout, poll):
    """`gpu run --wait --timeout 5` used to give up after 0 s with the default 5 s poll."""
    from mltools.gpu import select as select_mod

    fake_nvml({"gpus": [gpu(0, util_gpu=99)]})
    clock = _Clock()
    monkeypatch.setattr(select_mod.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(select_mod.time, "sleep", clock.sleep)
    seen: list[float] = []
    with pytest.raises(UnavailableError, match=r"timed out after \d+ s waiting for 1 free GPU"):
        select_mod.wait_for_gpus(
            1, timeout=timeout, poll=poll, on_wait=lambda waited, why: seen.append(waited)
        )
    assert sum(clock.sleeps) == pytest.approx(timeout)  # waited the whole timeout ...
    assert max(clock.sleeps) <= poll  # ... in steps no longer than the poll
    assert len(seen) == len(clock.sleeps) >= 1  # a status line before every pause


def test_wait_returns_as_soon_as_a_gpu_qualifies(fake_nvml, monkeypatch):
    from mltools.gpu import select as select_mod

    fake_nvml({"gpus": [gpu(0, util_gpu=0)]})
    monkeypatch.setattr(select_mod.time, "sleep", lambda s: pytest.fail("slept"))
    assert select_mod.wait_for_gpus(1, timeout=0).indices == [0]
