"""`ddp-doctor hang` on a real 2-rank gloo job under torchrun that hangs on purpose."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import mltools_env

pytest.importorskip("torch")
pytestmark = [pytest.mark.slow, pytest.mark.needs("py-spy")]

TRAIN = """\
import os, time
from datetime import timedelta
import torch
import torch.distributed as dist


def slow_loader():
    time.sleep(3600)  # LINE_STALL


def step(t):
    dist.all_reduce(t)  # LINE_WAIT


def main():
    dist.init_process_group("gloo", timeout=timedelta(seconds=3600))
    rank = dist.get_rank()
    t = torch.ones(4)
    step(t)
    import torch._C._distributed_c10d as c10d
    with open(os.environ["TORCH_FR_DUMP_TEMP_FILE"] + str(rank), "wb") as fh:
        fh.write(c10d._dump_fr_trace())
    print(f"ready rank={rank} pid={os.getpid()}", flush=True)
    if rank == 1:
        slow_loader()
    step(t)


main()
"""


def _line(marker: str) -> int:
    return next(i for i, line in enumerate(TRAIN.splitlines(), 1) if marker in line)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def hung_job(tmp_path_factory):
    """torchrun with 2 ranks: rank 0 waits in all_reduce, rank 1 sleeps in slow_loader."""
    workdir = tmp_path_factory.mktemp("hung")
    (workdir / "train.py").write_text(TRAIN)
    log = (workdir / "out.log").open("w")
    agent = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "train.py"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=mltools_env({"OMP_NUM_THREADS": "1", "TORCH_FR_BUFFER_SIZE": "100",
                         "TORCH_FR_DUMP_TEMP_FILE": str(workdir / "fr_rank_")}),
        start_new_session=True,
    )  # fmt: skip
    ranks: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 180
        while len(ranks) < 2:
            assert agent.poll() is None, (workdir / "out.log").read_text()
            assert time.monotonic() < deadline, "the job did not start in 180 s"
            for line in (workdir / "out.log").read_text().splitlines():
                if line.startswith("ready rank="):
                    fields = dict(kv.split("=") for kv in line.split()[1:])
                    ranks[int(fields["rank"])] = int(fields["pid"])
            time.sleep(0.3)
        yield agent.pid, ranks
    finally:
        _kill(list(ranks.values()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(timeout=30)
        log.close()


def _hang_json(run_mltools, *args: str) -> dict:
    """`hang --json` on this module's job (always named by --pid: never another test's)."""
    assert "--pid" in args
    result = run_mltools("ddp-doctor", "hang", "--samples", "2", "--interval", "0.5",
                         "--json", *args)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_names_rank1(data: dict, ranks: dict[int, int]) -> None:
    assert data["kind"] == "odd_rank_stuck"
    assert data["culprits"] == [1]
    by_rank = {r["rank"]: r for r in data["ranks"]}
    assert {r: by_rank[r]["pid"] for r in by_rank} == ranks
    assert by_rank[1]["state"] == "stuck"
    assert by_rank[1]["collective"] is None
    assert by_rank[1]["frame"] == f"train.py:{_line('LINE_STALL')} (slow_loader)"
    assert by_rank[0]["collective"] == "all_reduce"
    assert by_rank[0]["frame"] == f"train.py:{_line('LINE_WAIT')} (step)"
    assert data["verdict"].startswith(f"rank 1 is stuck at train.py:{_line('LINE_STALL')}")
    assert sorted(len(g["ranks"]) for g in data["groups"]) == [1, 1]


# Discovery with no --pid scans every job it can see: here, a PID namespace holding only
# its own job (other test runs on this machine have theirs), run by this driver as pid 1.
DISCOVER = """\
import json, os, subprocess, sys, time
workdir = sys.argv[1]
logname = os.path.join(workdir, "ns.log")
env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_FR_BUFFER_SIZE="100",
           TORCH_FR_DUMP_TEMP_FILE=os.path.join(workdir, "ns_fr_rank_"))
with open(logname, "w") as log:
    agent = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "train.py"], cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, env=env)
