"""parallel_apply vs plain ``df.apply`` and the peers, side by side.

1. A CPU-heavy row function over 200,000 rows (``--quick``: 50,000), 2 workers,
   every contender in a fresh process each run, interleaved (A B C A B C ...):
   what is timed is the library's import and start-up (pool, chunking, our
   replay pass) plus the apply, after pandas and the frame are ready.
   Contenders: ``df.apply``, ``parallel_apply`` (auto, and each backend that
   runs here), and the peers where they import: pandarallel, parallel-pandas,
   mapply, swifter (``pip install pandarallel parallel-pandas mapply swifter``
   next to pandas 2.2.3: most do not import on pandas 3). Each is first checked
   to return exactly ``df.apply``'s result.
2. Overhead on a 1,000-row frame with a cheap function: ``df.apply`` vs
   ``parallel_apply`` (auto, which stays serial).

Run: python benchmarks/bench_apply.py [--quick] [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks._harness import Case, compare, save
from mltools.frame import Parallel, available_backends, parallel_apply

WORKERS = 2


def heavy(row: pd.Series) -> int:
    """A Python-level row function costing some tens of microseconds (no numpy inside)."""
    acc = int(row["a"])
    for i in range(300):
        acc = (acc * 31 + i) % 1_000_003
    return acc + len(row["s"])


def cheap(row: pd.Series) -> float:
    return row["a"] * 2.0 + row["b"]


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.integers(0, 1000, n),
            "b": rng.random(n),
            "s": rng.choice(["alpha", "beta", "gamma"], n),
        }
    )


# -- one contender in a fresh process ---------------------------------------------------------------
def _contender(name: str, df: pd.DataFrame):
    """The call that runs ``name`` (its imports and start-up are part of what is timed)."""
    if name == "df.apply":
        return lambda: df.apply(heavy, axis=1)
    if name.startswith("parallel_apply"):
        from mltools.frame import Parallel, parallel_apply

        backend = name[len("parallel_apply[") : -1] if "[" in name else "auto"
        options = Parallel(backend=backend, workers=WORKERS, progress=False)
        return lambda: parallel_apply(df, heavy, axis=1, parallel=options)
    if name == "pandarallel":
        from pandarallel import pandarallel

        pandarallel.initialize(nb_workers=WORKERS, progress_bar=False, verbose=0)
        return lambda: df.parallel_apply(heavy, axis=1)
    if name == "parallel-pandas":
        from parallel_pandas import ParallelPandas

        ParallelPandas.initialize(n_cpu=WORKERS, disable_pr_bar=True)
        return lambda: df.p_apply(heavy, axis=1)
    if name == "mapply":
        import mapply

        mapply.init(n_workers=WORKERS, progressbar=False, chunk_size=1)
        return lambda: df.mapply(heavy, axis=1)
    if name == "swifter":
        import swifter  # noqa: F401

        return lambda: (
            df.swifter.progress_bar(False).allow_dask_on_strings(True).apply(heavy, axis=1)
        )
    raise ValueError(name)


PEERS = ["pandarallel", "parallel-pandas", "mapply", "swifter"]


def child(name: str, rows: int, check: bool) -> None:
    """Print the seconds one fresh process takes for ``name``: import, start-up, apply."""
    import resource

    df = frame(rows)

    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    me, kids = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = _contender(name, df)()
    elapsed = time.perf_counter() - start
    if name == "parallel_apply[loky]":  # loky keeps its workers: stop them to count their CPU
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    me, kids = cpu(resource.RUSAGE_SELF) - me, cpu(resource.RUSAGE_CHILDREN) - kids
    if check:
        pd.testing.assert_series_equal(result, df.apply(heavy, axis=1))
    print(f"SECONDS {elapsed:.6f} {me:.6f} {kids:.6f}")


def fresh_process_table(rows: int, repeat: int) -> dict[str, object]:
    """Every contender in its own fresh process, interleaved (A B C A B C ...)."""
    import subprocess

    names = ["df.apply", "parallel_apply", "parallel_apply[loky]"]
    if available_backends()["pandarallel"] is None:
        names.append("parallel_apply[pandarallel]")
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    usable = []
    for name in [*names, *PEERS]:  # once each, checking the result against df.apply
        out = subprocess.run(
            [*me, name, "--rows", str(rows), "--check"], capture_output=True, text=True
        )
        if out.returncode == 0:
            usable.append(name)
        else:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  {name}: not measured ({last[:160]})")
    times: dict[str, list[float]] = {name: [] for name in usable}
    ideal: dict[str, list[float]] = {name: [] for name in usable}
    for _ in range(repeat):
        for name in usable:
            out = subprocess.run([*me, name, "--rows", str(rows)], capture_output=True, text=True)
            wall, own, kids = map(float, out.stdout.split("SECONDS")[-1].split())
            times[name].append(wall)
            # the run's length on WORKERS idle cores: the caller's CPU plus its workers'
            # CPU spread over WORKERS cores (what a loaded, shared machine cannot show)
            ideal[name].append(own + kids / WORKERS if kids > 0 else (own if name in SERIAL else 0))
    import statistics

    base = statistics.median(times["df.apply"])
    base_ideal = statistics.median(ideal["df.apply"])
    print(
        f"\n## fresh process each run: CPU-heavy row function, {rows:,} rows, {WORKERS} workers "
        f"(median of {repeat}, interleaved; speed-up = df.apply / contender)"
    )
    print(f"  {'':<28} {'wall':>8}  {'speed-up':>8}  {'from CPU s':>10}")
    rows_out = []
    for name in usable:
        median = statistics.median(times[name])
        cpu_time = statistics.median(ideal[name])
        by_cpu = base_ideal / cpu_time if cpu_time else float("nan")
        print(f"  {name:<28} {median:7.2f}s  {base / median:7.2f}x  {by_cpu:9.2f}x")
        rows_out.append(
            {"name": name, "median_s": median, "speedup": base / median, "speedup_cpu": by_cpu}
        )
    return {"title": "fresh process", "rows": rows, "repeat": repeat, "cases": rows_out}


SERIAL = {"df.apply"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows, fewer repeats")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=None, help="rows of the heavy case")
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process rounds (default 3)")
    opts = parser.parse_args()
    rows = opts.rows or (50_000 if opts.quick else 200_000)
    if opts.child:
        child(opts.child, rows, opts.check)
        return
    status = available_backends()
    print(
        f"pandas {pd.__version__}; backends: "
        + ", ".join(f"{k}={'ok' if v is None else 'unavailable'}" for k, v in status.items())
    )
    fresh = fresh_process_table(rows, opts.repeat)

    small = frame(1_000)
    small_cases = [
        Case("df.apply", func=lambda: small.apply(cheap, axis=1)),
        Case(
            "parallel_apply[auto]",
            func=lambda: parallel_apply(
                small, cheap, axis=1, parallel=Parallel(workers=WORKERS, progress=False)
            ),
        ),
    ]
    small_result = compare(
        "overhead: cheap function, 1,000 rows", small_cases, baseline="df.apply", repeat=31
    )
    path = save("bench_apply", [fresh, small_result])
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
