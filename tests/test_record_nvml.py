"""`mltools record` on the emulated libnvidia-ml: the summary equals what the double was told.

The recorder is stepped by hand on a fake monotonic clock (one sample per second), and
the double's spec is rewritten before every sample: a utilisation ramp, an energy
counter, a throttle episode, a process that allocates and frees, a GPU without the
energy counter (power integrated instead), a process holding memory on an idle GPU.
"""

from __future__ import annotations

import json
import sys

import pytest

from mltools.record import Recorder, load_run, summarize, write_outputs
from mltools.record.recorder import prepare_out_dir
from tests._fake_nvml import GiB, MiB, gpu
from tests._gpu_fixtures import fake_nvml, spawn  # noqa: F401 (fixtures)

STEPS = 10
THROTTLED = {3, 4, 5}  # samples with sw_power_cap
HW_SLOWDOWN = {9}
ALLOC = {
    0: 0,
    1: 0,
    2: 10 * GiB,
    3: 10 * GiB,
    4: 10 * GiB,
    5: 10 * GiB,
    6: 10 * GiB,
    7: 30 * GiB,
    8: 5 * GiB,
}  # fmt: skip  (sample 9: freed and gone)
ENERGY0_MJ = 5_000_000


def energy_mj(k: int) -> int:
    """GPU 0's counter at sample k: 100 J + 10 J per utilisation step per second."""
    return ENERGY0_MJ + sum(1000 * (100 + 10 * j) for j in range(k))


def spec(k: int, a: int, b: int, c: int) -> dict:
    throttle = 0x1 | (0x4 if k in THROTTLED else 0) | (0x8 if k in HW_SLOWDOWN else 0)
    compute0 = []
    if k in ALLOC:
        compute0.append({"pid": a, "mem": ALLOC[k], "sm": 80})
    compute0.append({"pid": c, "mem": 1 * GiB, "sm": 40})
    return {
        "gpus": [
            gpu(0, util_gpu=10 * k, util_mem=5 * k, mem_used=ALLOC.get(k, 0) + 1 * GiB,
                power_mw=100_000 + 10_000 * k, energy_mj=energy_mj(k), throttle=throttle,
                pcie_tx_kib=1000 * k, pcie_rx_kib=500, compute=compute0),
            gpu(1, util_gpu=0, mem_used=2 * GiB, power_mw=60_000,
                compute=[{"pid": b, "mem": 2 * GiB, "sm": 0}]),
        ]
    }  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def recorded(fake_nvml, spawn, tmp_path):  # noqa: F811
    """A 10-sample recording of this process's tree, with three GPU processes in it."""
    import os

    a = spawn("sleep", "300", env={"RANK": "0", "LOCAL_RANK": "0"}).pid
    b = spawn("sleep", "300").pid
    c = spawn("sleep", "300", env={"RANK": "1", "LOCAL_RANK": "1"}).pid
    double = fake_nvml(spec(0, a, b, c))
    clock = FakeClock()
    out = prepare_out_dir(tmp_path / "run", overwrite=False)
    rec = Recorder(out, interval=1.0, clock=clock, command=["train.py"])
    rec.start(os.getpid())
    for k in range(STEPS):
        double.update(spec(k, a, b, c))
        clock.t = 1000.0 + k
        rec.step()
    clock.t = 1000.0 + STEPS
    result = rec.finish(reason="exited", returncode=0)
    return result, (a, b, c)


