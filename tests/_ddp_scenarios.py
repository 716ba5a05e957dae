"""Small DDP programs that fail on purpose (gloo, CPU), run under torchrun by the tests.

Usage: ``torchrun --nproc-per-node 2 tests/_ddp_scenarios.py SCENARIO``.
"""

from __future__ import annotations

import atexit
import datetime
import os
import sys

import torch
import torch.distributed as dist


def unused_parameters() -> None:
    """A model with a branch that never runs: DDP's reducer complains on the 2nd step."""
    dist.init_process_group("gloo")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = torch.nn.Linear(4, 4)
            self.unused = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    model = torch.nn.parallel.DistributedDataParallel(Net())
    for _ in range(2):
        model(torch.randn(2, 4)).sum().backward()


def mismatched_collectives() -> None:
    """Rank 0 all-reduces while rank 1 broadcasts a tensor of another shape."""
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=10))
    t = torch.ones(4 if dist.get_rank() == 0 else 8)
    if dist.get_rank() == 0:
        dist.all_reduce(t)
    else:
        dist.broadcast(t, src=0)
    dist.barrier()


def crashed_rank() -> None:
    """Rank 1 raises mid-training; rank 0 waits in a collective until torchrun stops it."""
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    if dist.get_rank() == 1:
        raise RuntimeError("simulated failure in the data pipeline on rank 1")
    dist.barrier()


def segfault() -> None:
    """Rank 1 reads address 0 from C: the kernel sends it SIGSEGV."""
    import ctypes

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    if dist.get_rank() == 1:
        ctypes.string_at(0)
    dist.barrier()


def sigkill() -> None:
    """Rank 1 is killed with SIGKILL, as the kernel's OOM killer does."""
    import signal

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    if dist.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def no_process_group() -> None:
    """A collective before init_process_group."""
    dist.all_reduce(torch.ones(2))


def dataloader_worker_killed() -> None:
    """A DataLoader worker of rank 1 dies of SIGKILL (the shm or host-memory killer)."""
    import signal

    class Data(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> float:
            if int(os.environ["RANK"]) == 1 and i == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return 1.0

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    # batches of plain floats: a tensor goes back through a shared-memory handle, and a worker
    # killed during that hand-over leaves only a "Connection reset by peer"
    loader = torch.utils.data.DataLoader(Data(), num_workers=1, batch_size=1, collate_fn=list)
    for batch in loader:
        dist.all_reduce(torch.tensor(batch))


def silent_rank() -> None:
    """Rank 1 never joins the all-reduce: rank 0 times out waiting for it."""
    import time

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=5))
    if dist.get_rank() == 1:
        time.sleep(60)
    dist.all_reduce(torch.ones(2))


def aborted_after_a_warning() -> None:
    """A channels_last model (DDP warns that grad strides differ), then rank 1 aborts."""

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Conv2d(3, 8, 3))
    model = model.to(memory_format=torch.channels_last)
    for _ in range(2):
        model(torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)).sum().backward()
    if dist.get_rank() == 1:
        os.abort()
    dist.barrier()


def skipped_barrier() -> None:
    """Rank 1 skips a monitored barrier: rank 0's barrier names it after 3 s."""
    import time

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))
    if dist.get_rank() == 1:
        time.sleep(15)  # (torchrun stops it when rank 0 fails)
    else:
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=3))


def compile_backend_fails() -> None:
    """torch.compile of a DDP model whose backend raises: dynamo reports the backend."""
    dist.init_process_group("gloo")

    def broken_backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> object:
        raise RuntimeError("the backend cannot lower this graph")

    compiled = torch.compile(torch.nn.Linear(4, 4), backend=broken_backend)
    model = torch.nn.parallel.DistributedDataParallel(compiled)
    model(torch.randn(2, 4)).sum().backward()


def agent_terminated() -> None:
    """The launcher itself gets SIGTERM (a scheduler's preemption): it stops every rank."""
    import signal
    import time

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    dist.barrier()
    if dist.get_rank() == 0:
        os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(60)


def local_rank_argument() -> None:
    """A script whose argparse does not know the --local-rank that torch.distributed.launch
    passes (run as python -m torch.distributed.launch ... SCRIPT local_rank_argument)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--epochs", type=int, default=1)
    parser.parse_args()


def compiled_healthy() -> None:
    """A compiled DDP model that trains two steps (DDPOptimizer splits it into buckets)."""
    dist.init_process_group("gloo")
    compiled = torch.compile(torch.nn.Linear(4, 4), backend="eager")
    model = torch.nn.parallel.DistributedDataParallel(compiled)
    for _ in range(2):
        model(torch.randn(2, 4)).sum().backward()
    print("step 2 done", flush=True)


def healthy_with_warnings() -> None:
    """A healthy epoch that prints the warnings people paste with their logs: more DataLoader
    workers than cores, checkpoint's use_reentrant, find_unused_parameters with none unused."""
    import torch.utils.checkpoint as checkpoint

    dist.init_process_group("gloo")
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4))
    model = torch.nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)
    rows = torch.utils.data.TensorDataset(torch.randn(8, 4))
    for (x,) in torch.utils.data.DataLoader(rows, batch_size=2, num_workers=8):
        checkpoint.checkpoint(model, x.requires_grad_()).sum().backward()
    dist.barrier()
    print("epoch done", flush=True)


def clean() -> None:
    """A short, successful run."""
    dist.init_process_group("gloo")
    t = torch.ones(2)
    dist.all_reduce(t)
    print(f"step 1 loss {float(t.sum()):.3f}", flush=True)
    dist.destroy_process_group()


def helpers() -> None:
    """The import helpers under torchrun: setup, per-rank seeds, rank-0-only work, logging."""
    import json
    import random

    from mltools.ddp import is_main_process, rank_zero_only, seed_everything, setup, setup_logging

    info = setup()
    seed = seed_everything(100)
    log = setup_logging(os.environ["LOG_DIR"], name="train")
    log.info("hello from the training loop")

    @rank_zero_only
    def save() -> str:
        return "saved"

    t = torch.ones(1) * (info.rank + 1)
    dist.all_reduce(t)
    # one write per line: print() writes the text and the newline separately, and the two
    # ranks share the pipe
    sys.stdout.write(
        json.dumps(
            {
                "rank": info.rank,
                "world_size": info.world_size,
                "local_rank": info.local_rank,
                "device": str(info.device),
                "backend": info.backend,
                "seed": seed,
                "draw": random.random(),
                "main": is_main_process(),
                "saved": save(),
                "sum": float(t.item()),
            }
        )
        + "\n"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    globals()[next(a for a in sys.argv[1:] if not a.startswith("-"))]()
    if dist.is_initialized():
        dist.destroy_process_group()
    # A scenario that returned is a finished run: write what Python writes at exit (the atexit
    # handlers: logging's flush, dynamo's and FakeTensor's end-of-run reports), then leave
    # without the interpreter's teardown. There, about once in a few hundred compiled runs
    # under load, torch 2.13 destroys a C++ thread still joinable ("terminate called without an
    # active exception", SIGABRT after every atexit report was printed): torch's teardown, not
    # the run these tests read, and it turned a healthy run's exit code into -6 in CI.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
