"""`mltools ckpt inspect` vs `torch.load` on a >= 1 GiB checkpoint and on 20,000 small tensors.

Writes a training-style checkpoint (a transformer-ish state dict plus optimizer
moments) under /tmp, times both side by side (interleaved, median), measures each
one's peak RSS (``/usr/bin/time -f %M``), prints the ratios, and deletes the file.
Then a ``torch.save`` file of 20,000 small tensors (the shape of an optimizer state):
``inspect_checkpoint()`` against CPython's C unpickler with stub classes on the same
``data.pkl`` (the floor for any reader of it), and ``mltools ckpt inspect`` against
``python -c "import torch; torch.load(..., weights_only=True, mmap=True)"``.

    python benchmarks/bench_ckpt.py            # 1.1 GiB, 5 rounds (about a minute)
    python benchmarks/bench_ckpt.py --quick    # 1.1 GiB, 3 rounds
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import REPO, Case, compare, mltools_argv, save

sys.path.insert(0, str(REPO))

GIB = 1 << 30


def make_checkpoint(path: Path, target_bytes: int) -> None:
    """A state dict of 4 MiB-64 MiB float32 tensors plus Adam moments, ``target_bytes`` in all."""
    import torch

    layers = {}
    total = 0
    i = 0
    while total < target_bytes // 2:
        for name, shape in (("attn.qkv.weight", (3072, 1024)), ("mlp.fc.weight", (4096, 1024))):
            t = torch.full(shape, float(i), dtype=torch.float32)
            layers[f"layers.{i}.{name}"] = t
            layers[f"layers.{i}.{name.replace('weight', 'bias')}"] = torch.zeros(shape[0])
            total += t.numel() * 4 + shape[0] * 4
        i += 1
    optimizer = {
        "state": {n: {"exp_avg": torch.zeros_like(t)} for n, t in enumerate(layers.values())},
        "param_groups": [{"lr": 1e-4, "params": list(range(len(layers)))}],
    }
    torch.save({"model": layers, "optimizer": optimizer, "step": 1000}, path)


def make_many_tensors(path: Path, count: int = 20_000) -> None:
    """``count`` 4x3 float32 tensors in one state dict (a 2 MB ``data.pkl``)."""
    import torch

    state = {f"layers.{i // 4}.block.{i % 4}.weight": torch.zeros(4, 3) for i in range(count)}
    torch.save(state, path)


def c_unpickler_floor(data: bytes) -> object:
    """CPython's C unpickler over ``data`` with stub classes: no reader of it can be faster.

    The garbage collector is paused while it runs, as ``inspect_checkpoint`` pauses it: with
    it on, the floor's time depends on how many objects the process already holds (with
    torch imported, a collection during the load costs more than the load).
    """
    import collections
    import gc
    import io
    import pickle

    class Stub:
        def __init__(self, *args: object) -> None:
            self.args = args

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            return collections.OrderedDict if name == "OrderedDict" else Stub

        def persistent_load(self, pid: object) -> object:
            return pid

    collecting = gc.isenabled()
    gc.disable()
    try:
        return Unpickler(io.BytesIO(data)).load()
    finally:
        if collecting:
            gc.enable()


@dataclass
class CpuCase(Case):
    """A ``Case`` that also records CPU seconds: its own for a callable, the child's for a
    command (the machine is shared; wall time alone moves with the load)."""

    cpu: list[float] = field(default_factory=list)

    def run_once(self) -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = time.process_time()
        elapsed = super().run_once()
        if self.argv is not None:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        else:
            spent = time.process_time() - own
        self.cpu.append(spent)
        return elapsed


def cpu_ratios(result: dict[str, object], cases: list[CpuCase], baseline: str) -> None:
    """Print and record each case's median CPU seconds and its ratio to ``baseline``'s."""
    base = statistics.median(next(c for c in cases if c.name == baseline).cpu)
    print(f"  CPU seconds (median; ratio = CPU / {baseline}'s)")
    for case, row in zip(cases, result["cases"]):  # type: ignore[call-overload]
        cpu = statistics.median(case.cpu)
        row["median_cpu_s"] = cpu
        row["cpu_ratio"] = cpu / base if base else float("nan")
        print(f"  {case.name:<42}  {cpu * 1000:9.1f} ms  {row['cpu_ratio']:6.2f}x")


def many_tensors(tmp: Path, repeat: int) -> list[dict[str, object]]:
    """The 20,000-tensor file: in-process against the C floor, whole commands against torch."""
    import zipfile

    from mltools.ckpt import inspect_checkpoint

    path = tmp / "many.pt"
    subprocess.run([sys.executable, __file__, "--make-many", str(path)], check=True)
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    print(
        f"\n20,000 tensors: {path} ({path.stat().st_size / 2**20:.1f} MiB, data.pkl {len(data)} B)"
    )
    floor = "C unpickler with stubs (data.pkl)"
    local = [
        CpuCase(floor, func=lambda: c_unpickler_floor(data)),
        CpuCase("inspect_checkpoint()", func=lambda: inspect_checkpoint(path)),
    ]
    in_process = compare("20,000 tensors, in this process", local, baseline=floor, repeat=repeat)
    cpu_ratios(in_process, local, floor)
    code = f"import torch; torch.load({str(path)!r}, weights_only=True, mmap=True)"
    commands = [
        CpuCase(
            "mltools ckpt inspect --json",
            argv=mltools_argv("ckpt", "inspect", "--json", str(path)),
        ),
        CpuCase("mltools ckpt inspect (table)", argv=mltools_argv("ckpt", "inspect", str(path))),
        CpuCase("torch.load(weights_only=True, mmap=True)", argv=[sys.executable, "-c", code]),
    ]
    whole = compare(
        "20,000 tensors, whole commands",
        commands,
        baseline="mltools ckpt inspect --json",
        repeat=repeat,
    )
    cpu_ratios(whole, commands, "mltools ckpt inspect --json")
    return [in_process, whole]


def peak_rss_bytes(argv: list[str]) -> int:
    """Run ``argv`` once and return its peak RSS in bytes.

    ``/usr/bin/time -f %M`` when present (the measured process is forked from the small
    ``time`` process); otherwise ``os.wait4``'s ru_maxrss. Linux carries the RSS
    high-water mark across fork+exec, so this script keeps its own memory small (the
    checkpoint is written by a child process).
    """
    if Path("/usr/bin/time").exists():
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
        return int(out.stderr.strip().splitlines()[-1]) * 1024
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    parser.add_argument("--size-gib", type=float, default=1.1, help="checkpoint size (GiB)")
    parser.add_argument("--make", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--make-many", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:  # child mode: write the checkpoint and exit
        make_checkpoint(Path(args.make), int(args.size_gib * GIB))
        return
    if args.make_many:
        make_many_tensors(Path(args.make_many))
        return
    env = {"PYTHONPATH": str(REPO)}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory(prefix="bench_ckpt_", dir="/tmp") as tmp:
        # first, while this process holds few objects and no torch
        many = many_tensors(Path(tmp), 3 if args.quick else 5)
        path = Path(tmp) / "big.ckpt"
        subprocess.run(
            [sys.executable, __file__, "--make", str(path), "--size-gib", str(args.size_gib)],
            check=True,
        )
        size = path.stat().st_size
        print(f"checkpoint: {path} ({size / GIB:.2f} GiB)")
        inspect_argv = mltools_argv("ckpt", "inspect", "--json", str(path))
        load_code = f"import torch; torch.load({str(path)!r}, map_location='cpu')"
        mmap_code = f"import torch; torch.load({str(path)!r}, map_location='cpu', mmap=True)"
        cases = [
            CpuCase("mltools ckpt inspect", argv=inspect_argv, env=env),
            CpuCase("torch.load(map_location=cpu)", argv=[sys.executable, "-c", load_code]),
            CpuCase("torch.load(mmap=True)", argv=[sys.executable, "-c", mmap_code]),
        ]
        result = compare(
            f"inspect a {size / GIB:.2f} GiB checkpoint",
            cases,
            baseline="mltools ckpt inspect",
            repeat=3 if args.quick else 5,
        )
        cpu_ratios(result, cases, "mltools ckpt inspect")
        import torch

        from mltools.ckpt import inspect_checkpoint

        library = compare(
            "the same, as library calls in this process (no interpreter start-up)",
            [
                Case("inspect_checkpoint()", func=lambda: inspect_checkpoint(path)),
                Case(
                    "torch.load(map_location=cpu)",
                    func=lambda: torch.load(path, map_location="cpu"),
                ),
            ],
            baseline="inspect_checkpoint()",
            repeat=3 if args.quick else 5,
        )
        rss = {c.name: peak_rss_bytes(list(c.argv or [])) for c in cases}
        print("\n## peak RSS (one run each)")
        for name, value in rss.items():
            print(f"  {name:<30} {value / 2**20:8.1f} MiB")
        t_inspect = cases[0].median
        t_load = cases[1].median
        print(
            f"\ninspect is {t_load / t_inspect:.1f}x faster than torch.load "
            f"and uses {rss[cases[1].name] / rss[cases[0].name]:.1f}x less peak memory "
            f"({rss[cases[0].name] / 2**20:.1f} MiB vs {rss[cases[1].name] / 2**20:.1f} MiB)"
        )
        result["peak_rss_bytes"] = rss
        result["checkpoint_bytes"] = size
        path.unlink()
        print(f"saved {save('ckpt', [result, library, *many])}")


if __name__ == "__main__":
    main()
