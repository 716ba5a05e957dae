"""Benchmark `mltools gpu`: snapshot of 8 fake GPUs with processes, and CLI startup.

1. One snapshot of 8 GPUs, each with a real process on it, through the real
   ``pynvml`` over the emulated C library (tests/_nvml_double.py), for both tools:
   - gpustat's ``GPUStatCollection.new_query()`` (it sleeps 0.1 s per GPU to
     sample the processes' CPU %);
   - ``mltools.gpu.snapshot()`` as one-shot (one shared 0.1 s CPU window for all
     processes) and repeated in one interpreter as ``--watch`` does (no window:
     CPU % comes from the previous frame);
   - ``mltools.gpu.snapshot(cpu_interval=0)`` (NVML and /proc only).
2. Startup: ``mltools gpu --help`` vs ``nvitop --help`` and ``gpustat --help``.

Run: python benchmarks/bench_gpu.py [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import Case, compare, mltools_argv, save


def snapshot_cases() -> tuple[list[Case], list[subprocess.Popen]]:
    from tests._fake_nvml import GiB, gpu
    from tests._nvml_double import activate_from_env

    children = [subprocess.Popen(["sleep", "600"]) for _ in range(8)]
    gpus = [
        gpu(i, mem_used=3 * GiB, util_gpu=50, compute=[{"pid": c.pid, "mem": 3 * GiB}])
        for i, c in enumerate(children)
    ]
    # the C double preloaded: pynvml's own CDLL("libnvidia-ml.so.1") finds it, as on a GPU box
    os.environ["MLTOOLS_TEST_FAKE_NVML"] = json.dumps({"gpus": gpus})
    activate_from_env()
    try:
        from gpustat.core import GPUStatCollection
    except Exception as exc:  # gpustat missing or incompatible: compare mltools only
        GPUStatCollection = None
        print(f"(gpustat skipped: {type(exc).__name__}: {exc})")

    import mltools.gpu as mgpu
    from mltools.gpu import procinfo

    def one_shot() -> None:
        procinfo._CACHE.clear()  # as in a fresh `mltools gpu` process: one 0.1 s CPU window
        mgpu.snapshot()

    cases = [
        Case("mltools snapshot() one-shot", func=one_shot),
        Case("mltools snapshot() repeated (--watch)", func=mgpu.snapshot),
        Case("mltools snapshot(cpu_interval=0)", func=lambda: mgpu.snapshot(cpu_interval=0)),
    ]
    if GPUStatCollection is not None:
        query = GPUStatCollection.new_query()
        assert len(query.gpus) == 8 and all(len(g.processes) == 1 for g in query.gpus)
        cases.insert(0, Case("gpustat new_query()", func=GPUStatCollection.new_query))
    snap = mgpu.snapshot()
    assert len(snap.gpus) == 8 and all(len(g.processes) == 1 for g in snap.gpus)
    return cases, children


def startup_cases() -> list[Case]:
    cases = [Case("mltools gpu --help", argv=mltools_argv("gpu", "--help"))]
    for tool in ("nvitop", "gpustat"):
        exe = shutil.which(tool)
        if exe:
            cases.append(Case(f"{tool} --help", argv=[exe, "--help"]))
    return cases


def main() -> None:
    quick = "--quick" in sys.argv
    results = []
    cases, children = snapshot_cases()
    try:
        title = "snapshot of 8 fake GPUs, 1 process each"
        repeat = 5 if quick else 15
        results.append(compare(title, cases, baseline="mltools snapshot() one-shot", repeat=repeat))
    finally:
        for child in children:
            child.kill()
            child.wait()
    results.append(
        compare(
            "startup", startup_cases(), baseline="mltools gpu --help", repeat=5 if quick else 15
        )
    )
    print(f"\nsaved {save('gpu', results)}")


if __name__ == "__main__":
    main()