def test_summary_equals_what_the_double_was_told(recorded):
    result, (a, b, _c) = recorded
    s = result.summary
    g0, g1 = s["gpus"]
    assert s["samples"] == STEPS and s["samples_missed"] == 0
    assert s["duration_seconds"] == STEPS
    # energy: the counter's last minus first, in joules
    assert g0["energy_source"] == "counter"
    assert g0["energy_joules"] == (energy_mj(STEPS - 1) - ENERGY0_MJ) / 1000
    # GPU 1 has no counter: 60 W integrated over the 9 s between its first and last sample
    assert g1["energy_source"] == "integrated_power"
    assert g1["energy_joules"] == 60.0 * (STEPS - 1)
    assert s["energy_joules"] == g0["energy_joules"] + g1["energy_joules"]
    assert s["energy_wh"] == round(s["energy_joules"] / 3600, 4)
    # peak memory and when: the allocation's peak at sample 7
    assert g0["memory_peak_bytes"] == 31 * GiB and g0["memory_peak_t_seconds"] == 7.0
    # throttle: 3 samples of sw_power_cap, the last sample of hw_slowdown (1 s each)
    assert g0["throttle_seconds"] == {"hw_slowdown": 1.0, "sw_power_cap": 3.0}
    assert s["throttle_seconds"] == {"hw_slowdown": 1.0, "sw_power_cap": 3.0}
    # idle: GPU 0 only at sample 0 (0 %), GPU 1 always
    assert g0["idle_fraction"] == 0.1 and g1["idle_fraction"] == 1.0
    assert g0["utilization_mean_percent"] == 45.0 and g0["utilization_p95_percent"] == 90
    assert s["gpu_imbalance_percent"] == 45.0
    assert g0["pcie_tx_mean_bytes_per_second"] == 1024 * 1000 * 4.5
    assert s["gpu_hours"] == round(2 * STEPS / 3600, 4)
    # the process on idle GPU 1 held 2 GiB there for all 10 s
    holders = {(h["pid"], h["gpu_index"]): h for h in s["idle_gpu_memory_holders"]}
    assert holders[(b, 1)]["idle_seconds"] == 10.0
    assert holders[(b, 1)]["memory_max_bytes"] == 2 * GiB
    # process a allocated at 0 % utilisation only at sample 0, with 0 bytes: never idle-holding
    assert (a, 0) not in holders
    # ranks from the environment; SM share per rank
    ranks = {r["rank"]: r for r in s["ranks"]}
    assert ranks[1]["gpu_sm_mean_percent"] == 40.0
    assert ranks[0]["gpu_sm_mean_percent"] == 80.0 * len(ALLOC) / STEPS
    procs = {p["pid"]: p for p in s["processes"]}
    assert procs[a]["gpu_memory_peak_bytes"] == 30 * GiB


def test_files_agree_with_the_summary(recorded):
    result, (a, _b, _c) = recorded
    out = result.out_dir
    assert json.loads((out / "summary.json").read_text()) == result.summary
    again = summarize(load_run(out))
    assert again == result.summary  # `record show` needs nothing but the files
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "meta" and lines[-1]["type"] == "end"
    samples = [x for x in lines if x["type"] == "sample"]
    assert [x["t_seconds"] for x in samples] == [float(k) for k in range(STEPS)]
    assert [x["gpus"][0]["energy_joules"] for x in samples] == [
        energy_mj(k) / 1000 for k in range(STEPS)
    ]
    a_mem = [next((g["memory_bytes"] for p in x["processes"] if p["pid"] == a for g in p["gpus"]), None)
             for x in samples]  # fmt: skip
    assert a_mem == [ALLOC.get(k) for k in range(STEPS)]
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(out / "samples.parquet")
    gpu0 = df[(df.kind == "gpu") & (df.gpu_index == 0)]
    assert list(gpu0.gpu_utilization_gpu_percent) == [10 * k for k in range(STEPS)]
    assert "report.html" in {p.name for p in out.iterdir()}


def test_write_outputs_again_is_idempotent(recorded):
    result, _ = recorded
    again = write_outputs(result.out_dir)
    assert again.summary == result.summary


def test_no_counter_on_old_profile_is_integrated(fake_nvml, tmp_path):  # noqa: F811
    """A GPU answering NotSupported for the counter: power integrated, and said so."""
    import os

    double = fake_nvml({"gpus": [gpu(0, power_mw=200_000)]})
    clock = FakeClock()
    rec = Recorder(prepare_out_dir(tmp_path / "r", overwrite=False), clock=clock)
    rec.start(os.getpid())
    for k, watts in enumerate((200, 300, 300, 100)):
        double.update({"gpus": [gpu(0, power_mw=watts * 1000)]})
        clock.t = 1000.0 + 2 * k
        rec.step()
    s = rec.finish(reason="exited", returncode=0).summary
    # trapezoids over 2 s steps: (200+300) + (300+300) + (300+100) = 1500 J
    assert s["gpus"][0]["energy_source"] == "integrated_power"
    assert s["gpus"][0]["energy_joules"] == 1500.0


def test_record_cli_on_the_double_prints_the_summary(tmp_path):
    """The whole command in a subprocess on the double: GPU rows, energy, exit code."""
    from tests._gpu_fixtures import fake_cli

    spec0 = {
        "gpus": [gpu(0, util_gpu=50, energy_mj=1000, mem_used=3 * GiB), gpu(1, mem_used=512 * MiB)]
    }
    out = tmp_path / "run"
    r = fake_cli(spec0, "record", "-i", "0.1", "-o", str(out), "--gpus", "1", "--",
                 sys.executable, "-c", "import sys; sys.exit(3)")  # fmt: skip
    assert r.returncode == 3, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert [g["index"] for g in s["gpus"]] == [1]  # --gpus 1: only that GPU
    assert s["exit_code"] == 3
    assert "GPU  util mean" in r.stderr and "exit 3" in r.stderr
