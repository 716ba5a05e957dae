"""Shared benchmark harness: time contenders side by side, interleaved, report ratios.

Each benchmark script builds a list of ``Case``s (a command line or a Python
callable) and calls ``compare``. Runs are interleaved (A B C A B C ...) so that
machine noise hits every contender alike; the median is reported, with each
case's ratio to a named baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class CaseFailed(RuntimeError):
    """A contender's command exited with a code it does not document for this input: its
    time would measure an error message, not the work."""


@dataclass
class Case:
    name: str
    argv: Sequence[str] | None = None  # a command to run, or
    func: Callable[[], object] | None = None  # a Python callable to call
    env: dict[str, str] | None = None
    times: list[float] = field(default_factory=list)
    # the exit codes of a run that did the work (e.g. 5: ddp-doctor log found something)
    ok_codes: tuple[int, ...] = (0,)

    def run_once(self) -> float:
        start = time.perf_counter()
        if self.argv is not None:
            env = {**os.environ, **(self.env or {})}
            done = subprocess.run(
                self.argv,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            if done.returncode not in self.ok_codes:
                tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
                raise CaseFailed(
                    f"{self.name}: exit {done.returncode} (expected {self.ok_codes}) from "
                    f"{' '.join(map(str, self.argv))}: {' | '.join(tail) or 'no stderr'}"
                )
        else:
            assert self.func is not None
            self.func()
        elapsed = time.perf_counter() - start
        self.times.append(elapsed)
        return elapsed

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def compile_package() -> None:
    """Write the package's bytecode, as ``pip install`` does: a source checkout run with
    ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module on every run (in
    2026-12 about 40% of ``mltools du``'s start-up), which no installed copy pays."""
    import compileall

    compileall.compile_dir(REPO / "mltools", quiet=1)


def mltools_argv(*args: str) -> list[str]:
    """``mltools ARGS`` through the console script if installed, else ``python -m`` (with
    the package's bytecode written first: ``compile_package``)."""
    compile_package()
    exe = Path(sys.executable).with_name("mltools")
    if exe.exists():
        return [str(exe), *args]
    return [sys.executable, "-m", "mltools", *args]


def compare(
    title: str, cases: Sequence[Case], *, baseline: str, repeat: int = 15, warmup: int = 1
) -> dict[str, object]:
    """Run every case ``repeat`` times interleaved; print medians and ratios to ``baseline``.

    A command that exits with a code its ``Case`` does not expect ends the script (exit
    1, naming the case and its stderr): a timed usage error is not a result.
    """
    try:
        for _ in range(warmup):
            for case in cases:
                case.run_once()
            for case in cases:
                case.times.clear()
        for _ in range(repeat):
            for case in cases:
                case.run_once()
    except CaseFailed as exc:
        raise SystemExit(f"benchmark {title!r} failed: {exc}") from None
    base = next(c for c in cases if c.name == baseline).median
    print(f"\n## {title}  (median of {repeat}, interleaved; ratio = time / {baseline})")
    width = max(len(c.name) for c in cases)
    rows = []
    for case in cases:
        ratio = case.median / base if base else float("nan")
        print(f"  {case.name:<{width}}  {case.median * 1000:9.1f} ms  {ratio:6.2f}x")
        rows.append({"name": case.name, "median_s": case.median, "ratio": ratio})
    return {"title": title, "baseline": baseline, "repeat": repeat, "cases": rows}


def save(name: str, results: list[dict[str, object]]) -> Path:
    """Write results as JSON under benchmarks/results/ (ignored by git)."""
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    return path
