"""The program inside each rank of the smoke test: ``torchrun ... -m mltools.ddp.smoke``.

Runs, in order: process-group init, barrier, all_reduce (result checked), broadcast
(checked), all_gather (checked), two tiny DDP training steps (parameters checked equal
across ranks), then all_reduce bus bandwidth over a range of sizes (nccl-tests' busbw =
algbw * 2(n-1)/n). Each step is recorded (:mod:`mltools.ddp.smoke_events`) and bounded
by a watchdog; under ``run_smoke`` the driver reads the record, alone (several nodes)
rank 0 prints the summary. ``--inject`` makes one rank misbehave on purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from mltools.ddp.smoke_events import (
    CRASH_EXIT_CODE,
    DIR_ENV,
    FAULTS,
    FR_PREFIX,
    FR_TRIGGER,
    PARENT_ENV,
    STEPS,
    Recorder,
    external_fault,
    rank_result,
)
from mltools.stopper import alive

_ERROR_KINDS = (
    (
        "unused_parameters",
        re.compile(r"finished reduction in the prior iteration|did not receive grad"),
    ),
    (
        "peer_died",
        re.compile(
            r"closed by peer|reset by peer|Broken pipe|remote worker|Connection refused", re.I
        ),
    ),
    ("mismatch", re.compile(r"mismatch", re.I)),
    ("timeout", re.compile(r"timed out|timeout", re.I)),
)


def _classify(message: str) -> str:
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return "error"


class _FakeLoader:
    """A data loader yielding tiny batches; with ``stall`` it blocks like a stuck worker."""

    def __init__(self, stall: bool, device: Any) -> None:
        self.stall, self.device = stall, device

    def __iter__(self) -> _FakeLoader:
        return self

    def __next__(self) -> Any:
        import torch

        if self.stall:
            time.sleep(3600)  # injected: this rank's input pipeline never delivers
        return torch.randn(8, 16, device=self.device)


def _make_model() -> Any:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(16, 16)
            self.head = torch.nn.Linear(16, 1)

        def forward(self, x: Any, skip_head: bool = False) -> Any:
            h = self.body(x)
            return h if skip_head else self.head(torch.relu(h))

    torch.manual_seed(0)
    return Tiny()


def _ddp_step(dist: Any, device: Any, inject: bool, fault: str | None) -> dict[str, Any]:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    model = _make_model().to(device)
    ddp = DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    loader = _FakeLoader(stall=inject and fault == "stall", device=device)
    skip = inject and fault == "unused-params"
    names = [n for n, _ in model.named_parameters()]
    try:
        for _ in range(2):
            batch = next(loader)
            loss = ddp(batch, skip_head=skip).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    except RuntimeError as exc:
        m = re.search(r"did not receive grad for rank \d+: ([\d ,]+)", str(exc))
        if m:
            idx = [int(i) for i in re.findall(r"\d+", m.group(1))]
            exc.unused = [names[i] for i in idx if i < len(names)]  # type: ignore[attr-defined]
        raise
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    values = [float(g) for g in gathered]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise _WrongResult(f"parameters differ across ranks after the DDP step: {values}")
    return {"loss": float(loss.detach()), "param_checksum": values[0]}


class _WrongResult(Exception):
    pass


def _busbw(dist: Any, device: Any, max_bytes: int) -> list[dict[str, float]]:
    import torch

    world = dist.get_world_size()
    rows = []
    size = 4096
    while size <= max_bytes:
        t = torch.ones(size // 4, dtype=torch.float32, device=device)
        iters = 5 if size <= 1 << 20 else 3
        dist.all_reduce(t)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        _sync(device)
        elapsed = (time.perf_counter() - start) / iters
        algbw = size / elapsed / 1e9
        rows.append(
            {
                "size_bytes": size,
                "time_seconds": elapsed,
                "algbw_gbps": algbw,
                "busbw_gbps": algbw * 2 * (world - 1) / world,
            }
        )
        size *= 4
    return rows


def _sync(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _run_step(rec: Recorder, step: str, fn: Any) -> Any:
    rec.write(event="step_start", step=step)
    rec.open_step = (step, time.monotonic())
    start = time.perf_counter()
    try:
        detail = fn()
    except _WrongResult as exc:
        rec.write(
            event="step_end",
            step=step,
            status="failed",
            error=str(exc),
            kind="wrong_result",
            duration_seconds=time.perf_counter() - start,
        )
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())[:600] or type(exc).__name__
        extra = {"unused_parameters": exc.unused} if hasattr(exc, "unused") else {}
        rec.write(
            event="step_end",
            step=step,
            status="failed",
            error=message,
            kind=_classify(message),
            duration_seconds=time.perf_counter() - start,
            detail=extra,
        )
        raise
    rec.open_step = None
    rec.write(
        event="step_end",
        step=step,
        status="ok",
        duration_seconds=time.perf_counter() - start,
        detail=detail if isinstance(detail, dict) else {"rows": detail} if detail else {},
    )
    return detail


def _watchdog(rec: Recorder, hard_timeout: float, parent: int | None) -> None:
    """Bound every step even without a parent watching (torchrun mode), and never orphan."""
    import faulthandler

    dumped = False
    trigger = rec.path.parent / FR_TRIGGER if rec.path is not None else None
    while True:
        time.sleep(0.2)
        if parent is not None and not alive(parent):
            os._exit(125)
        if trigger is not None and not dumped and trigger.exists():
            dumped = True
            _dump_flight_recorder(trigger.parent / f"{FR_PREFIX}{rec.rank}")
        current = rec.open_step
        if current and time.monotonic() - current[1] > hard_timeout:
            rec.write(
                event="step_end",
                step=current[0],
                status="hung",
                kind="timeout",
                error=f"step {current[0]} did not finish within {hard_timeout:.0f}s",
            )
            sys.stderr.write(f"[rank {rec.rank}] step {current[0]} hung; Python stacks follow\n")
            faulthandler.dump_traceback(all_threads=True)
            os._exit(124)


def _dump_flight_recorder(path: Path) -> None:
    """Write this rank's flight-recorder buffer (the parent asked: a step hangs)."""
    try:
        import torch._C._distributed_c10d as c10d

        data = c10d._dump_fr_trace()
    except Exception as exc:  # an old torch, or no recorder: the stacks still tell
        sys.stderr.write(f"[flight recorder] no dump: {exc}\n")
        return
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(path)


