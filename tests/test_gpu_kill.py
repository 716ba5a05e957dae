"""`gpu kill`: preview, --yes, SIGTERM then SIGKILL, never ourselves or our parents."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil

from mltools.errors import ExitCode
from mltools.gpu.kill import KillResult
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests.conftest import read_line, usage_error

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn

STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(300)\n"
)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def spec_with(*gpu_pids: list[int]) -> dict:
    return {
        "gpus": [
            gpu(i, mem_used=GiB * len(pids), compute=[{"pid": p, "mem": GiB} for p in pids])
            for i, pids in enumerate(gpu_pids)
        ]
    }


def test_preview_only_without_yes(fake_nvml, cli, spawn):
    child = spawn()
    fake_nvml(spec_with([child.pid]))
    result = cli("gpu", "kill", "--gpu", "0")
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["GPU", "PID", "USER", "GPU-MEM", "COMMAND", "NOTE"]
    assert row.split()[:2] == ["0", str(child.pid)]
    assert "sleep 300" in row
    assert "re-run with --yes" in result.stderr
    assert child.poll() is None


def test_yes_terminates_only_the_chosen_gpu(fake_nvml, cli, spawn):
    a, b = spawn(), spawn()
    fake_nvml(spec_with([a.pid], [b.pid]))
    result = cli("gpu", "kill", "--gpu", "1", "--yes", "--grace", "5")
    assert result.exit_code == 0, result.stderr
    assert f"{b.pid}  terminated" in result.stdout
    assert gone(b.pid)
    assert a.poll() is None


def test_sigkill_after_grace(fake_nvml, cli, spawn):
    stubborn = spawn(sys.executable, "-c", STUBBORN, stdout=subprocess.PIPE, text=True)
    assert read_line(stubborn.stdout) == "ready\n"
    fake_nvml(spec_with([stubborn.pid]))
    result = cli("gpu", "kill", "--gpu", "0", "--yes", "--grace", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is False
    assert doc["results"] == [{"pid": stubborn.pid, "outcome": "killed", "error": None}]
    assert gone(stubborn.pid)


def test_never_ourselves_or_our_parents(fake_nvml, cli):
    me = os.getpid()
    parent = os.getppid()
    fake_nvml(spec_with([me, parent]))
    result = cli("gpu", "kill", "--gpu", "0", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["results"] == [] and doc["dry_run"] is True
    assert {t["pid"]: t["skip_reason"] for t in doc["targets"]} == {
        me: "this mltools process or one of its parents",
        parent: "this mltools process or one of its parents",
    }


def test_user_filter_and_invisible_pids(fake_nvml, cli, spawn):
    child = spawn()
    fake_nvml(spec_with([child.pid, 4_000_000]))
    result = cli("gpu", "kill", "--user", "nobody-at-all", "--yes")
    assert result.exit_code == 0
    assert "no matching GPU processes" in result.stderr
    assert child.poll() is None
    result = cli("gpu", "kill", "--gpu", "0", "--json")
    doc = json.loads(result.stdout)
    notes = {t["pid"]: t["skip_reason"] for t in doc["targets"]}
    assert notes == {child.pid: None, 4_000_000: "not visible in this PID namespace"}


def test_permission_denied_is_partial_failure(fake_nvml, cli, spawn, monkeypatch):
    child = spawn()
    fake_nvml(spec_with([child.pid]))

    def deny(self):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "terminate", deny)
    result = cli("gpu", "kill", "--gpu", "0", "--yes")
    assert result.exit_code == ExitCode.PARTIAL
    assert f"{child.pid}  failed (permission denied)" in result.stdout
    assert result.stderr.startswith("mltools: error: 1 of 1 processes could not be stopped")
    assert child.poll() is None


def test_bad_arguments(fake_nvml, cli):
    fake_nvml(spec_with([], []))
    result = cli("gpu", "kill")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("mltools: error: say which processes")
    result = cli("gpu", "kill", "--gpu", "7")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("mltools: error: no GPU 7 here (GPUs: 0, 1)")
    result = cli("gpu", "kill", "--gpu", "-x")
    usage_error(result, "Invalid value for '--gpu'", "'-x' is not a valid int")
    result = cli("gpu", "kill", "--gpu", "0", "--grace", "-1")
    usage_error(result, "Invalid value for '--grace'", "-1.0 is not in the range 0<=x")


def test_pid_reused_after_preview_is_not_signalled(fake_nvml, spawn):
    from mltools.gpu import snapshot
    from mltools.gpu.kill import find_targets, terminate

    child = spawn()
    fake_nvml(spec_with([child.pid]))
    (target,) = find_targets(snapshot(cpu_interval=0), gpus=[0])
    target.create_time -= 100  # as if the preview had seen an older process with this pid
    assert terminate([target], grace=0.1) == [
        KillResult(child.pid, "gone", "pid reused since the preview")
    ]
    assert child.poll() is None
