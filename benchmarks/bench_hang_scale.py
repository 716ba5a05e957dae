"""Time to verdict of `mltools ddp-doctor hang` at 2, 8, 32 and 64 gloo ranks.

One torchrun job per size runs tests/_hang_scenarios.py (CPU, gloo, OMP_NUM_THREADS=1):
first healthy (``paced``: a step, then 0.2 s asleep), then with one rank blocked in a
read while every other rank waits in all_reduce (``stall``). For each, the time from
starting `hang --pid <torchrun>` to its verdict, the verdict's kind and culprits, and
(the largest size) the grouped text output. By hand, the same look costs one
`py-spy dump` per rank, in turn, and then reading N stacks: that time is measured too.

    python benchmarks/bench_hang_scale.py [--quick]     # --quick: 2 and 8 ranks only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import REPO, mltools_argv, save

SCRIPT = REPO / "tests" / "_hang_scenarios.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Job:
    """A torchrun job of the scenario script with ``n`` ranks, switched through files."""

    def __init__(self, n: int, workdir: Path) -> None:
        self.n, self.control = n, workdir
        fifo = workdir / "fifo"
        os.mkfifo(fifo)
        self.fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "STALL_RANK": str(n // 2 + 1 if n > 2 else 1)}
        self.stall_rank = int(env["STALL_RANK"])
        self.log = (workdir / "job.log").open("w")
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n),
             "--master-addr", "127.0.0.1", "--master-port", str(_port()), "--max-restarts", "0",
             str(SCRIPT), str(workdir)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip

    def switch(self, phase: str, timeout: float = 900) -> float:
        for f in self.control.glob(f"ack-{phase}-*"):
            f.unlink()
        (self.control / ".phase").write_text(phase)
        (self.control / ".phase").rename(self.control / "phase")
        began = time.monotonic()
        while len(list(self.control.glob(f"ack-{phase}-*"))) < self.n:
            if self.agent.poll() is not None or time.monotonic() - began > timeout:
                raise SystemExit(f"the {self.n}-rank job did not reach {phase}")
            time.sleep(0.2)
        return time.monotonic() - began

    def pids(self) -> list[int]:
        return [int(p.read_text()) for p in self.control.glob("ack-paced-*") if p.read_text()]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.agent.pid, signal.SIGKILL)
        for p in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        self.agent.wait(timeout=60)
        os.close(self.fifo_fd)


def _hang(agent: int, *extra: str) -> tuple[float, dict | str]:
    began = time.monotonic()
    out = subprocess.run(
        mltools_argv("ddp-doctor", "hang", "--pid", str(agent), *extra),
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    took = time.monotonic() - began
    if "--json" in extra:
        return took, json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}
    return took, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 and 8 ranks only")
    parser.add_argument("--sizes", default=None, help="comma-separated rank counts")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("2,8" if args.quick else "2,8,32,64")).split(",")]
    results = []
    pyspy = shutil.which("py-spy") or "py-spy"
    for n in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-hang-{n}-"))
        job = Job(n, workdir)
        try:
            started = job.switch("paced")
            healthy_s, healthy = _hang(job.agent.pid, "--json")
            pids = job.pids()
            began = time.monotonic()
            for pid in pids:
                subprocess.run([pyspy, "dump", "--pid", str(pid)], capture_output=True)
            by_hand = time.monotonic() - began
            job.switch("stall")
            stall_s, stall = _hang(job.agent.pid, "--json")
            text_s, text = _hang(job.agent.pid)
            row = {
                "ranks": n,
                "job_start_s": round(started, 1),
                "healthy_s": round(healthy_s, 2),
                "healthy_kind": healthy.get("kind"),
                "stall_s": round(stall_s, 2),
                "stall_kind": stall.get("kind"),
                "stall_culprits": stall.get("culprits"),
                "expected_culprit": job.stall_rank,
                "pyspy_by_hand_s": round(by_hand, 2),
                "verdict": stall.get("verdict"),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
            if n == max(sizes):
                print(f"\n--- `ddp-doctor hang` text output at {n} ranks ({text_s:.1f} s) ---")
                print(text)
        finally:
            job.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nranks  healthy verdict  stall verdict  right culprit  py-spy by hand")
    for r in results:
        ok = r["stall_culprits"] == [r["expected_culprit"]] and r["stall_kind"] == "odd_rank_stuck"
        print(f"{r['ranks']:5d}  {r['healthy_s']:13.1f} s  {r['stall_s']:11.1f} s  "
              f"{'yes' if ok else 'NO':>13}  {r['pyspy_by_hand_s']:12.1f} s")  # fmt: skip
    print(f"saved {save('bench_hang_scale', results)}")


if __name__ == "__main__":
    main()
