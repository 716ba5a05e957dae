"""Startup: `mltools --help`, `mltools cpu --json` and a TAB completion, side by side.

Compared in one interleaved run against `python -c pass` (the floor), `nvitop
--help` and `gpustat --help` (what users install first), and `lscpu` for the
cpu report. Install the contenders into the same environment first:
``pip install nvitop gpustat``. Missing contenders are skipped and reported.

    python benchmarks/bench_startup.py [--repeat N] [--quick]

The cpu report samples usage over ``--interval 0.05`` (it cannot be 0: nothing would be
measured), so its time includes that 50 ms; lscpu samples nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Case, compare, mltools_argv, save


def tool(name: str, *args: str) -> list[str] | None:
    exe = shutil.which(name) or str(Path(sys.executable).with_name(name))
    return [exe, *args] if Path(exe).exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per contender")
    parser.add_argument("--quick", action="store_true", help="5 runs per contender")
    args = parser.parse_args()
    repeat = 5 if args.quick else args.repeat

    floor = Case("python -c pass", [sys.executable, "-c", "pass"])
    others = {
        "nvitop --help": tool("nvitop", "--help"),
        "gpustat --help": tool("gpustat", "--help"),
        "lscpu": tool("lscpu"),
    }
    missing = [name for name, argv in others.items() if argv is None]
    extra = [Case(name, argv) for name, argv in others.items() if argv is not None]
    completion = Case(
        "mltools <TAB> (bash completion of 'mltools c')",
        mltools_argv(),
        env={"_MLTOOLS_COMPLETE": "complete_bash", "COMP_WORDS": "mltools c", "COMP_CWORD": "1"},
    )
    cases = [
        floor,
        Case("mltools --help", mltools_argv("--help")),
        Case("mltools gpu --help", mltools_argv("gpu", "--help")),
        Case(
            "mltools cpu --json --interval 0.05",
            mltools_argv("cpu", "--json", "--interval", "0.05"),
        ),
        completion,
        *extra,
    ]
    results = [compare("startup", cases, baseline="python -c pass", repeat=repeat)]
    by_name = {c.name: c.median for c in cases}
    print()
    if "nvitop --help" in by_name:
        ratio = by_name["mltools --help"] / by_name["nvitop --help"]
        print(f"mltools --help / nvitop --help          = {ratio:.2f}x (target <= 1.0)")
    if "gpustat --help" in by_name:
        ratio = by_name["mltools --help"] / by_name["gpustat --help"]
        print(f"mltools --help / gpustat --help         = {ratio:.2f}x")
    ratio = completion.median / floor.median
    print(f"completion request / python -c pass     = {ratio:.2f}x (target <= 6.0)")
    if "lscpu" in by_name:
        ratio = by_name["mltools cpu --json --interval 0.05"] / by_name["lscpu"]
        print(f"mltools cpu --json -i 0.05 / lscpu      = {ratio:.2f}x (50 ms of it sampling)")
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")
    print(f"results: {save('startup', results)}")


if __name__ == "__main__":
    main()
