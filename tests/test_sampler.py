"""mltools.sampler: one NVML session across samples (on the C NVML double), host samples,
and the drift-free ``ticks`` schedule (on a fake clock: no sleeps, no wall-clock limits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pynvml
import pytest

from mltools.errors import UsageError
from mltools.sampler import Sampler, ticks
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests._gpu_fixtures import FAKE_RUN
from tests.conftest import mltools_env

fake_nvml = _gpu_fixtures.fake_nvml


class FakeClock:
    """A monotonic clock that moves only when slept on, or when the loop body 'works'."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def take(it, n):
    return [next(it) for _ in range(n)]


# ---------------------------------------------------------------------------------- ticks


def test_ticks_follow_start_plus_k_intervals_whatever_the_body_takes():
    clock = FakeClock()
    it = ticks(1.0, clock=clock, sleep=clock.sleep)
    seen = []
    for work in (0.0, 0.3, 0.9, 0.1, 0.5):
        seen.append(next(it))
        clock.now += work  # the loop body
    assert seen == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]  # no drift by the body's time
    assert clock.sleeps == pytest.approx([1.0, 0.7, 0.1, 0.9])


def test_a_late_tick_skips_and_never_bunches():
    clock = FakeClock()
    it = ticks(1.0, clock=clock, sleep=clock.sleep)
    assert next(it) == 1000.0
    clock.now += 3.5  # the body overran 3 deadlines
    assert next(it) == 1004.0  # the next deadline still ahead: 1001-1003 are skipped
    assert clock.sleeps == [pytest.approx(0.5)]
    clock.now += 1.0  # exactly on the next deadline: that one is past too
    assert next(it) == 1006.0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_ticks_refuse_a_bad_interval(bad):
    with pytest.raises(UsageError, match="interval must be a finite number of seconds above 0"):
        next(ticks(bad))


# ---------------------------------------------------------------------------------- GPUs


def test_one_nvml_session_and_a_rewritten_spec_shows_in_the_next_sample(fake_nvml, monkeypatch):
    double = fake_nvml({"gpus": [gpu(0, mem_used=1 * GiB), gpu(1)]})
    inits = []
    real_init = pynvml.nvmlInit
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: (inits.append(1), real_init())[1])
    with Sampler(host=False) as sampler:
        first = sampler.sample()
        assert double.init_count() == 1  # open across samples
        double.update({"gpus": [gpu(0, mem_used=7 * GiB, util_gpu=55), gpu(1)]})
        second = sampler.sample()
    assert double.init_count() == 0  # closed by the context manager
    assert inits == [1]  # one nvmlInit for both samples
    assert first.gpus is not None and second.gpus is not None
    assert first.gpus.gpus[0].memory_used_bytes == 1 * GiB
    assert second.gpus.gpus[0].memory_used_bytes == 7 * GiB
    assert second.gpus.gpus[0].utilization_gpu_percent == 55
    assert second.t_monotonic > first.t_monotonic
    assert first.host is None and first.gpu_error is None


def test_a_gpu_lost_mid_session_is_an_error_row_not_a_crash(fake_nvml):
    double = fake_nvml({"gpus": [gpu(0), gpu(1)]})
    with Sampler(host=False, gpu_processes=False) as sampler:
        assert [g.error for g in sampler.sample().gpus.gpus] == [None, None]
        double.update({"gpus": [gpu(0), gpu(1, lost=True)]})
        lost = sampler.sample()
        double.update({"gpus": [gpu(0), gpu(1)]})
        back = sampler.sample()
    assert lost.gpu_error is None
    assert lost.gpus.gpus[0].error is None
    assert "fallen off the bus" in lost.gpus.gpus[1].error
    assert [g.error for g in back.gpus.gpus] == [None, None]


def test_gpu_indices_and_no_processes(fake_nvml):
    fake_nvml({"gpus": [gpu(0), gpu(1), gpu(2, compute=[{"pid": 4_000_000, "mem": GiB}])]})
    with Sampler(host=False, gpu_indices=[2, 0, 9]) as sampler:
        snap = sampler.sample().gpus
    assert [g.index for g in snap.gpus] == [0, 2]
    assert [p.pid for p in snap.gpus[1].processes] == [4_000_000]
    with Sampler(host=False, gpu_processes=False) as sampler:
        assert sampler.sample().gpus.gpus[2].processes is None


def test_no_driver_still_samples_the_host(fake_nvml):
    fake_nvml({"gpus": [], "init_error": "DriverNotLoaded"})
    with Sampler() as sampler:
        sample = sampler.sample()
    assert sample.gpus is None
    assert sample.gpu_error.startswith("no usable NVIDIA driver")
    assert sample.host is not None and sample.host.memory_total_bytes > 0


def test_gpus_off_means_no_nvml_at_all(monkeypatch):
    def boom():
        raise AssertionError("NVML opened although gpus=False")

    monkeypatch.setattr(pynvml, "nvmlInit", boom)
    with Sampler(gpus=False) as sampler:
        sample = sampler.sample()
    assert sample.gpus is None and sample.gpu_error is None


# ---------------------------------------------------------------------------------- host


def test_host_sample_measures_since_the_previous_sample():
    import psutil

    with Sampler(gpus=False) as sampler:
        first = sampler.sample().host
        second = sampler.sample().host
    assert first.interval_seconds >= 0.1  # the first window is at least 0.1 s
    assert len(first.per_cpu_percent) == len(first.per_cpu) == psutil.cpu_count()
    assert all(0.0 <= p <= 100.0 for p in first.per_cpu_percent + second.per_cpu_percent)
    assert 0.0 <= second.cpu_percent <= 100.0
    assert first.memory_used_bytes <= first.memory_total_bytes
    assert first.swap_used_bytes <= first.swap_total_bytes
    assert len(first.load_average) == 3
    if os.path.isdir("/dev/shm"):
        assert 0 <= first.shm_used_bytes <= first.shm_total_bytes


def test_busy_cpu_shows_in_the_next_sample():
    """A CPU spinning between two samples is seen busy: the value comes from /proc/stat
    deltas, checked against a real busy loop pinned to one CPU."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    code = (
        f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\nt = time.process_time()\n"
        "while time.process_time() - t < 0.6: pass"
    )
    with Sampler(gpus=False) as sampler:
        sampler.sample()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        host = sampler.sample().host
    busy = dict(zip([u.cpu for u in host.per_cpu], host.per_cpu_percent))
    assert busy[cpu] > 30


# ---------------------------------------------------------------------------------- CLI


def test_gpu_watch_csv_has_one_header_and_a_row_per_gpu_per_frame():
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps({"gpus": [gpu(0), gpu(1)]})})
    proc = subprocess.Popen(
        [sys.executable, FAKE_RUN, "gpu", "--watch", "--csv", "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        proc.send_signal(2)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[0].startswith("schema_version,host,index,")
    assert [line.split(",")[2] for line in lines[1:]] == ["0", "1", "0", "1"]
    assert proc.returncode == 0


def test_gpu_watch_without_driver_prints_the_empty_document_and_exits_3():
    spec = {"gpus": [], "init_error": "DriverNotLoaded"}
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps(spec)})
    out = subprocess.run(
        [sys.executable, FAKE_RUN, "gpu", "--watch", "--json", "--interval", "0.1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 3
    doc = json.loads(out.stdout)
    assert doc["gpus"] == [] and doc["error"].startswith("no usable NVIDIA driver")
    assert out.stderr.startswith("mltools: error: no usable NVIDIA driver")
