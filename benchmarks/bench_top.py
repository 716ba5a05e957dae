"""`mltools top` side by side with nvitop 1.7's interactive view, on one emulated 8-GPU machine.

Both run in a pseudo-terminal (120x40) on the same NVML double (tests/nvml_double/,
preloaded as ``libnvidia-ml.so.1`` by tests/_fake_run.py's mechanism), with a real
process on each GPU. Measured per tool:

- time to first frame: from spawn until the GPUs' name and a process pid are on the
  terminal (median of ``--repeat`` fresh starts, interleaved);
- CPU used per minute of refresh at a 1 s and a 0.25 s interval (user + system time of
  the process over ``--seconds``, after its first frame, scaled to 60 s);
- peak RSS (VmHWM) at the end of the 1 s run.

Run: python benchmarks/bench_top.py [--quick]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import REPO, save

NVITOP_RUNNER = """
import sys
sys.path.insert(0, {repo!r})
from tests._nvml_double import activate_from_env
activate_from_env()
from nvitop.cli import main
sys.exit(main())
"""


class Pty:
    """A child on a 120x40 pseudo-terminal whose output is drained (and searched) by a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master, self.buf, self.lock = master, bytearray(), threading.Lock()
        self.first: float | None = None
        self.marks: tuple[bytes, ...] = ()
        self.seen = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.buf += data
                if self.first is None and all(m in self.buf for m in self.marks):
                    self.first = time.perf_counter() - self.start
                    self.seen.set()
                if len(self.buf) > 1 << 20:
                    del self.buf[: len(self.buf) - 4096]

    def wait_first_frame(self, marks: tuple[bytes, ...], timeout: float = 60) -> float:
        with self.lock:
            self.marks = marks
            if all(m in self.buf for m in marks):
                self.first = time.perf_counter() - self.start
                self.seen.set()
        if not self.seen.wait(timeout):
            raise RuntimeError(f"no first frame within {timeout} s: {bytes(self.buf[-2000:])!r}")
        assert self.first is not None
        return self.first

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 starts, 10 s per CPU run")
    parser.add_argument("--repeat", type=int, default=7, help="fresh starts per tool")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each CPU run")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.seconds = 3, 10.0

    from tests._fake_nvml import GiB, gpu
    from tests._nvml_double import build, write_spec

    build("r550")
    children = [subprocess.Popen(["sleep", "3600"]) for _ in range(8)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-top-"))
    spec_file = tmp / "spec.txt"
    gpus = [
        gpu(
            i, util_gpu=50 + i, mem_used=3 * GiB, compute=[{"pid": c.pid, "mem": 3 * GiB, "sm": 40}]
        )
        for i, c in enumerate(children)
    ]
    write_spec(spec_file, {"gpus": gpus})
    runner = tmp / "nvitop_on_double.py"
    runner.write_text(NVITOP_RUNNER.format(repo=str(REPO)))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TERM": "xterm-256color",
        "MLTOOLS_TEST_FAKE_NVML": json.dumps({"spec_file": str(spec_file)}),
    }
    env.pop("NO_COLOR", None)
    fake_run = str(REPO / "tests" / "_fake_run.py")
    tools = {
        "mltools top": lambda iv: [sys.executable, fake_run, "top", "--interval", str(iv)],
        "nvitop": lambda iv: [sys.executable, str(runner), "--interval", str(iv)],
    }
    marks = (b"sleep",)  # the process rows: both draw them with (after) the GPU rows
    results: dict[str, dict[str, float]] = {name: {} for name in tools}
    try:
        firsts: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.repeat):
            for name, argv in tools.items():
                p = Pty(argv(1.0), env)
                try:
                    firsts[name].append(p.wait_first_frame(marks))
                finally:
                    p.stop()
        for name in tools:
            results[name]["first_frame_s"] = statistics.median(firsts[name])
        for interval in (1.0, 0.25):
            for name, argv in tools.items():
                p = Pty(argv(interval), env)
                try:
                    p.wait_first_frame(marks)
                    cpu0, t0 = p.cpu_seconds(), time.perf_counter()
                    time.sleep(args.seconds)
                    used = p.cpu_seconds() - cpu0
                    per_minute = used * 60 / (time.perf_counter() - t0)
                    results[name][f"cpu_s_per_min_at_{interval:g}s"] = per_minute
                    if interval == 1.0:
                        results[name]["peak_rss_bytes"] = p.peak_rss()
                finally:
                    p.stop()
    finally:
        for c in children:
            c.kill()
            c.wait()
    print(f"\n## mltools top vs nvitop (8 emulated GPUs, 120x40 pty; {args.repeat} starts, "
          f"{args.seconds:g} s CPU runs)")  # fmt: skip
    keys = ["first_frame_s", "cpu_s_per_min_at_1s", "cpu_s_per_min_at_0.25s", "peak_rss_bytes"]
    print(f"  {'':<12}" + "".join(f"{k:>26}" for k in keys))
    for name, row in results.items():
        cells = [
            f"{row[k] / 2**20:.0f} MiB" if k == "peak_rss_bytes" else f"{row[k]:.3f}" for k in keys
        ]
        print(f"  {name:<12}" + "".join(f"{c:>26}" for c in cells))
    ours, theirs = results["mltools top"], results["nvitop"]
    for k in keys:
        print(f"  {k}: mltools top / nvitop = {ours[k] / theirs[k]:.2f}x")
    print(f"saved {save('bench_top', [{'title': 'top vs nvitop', 'results': results}])}")


if __name__ == "__main__":
    main()