def rank_main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of one rank (``torchrun ... -m mltools.ddp.smoke``); exits 0 ok, 1 failed."""
    parser = argparse.ArgumentParser(
        prog="python -m mltools.ddp.smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--inject", choices=FAULTS, default=None)
    parser.add_argument("--inject-rank", type=int, default=None, help="default: the last rank")
    parser.add_argument("--max-bytes", type=int, default=None, help="largest busbw message")
    parser.add_argument("--json", action="store_true", help="rank 0 prints the summary as JSON")
    args = parser.parse_args(argv)

    import datetime

    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    directory = os.environ.get(DIR_ENV)
    parent = int(os.environ[PARENT_ENV]) if os.environ.get(PARENT_ENV) else None
    rec = Recorder(directory, rank)
    rec.write(event="start", pid=os.getpid(), world_size=world)
    # With a parent watching, it analyses a hang first; this watchdog is the safety net.
    hard = args.timeout * 4 + 60 if directory else args.timeout
    threading.Thread(target=_watchdog, args=(rec, hard, parent), daemon=True).start()

    backend = args.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    device = torch.device(f"cuda:{local_rank}") if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    inject_rank = world - 1 if args.inject_rank is None else args.inject_rank
    me = args.inject is not None and rank == inject_rank
    fault = args.inject
    max_bytes = args.max_bytes or ((256 << 20) if backend == "nccl" else (4 << 20))
    pg_timeout = datetime.timedelta(seconds=hard + 30)

    def init() -> dict[str, Any]:
        if me and fault == "freeze":
            sys.stderr.write(f"[rank {rank}] injected freeze: SIGSTOP during init\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSTOP)
        dist.init_process_group(
            backend, timeout=pg_timeout, device_id=device if device.type == "cuda" else None
        )
        return {"backend": backend, "world_size": dist.get_world_size()}

    def barrier() -> None:
        dist.barrier()

    def all_reduce() -> dict[str, Any]:
        t = torch.full((1024,), float(rank + 1), device=device)
        if me and fault == "crash":
            sys.stderr.write(f"[rank {rank}] injected crash: exiting with {CRASH_EXIT_CODE}\n")
            sys.stderr.flush()
            os._exit(CRASH_EXIT_CODE)
        if me and fault == "mismatch":
            dist.broadcast(t, 0)  # injected: a different collective than the other ranks
        else:
            dist.all_reduce(t)
        expected = world * (world + 1) / 2
        if not bool(torch.all(t == expected)):
            raise _WrongResult(f"all_reduce gave {float(t[0])}, expected {expected}")
        return {"value": float(t[0])}

    def broadcast() -> None:
        t = (
            torch.arange(256, dtype=torch.float32, device=device)
            if rank == 0
            else torch.zeros(256, device=device)
        )
        dist.broadcast(t, 0)
        if not bool(torch.all(t == torch.arange(256, dtype=torch.float32, device=device))):
            raise _WrongResult("broadcast from rank 0 arrived corrupted")

    def all_gather() -> None:
        t = torch.full((64,), float(rank), device=device)
        out = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(out, t)
        bad = [i for i, o in enumerate(out) if not bool(torch.all(o == i))]
        if bad:
            raise _WrongResult(f"all_gather: the slots of ranks {bad} are wrong")

    steps = {
        "init": init,
        "barrier": barrier,
        "all_reduce": all_reduce,
        "broadcast": broadcast,
        "all_gather": all_gather,
        "ddp_step": lambda: _ddp_step(dist, device, me, fault),
        "busbw": lambda: _busbw(dist, device, max_bytes),
    }
    code = 0
    try:
        for name in STEPS:
            _run_step(rec, name, steps[name])
    except Exception as exc:  # recorded by _run_step; the launcher sees a non-zero exit
        sys.stderr.write(f"[rank {rank}] smoke failed: {' '.join(str(exc).split())[:300]}\n")
        outside = external_fault(str(exc))
        if outside:  # torchrun mode has no parent to explain it
            sys.stderr.write(
                f"[rank {rank}] cause: {outside[0]}\n[rank {rank}] fix: {outside[1]}\n"
            )
        code = 1
    rec.write(event="exit", code=code)
    if code == 0 and directory is None:
        _print_rank0_summary(dist, rec, rank, args.json, backend)
    if dist.is_initialized() and code == 0:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: a failed gloo group can block at exit


def _print_rank0_summary(dist: Any, rec: Recorder, rank: int, as_json: bool, backend: str) -> None:
    events: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(events, rec.events)
    if rank != 0:
        return
    ranks = [rank_result(r, evs, None) for r, evs in enumerate(events)]
    busbw = next((s.detail.get("rows", []) for s in ranks[0].steps if s.step == "busbw"), [])
    summary = {"ok": True, "backend": backend, "nproc": len(ranks), "ranks": ranks, "busbw": busbw}
    if as_json:
        from dataclasses import asdict

        summary["ranks"] = [asdict(r) for r in ranks]
        print(json.dumps(summary, indent=2))
        return
    print(f"smoke ok: {len(ranks)} ranks, backend {backend}")
    for row in busbw:
        print(f"  all_reduce {row['size_bytes']:>10} B  busbw {row['busbw_gbps']:8.3f} GB/s")


if __name__ == "__main__":
    rank_main()
