"""A DDP job (gloo, CPU) that switches between healthy and hung shapes on request.

Usage: ``torchrun --nproc-per-node 2 tests/_hang_scenarios.py CONTROL_DIR``, or under any
launcher that sets a rank vocabulary (Open MPI's ``OMPI_COMM_WORLD_*``, MPICH's ``PMI_*``,
Slurm's ``SLURM_PROCID``/``SLURM_NTASKS``, with ``MASTER_ADDR``/``MASTER_PORT``), or
``python tests/_hang_scenarios.py CONTROL_DIR --spawn N PORT`` (``torch.multiprocessing.spawn``:
no rank in any environment, ``init_process_group(rank=i, world_size=N)``).

Rank 0 reads ``CONTROL_DIR/phase`` at the top of every iteration and broadcasts
it, so every rank runs the same phase. Every iteration each rank writes
``CONTROL_DIR/ack-PHASE-RANK`` (its pid inside), right before the phase's work:
the tests wait on those files, never on sleeps. ``CONTROL_DIR/fifo`` (made and
held open by the test) is what a blocked rank reads from; one byte releases it.

Phases and the verdict ``ddp-doctor hang`` must give (see tests/test_ddp_hang_scenarios.py):

=========== ============================================== =================
paced       a step, then time.sleep(0.2)                    progressing
slow_paced  a step, then time.sleep(1.5) (mostly asleep)    progressing
compute     matmuls, then a step (pure compute)             progressing
loader      a DataLoader with 2 slow workers feeds the step progressing
imbalanced  the stall rank computes 10x longer; the others  progressing
            wait for it in all_reduce most of the time
long_wait   rank 0 "saves a checkpoint" (3 s asleep) while    progressing
            the others wait for it in a barrier
stall       the stall rank blocks reading the fifo (Python) odd_rank_stuck
poll        the stall rank polls for a file every 50 ms     odd_rank_stuck
            (``CONTROL_DIR/go`` releases it)
gil         a thread of the stall rank runs a runaway regex odd_rank_stuck (the
            that holds the GIL; its main thread waits        thread named);
            (cannot be released: the job's last phase)       never ends
native      the stall rank blocks in libc read() via ctypes odd_rank_stuck
exit        the stall rank forks a helper (inherits RANK)   exited (the
            and exits 0; the others wait in all_reduce      helper ignored)
stop        leave the loop                                  (ends the job)
=========== ============================================== =================

A rank stopped from outside (SIGSTOP) during ``paced`` must give ``stopped``.
``STALL_RANK`` (environment) picks the rank that misbehaves (default: the last).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

PHASES = [
    "paced", "slow_paced", "compute", "loader", "imbalanced", "stall", "native", "exit", "stop",
    "long_wait", "poll", "gil",
]  # fmt: skip


class SlowDataset(torch.utils.data.Dataset):
    """Each item costs a little waiting, like reading from a slow disk."""

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, i: int) -> torch.Tensor:
        time.sleep(0.02)
        return torch.randn(64)


def sync(t: torch.Tensor) -> None:
    dist.all_reduce(t)  # LINE_WAIT


def blocked_read(fd: int) -> bytes:
    return os.read(fd, 1)  # LINE_STALL


def native_read(fd: int) -> int:
    buf = ctypes.create_string_buffer(1)
    return ctypes.CDLL(None).read(fd, buf, 1)  # LINE_NATIVE


def save_checkpoint() -> None:
    time.sleep(3.0)  # LINE_SAVE


def wait_for_file(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)  # LINE_POLL


def runaway() -> None:
    re.match(r"(a+)+$", "a" * 64 + "b")  # LINE_RUNAWAY


def start_scanner() -> None:
    threading.Thread(target=runaway, name="regex-scan", daemon=True).start()  # LINE_GIL


def leave_a_helper_behind() -> None:
    """Fork a helper that keeps this rank's sockets (so the peers keep waiting), then exit."""
    if os.fork() == 0:
        time.sleep(3600)  # LINE_HELPER
        os._exit(0)
    os._exit(0)


_VOCAB = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
)


def init() -> None:
    """torch's env:// when RANK is set, else the launcher's own vocabulary over tcp://."""
    if "RANK" in os.environ:
        dist.init_process_group("gloo", timeout=timedelta(hours=1))
        return
    rank_key, size_key = next(v for v in _VOCAB if v[0] in os.environ)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        rank=int(os.environ[rank_key]),
        world_size=int(os.environ[size_key]),
        timeout=timedelta(hours=1),
    )


def spawned(i: int, control: str, world: int, port: int) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=i, world_size=world,
        timeout=timedelta(hours=1),
    )  # fmt: skip
    run(Path(control))


def main() -> None:
    control = Path(sys.argv[1])
    if "--spawn" in sys.argv:
        world, port = (int(a) for a in sys.argv[sys.argv.index("--spawn") + 1 :][:2])
        os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        torch.multiprocessing.spawn(spawned, args=(str(control), world, port), nprocs=world)
        return
    init()
    run(control)


def run(control: Path) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    stall_rank = int(os.environ.get("STALL_RANK", world - 1))
    torch.manual_seed(rank)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(64, 64))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    weights = torch.randn(192, 192)
    loader = None
    fd = None

    def step(batch: torch.Tensor) -> None:
        loss = model(batch).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    while True:
        code = torch.zeros(1, dtype=torch.int64)
        if rank == 0:
            try:
                code[0] = PHASES.index((control / "phase").read_text().strip())
            except (OSError, ValueError):
                code[0] = 0
        dist.broadcast(code, 0)
        phase = PHASES[int(code[0])]
        (control / f"ack-{phase}-{rank}").write_text(str(os.getpid()))
        if phase == "stop":
            break
        if phase == "paced":
            step(torch.randn(8, 64))
            time.sleep(0.2)
        elif phase == "slow_paced":
            step(torch.randn(8, 64))
            time.sleep(1.5)
        elif phase == "compute":
            x = torch.randn(192, 192)
            for _ in range(30):
                x = torch.tanh(x @ weights)
            step(x[:8, :64].contiguous())
        elif phase == "imbalanced":
            x = torch.randn(192, 192)
            for _ in range(60 if rank == stall_rank else 6):
                x = torch.tanh(x @ weights)
            sync(x[:1, :4].contiguous())
            step(torch.randn(8, 64))
        elif phase == "loader":
            if loader is None:
                loader = iter(
                    torch.utils.data.DataLoader(SlowDataset(), batch_size=8, num_workers=2)
                )
            step(next(loader))
        elif phase == "long_wait":
            if rank == 0:
                save_checkpoint()
            dist.barrier()
            step(torch.randn(8, 64))
        elif phase == "poll":
            if rank == stall_rank:
                wait_for_file(control / "go")
            sync(torch.ones(4))
        elif phase == "gil":
            if rank == stall_rank:
                start_scanner()
            sync(torch.ones(4))
        elif phase in ("stall", "native", "exit"):
            if rank == stall_rank:
                if fd is None:
                    fd = os.open(control / "fifo", os.O_RDONLY)
                if phase == "stall":
                    blocked_read(fd)
                elif phase == "native":
                    native_read(fd)
                else:
                    leave_a_helper_behind()
            sync(torch.ones(4))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
