"""Time from `mltools ddp-doctor hang` start to verdict on a hung 2-rank gloo job.

Contenders: `hang` with a 2 s window and with the default 6 s window (a rank is
called stuck only after standing still, same stack and no CPU, for the window:
what keeps healthy jobs from being called hung), against what users do by hand:
`py-spy dump` on each rank in turn (and then read the stacks themselves).

    python benchmarks/bench_ddp_live.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import Case, compare, mltools_argv, save

TRAIN = """\
import os, time
from datetime import timedelta
import torch, torch.distributed as dist
def slow_loader():
    time.sleep(3600)
dist.init_process_group("gloo", timeout=timedelta(seconds=3600))
t = torch.ones(4)
dist.all_reduce(t)
print(f"ready {dist.get_rank()} {os.getpid()}", flush=True)
if dist.get_rank() == 1:
    slow_loader()
dist.all_reduce(t)
"""


def start_job(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[int, int]]:
    (workdir / "train.py").write_text(TRAIN)
    log = workdir / "out.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    agent = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "train.py"],
        cwd=workdir, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
        start_new_session=True,
    )  # fmt: skip
    ranks: dict[int, int] = {}
    deadline = time.monotonic() + 180
    while len(ranks) < 2 and time.monotonic() < deadline:
        # the two ranks share the log: their lines can run together
        for rank, pid in re.findall(r"ready (\d+) (\d+)", log.read_text()):
            ranks[int(rank)] = int(pid)
        time.sleep(0.3)
    if len(ranks) < 2:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        raise SystemExit(f"the hung job did not start: {log.read_text()[-500:]}")
    time.sleep(1.0)
    return agent, ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    workdir = Path(tempfile.mkdtemp(prefix="bench-ddp-live-"))
    agent, ranks = start_job(workdir)  # (stops the job itself when it does not start)
    try:
        pyspy = shutil.which("py-spy") or "py-spy"
        by_hand = " && ".join(f"{pyspy} dump --pid {pid} > /dev/null" for pid in ranks.values())
        agent_pid = str(agent.pid)
        cases = [
            Case("py-spy dump x2 (by hand)", argv=["bash", "-c", by_hand]),
            Case(
                "hang --window 2",
                argv=mltools_argv("ddp-doctor", "hang", "--pid", agent_pid, "--window", "2"),
            ),
            Case(
                "hang --window 2 (discover)",
                argv=mltools_argv("ddp-doctor", "hang", "--window", "2"),
            ),
            Case(
                "hang (default: 6 s window)",
                argv=mltools_argv("ddp-doctor", "hang", "--pid", agent_pid),
            ),
        ]
        result = compare(
            "ddp-doctor hang: start to verdict, 2 gloo ranks",
            cases,
            baseline="py-spy dump x2 (by hand)",
            repeat=repeat,
        )
        verdict = subprocess.run(
            [*mltools_argv("ddp-doctor", "hang", "--pid", agent_pid, "--json")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        data = json.loads(verdict.stdout)
        print(f"\nverdict: {data['verdict']}")
        print(f"library time to verdict (default window): {data['duration_seconds']:.2f} s")
        print(f"saved {save('bench_ddp_live', [result])}")
    finally:
        for pid in ranks.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
