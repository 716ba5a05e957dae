"""`mltools gpu` snapshot: golden table, JSON schema, CSV, no driver, watch, startup weight."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time

import pytest

from mltools.errors import ExitCode
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, MiB, gpu
from tests._gpu_fixtures import FAKE_RUN
from tests.conftest import mltools_env, read_line, usage_error

fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn

GOLDEN_GPUS = """\
GPU  NAME                     BUS      TEMP  FAN      POWER  UTIL SM/MEM        MEMORY  CLOCKS SM/MEM  PERF  THROTTLE    ECC  PERSIST  COMPUTE     MIG
  0  A100-SXM4-80GB           10:00.0   30C   0%   60/400 W       97%/0%  6.0/80.0 GiB   210/1593 MHz  P0    SwPowerCap    0  on       Default     off
  1  ERROR                    n/a
  2  A100-SXM4-80GB           30:00.0   32C  n/a  n/a/400 W      n/a/n/a  1.0/80.0 GiB   210/1593 MHz  P0    -           n/a  on       Prohibited  on
2:0    MIG 1g.10gb GI 1/CI 0                                              1.0/10.0 GiB
ERROR GPU 1: GPU has fallen off the bus (NVML: GPU is lost)

GPU      PID  USER  GPU-MEM   SM  CPU  HOST-RSS  TIME  OWNER  COMMAND
0    4000000  ?     4.0 GiB  n/a  n/a       n/a   n/a  -      (not visible: another PID namespace)
0          -  -     6.0 GiB                                   ghost memory: 4.0 GiB by pids not visible here, 2.0 GiB by no listed process (leaked context?)
2          -  -     1.0 GiB                                   ghost memory: 1.0 GiB by no listed process (leaked context?)
"""


def golden_spec() -> dict:
    mig = [{"name": "MIG 1g.10gb", "uuid": "MIG-0001", "gi": 1, "ci": 0,
            "mem_total": 10 * GiB, "mem_used": GiB}]  # fmt: skip
    return {
        "gpus": [
            gpu(0, util_gpu=97, throttle=0x4, mem_used=6 * GiB,
                compute=[{"pid": 4_000_000, "mem": 4 * GiB}]),
            gpu(1, lost=True),
            gpu(2, not_supported=["fan", "power", "ecc"], mig=[1, 1], mig_devices=mig,
                mem_used=GiB, compute_mode=2),
        ]
    }  # fmt: skip


def test_golden_table(fake_nvml, cli):
    fake_nvml(golden_spec())
    result = cli("gpu")
    assert result.exit_code == ExitCode.PARTIAL  # the whole report, then exit 6 for GPU 1
    assert result.stderr.splitlines()[0] == (
        "mltools: error: 1 of 3 GPUs could not be read: "
        "GPU 1 (GPU has fallen off the bus (NVML: GPU is lost))"
    )
    title, body = result.stdout.split("\n", 1)
    assert re.fullmatch(r"\S+  driver 550\.54\.15  CUDA 12\.4  \d{4}-\d\d-\d\dT\S+", title)
    assert body == GOLDEN_GPUS


def test_healthy_gpus_exit_zero_with_nothing_on_stderr(fake_nvml, cli):
    fake_nvml({"gpus": [gpu(0), gpu(1, mem_used=GiB)]})
    result = cli("gpu")
    assert (result.exit_code, result.stderr) == (0, "")
    assert "ERROR" not in result.stdout


def test_json_schema(fake_nvml, cli, spawn):
    child = spawn(env={"SLURM_JOB_ID": "31"})
    spec = golden_spec()
    spec["gpus"][0]["compute"].append({"pid": child.pid, "mem": GiB})
    fake_nvml(spec)
    result = cli("gpu", "--json")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["error"] is None
    assert isinstance(doc["host"], str) and doc["driver_version"] == "550.54.15"
    g0, g1, g2 = doc["gpus"]
    required = {"index": int, "name": str, "uuid": str, "memory_used_bytes": int,
                "memory_total_bytes": int, "utilization_gpu_percent": int, "processes": list}  # fmt: skip
    for key, kind in required.items():
        assert isinstance(g0[key], kind), key
    assert g0["memory_used_bytes"] == 6 * GiB and g0["ghost_memory_bytes"] == 5 * GiB
    assert g0["throttle_reasons"] == ["sw_power_cap"]
    mine = next(p for p in g0["processes"] if p["pid"] == child.pid)
    assert mine["visible"] is True and mine["slurm_job_id"] == "31"
    assert mine["command"] == "sleep 300" and mine["gpu_memory_bytes"] == GiB
    for key in ("cpu_percent", "host_memory_rss_bytes", "running_seconds", "user", "container_id"):
        assert key in mine
    assert g1["error"].startswith("GPU has fallen off the bus") and g1["processes"] is None
    assert g2["fan_speed_percent"] is None and g2["power_draw_watts"] is None
    assert g2["mig_devices"][0]["uuid"] == "MIG-0001"


def test_csv(fake_nvml, cli):
    fake_nvml(golden_spec())
    result = cli("gpu", "--csv")
    assert result.exit_code == ExitCode.PARTIAL
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["index"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["schema_version"] == "1"
    assert rows[0]["memory_used_bytes"] == str(6 * GiB)
    assert rows[0]["process_count"] == "1"
    assert rows[1]["error"].startswith("GPU has fallen off")
    assert rows[2]["fan_speed_percent"] == ""


def test_json_and_csv_together_is_usage_error(fake_nvml, cli):
    fake_nvml(golden_spec())
    result = cli("gpu", "--json", "--csv")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("mltools: error: --json and --csv cannot be combined")


@pytest.mark.parametrize("init_error", ["LibraryNotFound", "DriverNotLoaded"])
def test_no_driver_in_process(fake_nvml, cli, init_error):
    fake_nvml({"gpus": [], "init_error": init_error})
    result = cli("gpu")
    assert result.exit_code == ExitCode.NO_GPU
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("mltools: error: no usable NVIDIA driver: ")
    assert lines[1].startswith("hint: install the NVIDIA driver")
    assert len(lines) == 2
    result = cli("gpu", "--json")
    assert result.exit_code == ExitCode.NO_GPU
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["gpus"] == []
    assert doc["error"].startswith("no usable NVIDIA driver")


def test_this_machine_without_driver(run_mltools):
    """The real pynvml on this GPU-less machine: one line, a hint, exit 3 (every command)."""
    for args in (["gpu"], ["gpu", "pick"], ["gpu", "topo"], ["gpu", "kill", "--gpu", "0"]):
        result = run_mltools(*args)
        if result.returncode == 0:
            pytest.skip("this machine has a working NVIDIA driver")
        assert result.returncode == ExitCode.NO_GPU, (args, result.stderr)
        assert result.stderr.startswith("mltools: error: no usable NVIDIA driver")
        assert "Traceback" not in result.stderr
    result = run_mltools("gpu", "--json")
    doc = json.loads(result.stdout)
    assert (doc["schema_version"], doc["gpus"]) == (1, [])
    assert doc["error"]


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\nfrom mltools.cli.app import main\nsys.argv = ['mltools', 'gpu', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({'pynvml', 'rich', 'psutil', 'mltools.gpu'} & set(sys.modules)), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert "snapshot" in out.stdout.lower()
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_watch_json_lines_until_ctrl_c(tmp_path):
    """--watch prints a frame per interval; Ctrl-C ends it with exit 0."""
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps({"gpus": [gpu(0), gpu(1)]})})
    proc = subprocess.Popen(
        [sys.executable, FAKE_RUN, "gpu", "--watch", "--interval", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        frames = [json.loads(read_line(proc.stdout)) for _ in range(2)]
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert [len(f["gpus"]) for f in frames] == [2, 2]
    assert all(json.loads(line)["schema_version"] == 1 for line in rest.splitlines())


def test_watch_table_frames():
    spec = {"gpus": [gpu(0, mem_used=512 * MiB)]}
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps(spec)})
    proc = subprocess.Popen(
        [sys.executable, FAKE_RUN, "gpu", "-w", "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        seen = []
        deadline = time.monotonic() + 30
        while (
            len([s for s in seen if s.startswith("GPU  NAME")]) < 2 and time.monotonic() < deadline
        ):
            seen.append(read_line(proc.stdout))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert sum(line.startswith("GPU  NAME") for line in seen) == 2


def test_watch_interval_must_be_positive(cli):
    result = cli("gpu", "--watch", "--interval", "0")
    usage_error(result, "Invalid value for '--interval'", "0.0 is not in the range 0.1<=x")
