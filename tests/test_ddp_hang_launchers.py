"""`ddp-doctor hang` on real gloo jobs started the other ways people start them.

Each job is tests/_hang_scenarios.py (2 ranks, CPU), started by:
``torch.multiprocessing.spawn`` (no rank in any environment), torchrun behind a bash
wrapper (``--pid`` of the wrapper), ``accelerate launch`` (when accelerate is
installed), and stand-ins for ``mpirun`` and ``srun`` that set their vocabularies
(tests/_launcher_standin.py). Each is judged healthy (``MLTOOLS_HANG_REPEAT`` runs of
a healthy shape, all must say ``progressing``) and hung (the right kind and culprit):
a blocked read, a poll loop it never leaves, a runaway thread holding the GIL
(``MLTOOLS_HANG_REPEAT_HUNG`` runs each; ``MLTOOLS_HANG_MEASURE=FILE`` records them all).
Waits are on the scenario's acknowledgement files, never on sleeps.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests import _ports
from tests.conftest import REPO
from tests.test_ddp_hang_scenarios import REPEAT, REPEAT_HUNG, SCRIPT, Job, _hang, _line, _measure

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

STANDIN = REPO / "tests" / "_launcher_standin.py"


@pytest.fixture
def job(tmp_path):
    j = Job(tmp_path, env={"STALL_RANK": "1"})
    try:
        yield j
    finally:
        j.stop()


def _judge(run_mltools, pid: int, scenario: str, *args: str, repeat: int = 1) -> dict:
    """The verdict; with ``repeat`` > 1 (a measurement), earlier runs are only recorded."""
    for _ in range(repeat):
        began = time.monotonic()
        data = _hang(run_mltools, "--pid", str(pid), *args)
        _measure(scenario=scenario, kind=data["kind"], culprits=data["culprits"],
                 seconds=time.monotonic() - began, verdict=data["verdict"])  # fmt: skip
    return data


def _healthy(run_mltools, job: Job, pid: int, shape: str, launcher: str) -> None:
    job.switch(shape)
    for _ in range(REPEAT):
        data = _judge(run_mltools, pid, f"{launcher}:{shape}")
        assert data["kind"] == "progressing", data["verdict"]
        assert sorted(r["rank"] for r in data["ranks"]) == [0, 1]


def _stalled(run_mltools, job: Job, pid: int, launcher: str) -> dict:
    job.switch("stall")
    try:
        data = _judge(run_mltools, pid, f"{launcher}:stall", repeat=REPEAT_HUNG)
        assert data["kind"] == "odd_rank_stuck", data["verdict"]
        assert data["culprits"] == [1]
        by_rank = {r["rank"]: r for r in data["ranks"]}
        assert by_rank[1]["frame"] == f"_hang_scenarios.py:{_line('LINE_STALL')} (blocked_read)"
        assert by_rank[0]["collective"] == "all_reduce"
        return data
    finally:
        (job.control / "phase").write_text("paced")
        job.release()
        job.switch("paced")


def test_mp_spawn_job_found_from_the_scripts_pid(job, run_mltools):
    """No RANK anywhere: the ranks are the spawn children, rank = the spawn index."""
    parent = job.start(
        [sys.executable, str(SCRIPT), str(job.control), "--spawn", "2", str(_ports.free_port())],
        world=2,
    ).pid
    pids = job.switch("paced")
    data = _judge(run_mltools, parent, "spawn:paced")
    assert data["kind"] == "progressing", data["verdict"]
    assert {(r["rank"], r["pid"], r["source"]) for r in data["ranks"]} == {
        (0, pids[0], "spawn"), (1, pids[1], "spawn"),
    }  # fmt: skip
    assert parent not in {r["pid"] for r in data["ranks"]}
    _healthy(run_mltools, job, parent, "slow_paced", "spawn")
    _stalled(run_mltools, job, parent, "spawn")


def test_torchrun_behind_a_bash_wrapper(job, run_mltools, tmp_path):
    """--pid of the wrapper leads to the ranks; a long checkpoint wait is healthy; a poll
    loop and a GIL-holding thread are named."""
    wrapper = tmp_path / "train.sh"
    argv = job.torchrun_argv(2, port=_ports.free_port())
    wrapper.write_text("#!/bin/bash\n" + " ".join(f"'{a}'" for a in argv) + "\necho done\n")
    wrapper.chmod(0o755)
    bash = job.start(["bash", str(wrapper)], world=2).pid
    job.switch("paced")
    _healthy(run_mltools, job, bash, "long_wait", "wrapper")
    job.switch("poll")
    try:
        data = _judge(run_mltools, bash, "wrapper:poll", repeat=REPEAT_HUNG)
        assert data["kind"] == "odd_rank_stuck", data["verdict"]
        assert data["culprits"] == [1]
        assert data["verdict"].startswith(
            f"rank 1 polls in a wait loop at _hang_scenarios.py:{_line('LINE_POLL')} "
            "(wait_for_file) without leaving it"
        ), data["verdict"]
        poller = next(r for r in data["ranks"] if r["rank"] == 1)
        assert poller["evidence"]["poll_loop"] and poller["evidence"]["wakeups_per_second"] >= 5
    finally:
        (job.control / "go").write_text("")
        job.switch("paced")
    job.switch("gil")  # the last phase: the runaway regex never ends
    data = _judge(run_mltools, bash, "wrapper:gil", repeat=REPEAT_HUNG)
    assert data["kind"] == "odd_rank_stuck", data["verdict"]
    assert data["culprits"] == [1]
    rank1 = next(r for r in data["ranks"] if r["rank"] == 1)
    assert rank1["state"] == "stuck"
    assert rank1["frame"] == f"_hang_scenarios.py:{_line('LINE_GIL')} (start_scanner)"
    holder = rank1["evidence"]["gil_holder"]
    assert holder.startswith("thread regex-scan (tid ")
    assert holder.endswith(f"at _hang_scenarios.py:{_line('LINE_RUNAWAY')} (runaway)")
    assert f"waiting for the GIL held by {holder}" in data["verdict"]


@pytest.mark.parametrize("launcher", ["mpirun", "srun"])
def test_mpirun_and_srun_standins(job, run_mltools, tmp_path, launcher):
    standin = tmp_path / launcher
    shutil.copy(STANDIN, standin)
    job.env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_ports.free_port()))
    agent = job.start(
        [sys.executable, str(standin), "-np", "2", "--", sys.executable, str(SCRIPT),
         str(job.control)],
        world=2,
    ).pid  # fmt: skip
    pids = job.switch("paced")
    data = _judge(run_mltools, agent, f"{launcher}:paced")
    assert data["kind"] == "progressing", data["verdict"]
    source = "mpi" if launcher == "mpirun" else "slurm"
    assert {(r["rank"], r["pid"], r["source"]) for r in data["ranks"]} == {
        (0, pids[0], source), (1, pids[1], source),
    }  # fmt: skip
    _healthy(run_mltools, job, agent, "compute", launcher)
    _stalled(run_mltools, job, agent, launcher)


@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="needs accelerate")
def test_accelerate_launch(job, run_mltools):
    exe = Path(os.path.realpath(sys.executable)).parent / "accelerate"
    cmd = (
        [str(exe), "launch"]
        if exe.exists()
        else [sys.executable, "-m", "accelerate.commands.launch"]
    )
    agent = job.start(
        [*cmd, "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
         "no", "--dynamo_backend", "no", "--main_process_port", str(_ports.free_port()),
         str(SCRIPT), str(job.control)],
        world=2,
    ).pid  # fmt: skip
    pids = job.switch("paced")
    data = _judge(run_mltools, agent, "accelerate:paced")
    assert data["kind"] == "progressing", data["verdict"]
    assert {(r["rank"], r["pid"], r["source"]) for r in data["ranks"]} == {
        (0, pids[0], "accelerate"), (1, pids[1], "accelerate"),
    }  # fmt: skip
    _stalled(run_mltools, job, agent, "accelerate")