ranks = {}
deadline = time.monotonic() + 180
while len(ranks) < 2:
    if agent.poll() is not None or time.monotonic() > deadline:
        sys.exit("the job did not start: " + open(logname).read()[-3000:])
    for line in open(logname).read().splitlines():
        if line.startswith("ready rank="):
            fields = dict(kv.split("=") for kv in line.split()[1:])
            ranks[fields["rank"]] = int(fields["pid"])
    time.sleep(0.3)
out = subprocess.run(
    [sys.executable, "-m", "mltools", "ddp-doctor", "hang", "--samples", "2", "--interval",
     "0.5", "--json"], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
print(json.dumps({"ranks": ranks, "rc": out.returncode, "out": out.stdout, "err": out.stderr}))
"""


@pytest.mark.needs("root", "unshare")
def test_hang_discovers_the_ranks_and_names_the_stalled_one(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", DISCOVER,
         str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=mltools_env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["rc"] == 0, found["err"]
    ranks = {int(rank): pid for rank, pid in found["ranks"].items()}
    _assert_names_rank1(json.loads(found["out"]), ranks)


def test_hang_reads_the_jobs_flight_recorder_dumps(hung_job, run_mltools):
    """The dump prefix comes from the ranks' environment, not from ours."""
    agent_pid, _ = hung_job
    data = _hang_json(run_mltools, "--pid", str(agent_pid))
    flight = data["flight_recorder"]
    # (completion is marked asynchronously, so only what was enqueued is certain)
    assert [(t["rank"], t["last_enqueued"], t["last_enqueued_op"]) for t in flight["ranks"]] == [
        (0, 1, "all_reduce"),
        (1, 1, "all_reduce"),
    ]
    assert flight["missing_ranks"] == [] and flight["divergence_seq"] is None


def test_hang_with_rank_pids(hung_job, run_mltools):
    _, ranks = hung_job
    _assert_names_rank1(
        _hang_json(run_mltools, "--pid", str(ranks[0]), "--pid", str(ranks[1])), ranks
    )


def test_discovery_maps_torchrun_tree_to_ranks(hung_job):
    from mltools.ddp.hang import discover_ranks

    agent_pid, ranks = hung_job
    found = discover_ranks([agent_pid])  # the torchrun pid expands to its workers
    assert {r.rank: r.pid for r in found} == ranks
    assert {r.local_rank for r in found} == {0, 1}
    assert all(r.world_size == 2 and r.source == "torchrun" for r in found)
    assert all(r.agent_pid == agent_pid for r in found)


def test_hang_text_output_verdict_first(hung_job, run_mltools):
    agent_pid, _ = hung_job
    result = run_mltools("ddp-doctor", "hang", "--pid", str(agent_pid), "--samples", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("verdict: rank 1 is stuck at train.py:")
    assert lines[1] == "culprit rank(s): 1"
    assert "main thread, innermost first:" in result.stdout


def test_bundle_carries_the_flight_recorder_dumps_with_host_and_rank(
    hung_job, run_mltools, tmp_path
):
    import socket
    import tarfile

    agent_pid, _ = hung_job
    out = tmp_path / "bundle.tar.gz"
    result = run_mltools("ddp-doctor", "hang", "--pid", str(agent_pid), "--bundle", str(out))
    assert result.returncode == 0, result.stderr
    host = socket.gethostname()
    with tarfile.open(out) as tar:
        names = {m.name.removeprefix("hang-bundle/"): m for m in tar}
        dumps = sorted(n for n in names if n.startswith(f"flight_recorder/{host}/"))
        assert dumps == [f"flight_recorder/{host}/rank-{r}-fr_rank_{r}" for r in (0, 1)]
        assert tar.extractfile(names[dumps[1]]).read()[:1] == b"\x80"  # the pickle itself
        stacks = tar.extractfile(names[f"stacks/{host}/rank-1.txt"]).read().decode()
        env = tar.extractfile(names[f"env/{host}/rank-0.env"]).read().decode()
    assert "slow_loader" in stacks and "[native]" in stacks  # every thread, native frames
    assert "TORCH_FR_DUMP_TEMP_FILE=" in env and "OMP_NUM_THREADS=1" in env
