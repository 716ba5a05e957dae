"""Benchmark `mltools record`'s overhead: CPU time per sample with 8 GPUs and 50 processes.

The machine is emulated the way the tests do it: the real nvidia-ml-py on the C double of
libnvidia-ml (tests/nvml_double/), 8 GPUs, each holding memory for one process of a real
50-process tree (a shell and 49 sleeps). Three samplers take samples back to back, in
interleaved rounds, and the CPU time this process spent per sample is compared:

- ``mltools record``: one ``Recorder.step()``: every GPU (NVML kept open by the shared
  Sampler), the tree's 50 processes (CPU, RSS, I/O, GPU memory per GPU), the host, and the
  JSON line written and flushed;
- ``nvidia-smi --query-gpu ... -l`` style polling through pynvml (NVML kept open): the
  query's fields per GPU (utilisation, memory, power, energy, temperature, clocks,
  throttle reasons, PCIe) and a CSV line; no processes at all;
- nvitop's ``ResourceMetricCollector(root_pids={tree})``: one ``take_snapshots()`` (what its
  daemon thread runs every interval): host, GPUs and the tree's GPU processes.

The recorder's overhead at its default interval is its CPU per sample / 1 s; the issue asks
for under 1 % of one core. NVML calls cost more on a real driver than on the double (which
answers from memory), so the GPU part here is a lower bound; the process part is real.

Run: python benchmarks/bench_record.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import save

GPUS, PROCESSES = 8, 50


def _tree() -> tuple[subprocess.Popen, list[int]]:
    """A shell with 49 sleeping children; its pid and theirs."""
    root = subprocess.Popen(
        ["bash", "-c", f"for i in $(seq {PROCESSES - 1}); do sleep 600 & done; "
                       "echo ready; wait"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert root.stdout is not None and root.stdout.readline() == "ready\n"
    import psutil

    kids = [p.pid for p in psutil.Process(root.pid).children()]
    assert len(kids) == PROCESSES - 1, len(kids)
    return root, kids


def _double(kids: list[int], spec_file: Path) -> None:
    from tests import _nvml_double
    from tests._fake_nvml import GiB, gpu

    spec = {"gpus": [
        gpu(i, util_gpu=60 + i, mem_used=(10 + i) * GiB, energy_mj=10**9 + i, pcie_tx_kib=1000,
            pcie_rx_kib=2000, compute=[{"pid": kids[i], "mem": (9 + i) * GiB, "sm": 50}])
        for i in range(GPUS)
    ]}  # fmt: skip
    _nvml_double.write_spec(spec_file, spec)
    os.environ["MLTOOLS_TEST_FAKE_NVML"] = json.dumps({"spec_file": str(spec_file)})
    _nvml_double.activate_from_env()


def _smi_poller():
    """What `nvidia-smi --query-gpu=timestamp,utilization.gpu,... -l 1` reads, via pynvml."""
    import pynvml as nv

    nv.nvmlInit()
    handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
    sink = open(os.devnull, "w")  # noqa: SIM115 (the benchmark's lifetime)

    def poll() -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        for h in handles:
            util = nv.nvmlDeviceGetUtilizationRates(h)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            row = [stamp, util.gpu, util.memory, mem.used, mem.total,
                   nv.nvmlDeviceGetPowerUsage(h), nv.nvmlDeviceGetTotalEnergyConsumption(h),
                   nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
                   nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
                   nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
                   nv.nvmlDeviceGetCurrentClocksEventReasons(h),
                   nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_TX_BYTES),
                   nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_RX_BYTES)]  # fmt: skip
            sink.write(", ".join(map(str, row)) + "\n")
        sink.flush()

    return poll


def _nvitop(root: int):
    import logging

    from nvitop import Device, ResourceMetricCollector

    # it logs each NVML function the double does not export (max clocks, driver model ...)
    # with a traceback; those fields are then skipped, so its time here is a lower bound
    logging.getLogger("nvitop.api.libnvml").setLevel(logging.CRITICAL)

    collector = ResourceMetricCollector(Device.all(), root_pids={root}, interval=1.0)
    return collector.take_snapshots


def _recorder(root: int, folder: Path):
    from mltools.record import Recorder

    rec = Recorder(folder / "run", interval=1.0, command=["bench"])
    rec.start(root)
    return rec.step, rec


def main() -> int:
    quick = "--quick" in sys.argv
    rounds, per_round = (5, 10) if quick else (15, 20)
    root, kids = _tree()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _double(kids, folder / "spec.txt")
            (folder / "run").mkdir()
            step, rec = _recorder(root.pid, folder)
            contenders = {"mltools record (Recorder.step)": step,
                          "nvidia-smi -l style (pynvml, GPUs only)": _smi_poller(),
                          "nvitop ResourceMetricCollector": _nvitop(root.pid)}  # fmt: skip
            for fn in contenders.values():  # warm-up: imports, first windows
                fn()
            times: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(rounds):
                for name, fn in contenders.items():
                    start = time.process_time()
                    for _ in range(per_round):
                        fn()
                    times[name].append((time.process_time() - start) / per_round)
            processes = sum(1 for _ in (folder / "run" / "samples.jsonl").open())
            last = json.loads((folder / "run" / "samples.jsonl").read_text().splitlines()[-1])
            assert len(last["gpus"]) == GPUS and len(last["processes"]) == PROCESSES, (
                len(last["gpus"]), len(last["processes"]))  # fmt: skip
            rec.log.close()
    finally:
        os.killpg(root.pid, 9)
        root.wait()
    base = statistics.median(times["mltools record (Recorder.step)"])
    rows = []
    print(f"CPU time per sample, {GPUS} emulated GPUs, a {PROCESSES}-process tree "
          f"(median of {rounds} rounds x {per_round} samples; {processes} lines written)")  # fmt: skip
    print(f"{'sampler':44} {'ms/sample':>10} {'% of a core at 1 s':>19} {'ratio':>6}")
    for name, values in times.items():
        med = statistics.median(values)
        rows.append({"name": name, "cpu_seconds_per_sample": med, "core_percent_at_1s": 100 * med,
                     "ratio_to_record": med / base})  # fmt: skip
        print(f"{name:44} {1000 * med:10.2f} {100 * med:18.2f}% {med / base:6.2f}")
    save("bench_record", [{"title": "record overhead", "gpus": GPUS, "processes": PROCESSES,
                           "cases": rows}])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
