"""`ddp-doctor log` on a generated log: throughput (MB/s) vs `grep -E` over the same patterns,
and peak RSS on a small and a large file (bounded memory: it must not grow with the file).

Run: python benchmarks/bench_ddp.py [--quick] [--size-mb N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import Case, compare, mltools_argv, save
from mltools.ddp.catalogue import CATALOGUE


def generate(path: Path, size_mb: int, seed: int = 0) -> None:
    """A training log: 8 ranks of progress lines, NCCL INFO, warnings; one failure at 90%."""
    rng = random.Random(seed)
    target = size_mb * 1024 * 1024
    normal = [
        "[rank{r}]: epoch {e} step {s} loss {l:.4f} lr 3.0e-04 grad_norm {g:.3f} tokens/s {t}",
        "node{n}:{p}:{p} [{r}] NCCL INFO Channel {c:02d}/0 : {r}[{r}] -> {q}[{q}] via P2P/IPC",
        "[rank{r}]: /usr/lib/python3/site-packages/torch/utils/data/dataloader.py:557: UserWarning: "
        "This DataLoader will create 16 worker processes in total.",
        "[rank{r}]: eval step {s}: accuracy {l:.4f}, no errors",
    ]
    failure = (
        "[rank3]:[E ProcessGroupNCCL.cpp:563] [Rank 3] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=1041, OpType=ALLREDUCE, NumelIn=2049, NumelOut=2049, "
        "Timeout(ms)=600000) ran for 600432 milliseconds before timing out.\n"
    )
    written = 0
    failed = False
    with path.open("w") as fh:
        while written < target:
            lines = []
            for _ in range(2000):
                tmpl = normal[rng.randrange(10) % 4 if rng.random() < 0.3 else 0]
                r = rng.randrange(8)
                lines.append(
                    tmpl.format(
                        r=r,
                        q=(r + 1) % 8,
                        e=1,
                        s=rng.randrange(10**6),
                        l=rng.random(),
                        g=rng.random(),
                        t=rng.randrange(10**5),
                        n=r // 8,
                        p=1000 + r,
                        c=r,
                    )
                )
            block = "\n".join(lines) + "\n"
            if not failed and written > target * 0.9:
                block += failure
                failed = True
            fh.write(block)
            written += len(block)


def ere(pattern: str) -> str:
    """Python regex -> POSIX ERE for GNU grep -E (the catalogue uses a portable subset)."""
    return pattern.replace("(?:", "(").replace(r"\d", "[0-9]").replace(r"\s", "[[:space:]]")


def grep_patterns(path: Path) -> None:
    lines = [ere(p) for e in CATALOGUE for p in e["patterns"]]  # type: ignore[union-attr]
    path.write_text("\n".join(lines) + "\n")


def peak_rss_kib(argv: list[str]) -> int:
    """Peak resident set size of one run of ``argv`` (from wait4's rusage)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 MB log, 3 repeats")
    parser.add_argument("--size-mb", type=int, default=None, help="log size (default 100)")
    args = parser.parse_args()
    size = args.size_mb or (20 if args.quick else 100)
    repeat = 3 if args.quick else 5
    if shutil.which("grep") is None:
        sys.exit("grep not found")
    with tempfile.TemporaryDirectory() as tmp:
        big, small, pats = Path(tmp, "big.log"), Path(tmp, "small.log"), Path(tmp, "pats.txt")
        generate(big, size)
        generate(small, max(8, size // 10), seed=1)  # several chunks, so RSS is steady
        grep_patterns(pats)
        mb = big.stat().st_size / 2**20
        grep_argv = ["grep", "-E", "-n", "-f", str(pats), str(big)]
        found = subprocess.run(grep_argv, capture_output=True, text=True).stdout.splitlines()
        print(f"log: {mb:.0f} MB, grep -E finds {len(found)} line(s)")
        cases = [
            Case("grep -E -f patterns", argv=grep_argv, env={"LC_ALL": "C"}),
            Case("grep -E (UTF-8 locale)", argv=grep_argv, env={"LC_ALL": "C.UTF-8"}),
            Case(
                "mltools ddp-doctor log",
                argv=mltools_argv("ddp-doctor", "log", "--json", str(big)),
                ok_codes=(0, 5),  # 5: it found a failure in the log, as documented
            ),
        ]
        result = compare(
            f"scan a {mb:.0f} MB log", cases, baseline="grep -E -f patterns", repeat=repeat
        )
        for case in cases:
            print(f"  {case.name:<24} {mb / case.median:8.1f} MB/s")
        result["mb_per_s"] = {c.name: mb / c.median for c in cases}
        rss = {}
        for name, path in (("small", small), ("big", big)):
            rss[name] = {
                "mltools_kib": peak_rss_kib(mltools_argv("ddp-doctor", "log", "--json", str(path))),
                "grep_kib": peak_rss_kib(["grep", "-E", "-f", str(pats), str(path)]),
                "mb": path.stat().st_size / 2**20,
            }
        print("\n## peak RSS (bounded memory: should not grow with the file)")
        for row in rss.values():
            print(
                f"  {row['mb']:6.0f} MB log: mltools {row['mltools_kib'] / 1024:6.1f} MiB,"
                f"  grep {row['grep_kib'] / 1024:6.1f} MiB"
            )
        result["peak_rss"] = rss
        print(f"\nsaved {save('ddp', [result])}")


if __name__ == "__main__":
    main()
