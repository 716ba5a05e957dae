"""`mltools top`'s DDP labels on a real torchrun job (gloo, CPU; tests/_hang_scenarios.py).

Every process of the job is put on a GPU of the NVML double: the torchrun agent, both
ranks and their DataLoader workers (which inherit RANK and LOCAL_RANK). Only the two
ranks may be labelled, each with its own rank: a worker or the agent labelled as a rank
would be a false alarm.
"""

from __future__ import annotations

import json

import psutil
import pytest

from tests import _gpu_fixtures, _ports
from tests._fake_nvml import GiB, gpu
from tests.ci_provides import require
from tests.test_ddp_hang_scenarios import Job

fake_nvml = _gpu_fixtures.fake_nvml
pytestmark = pytest.mark.slow


def test_ranks_of_a_torchrun_job_are_labelled_and_nothing_else(tmp_path, fake_nvml, cli):
    require("torch", "torchrun")
    job = Job(tmp_path)
    agent = job.start(job.torchrun_argv(2, port=_ports.free_port()), world=2)
    try:
        # A rank acknowledges a phase before it starts its DataLoader; the acknowledgement of
        # the phase asked again comes from the next step, after a batch came from the workers.
        job.switch("loader")
        ranks = job.switch("loader")  # {rank: pid}; 2 DataLoader workers per rank
        workers = [
            c.pid for pid in ranks.values() for c in psutil.Process(pid).children(recursive=True)
        ]
        assert len(workers) >= 2
        pids = [agent.pid, *ranks.values(), *workers]
        fake_nvml({"gpus": [gpu(0, compute=[{"pid": p, "mem": GiB} for p in pids])]})
        result = cli("top", "--json")
        assert result.exit_code == 0, result.stderr
        labels = {p["pid"]: p["ddp_rank"] for p in json.loads(result.stdout)["processes"]}
        assert {labels[pid] for pid in ranks.values()} == {"0/2 L0", "1/2 L1"}
        assert labels[ranks[0]] == "0/2 L0" and labels[ranks[1]] == "1/2 L1"
        wrong = {pid: labels[pid] for pid in [agent.pid, *workers] if labels[pid] is not None}
        assert wrong == {}, f"labelled as ranks: {wrong}"
    finally:
        job.stop()
