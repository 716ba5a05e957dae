"""A tiny gloo DDP job for the record test under torchrun: each rank runs a DataLoader
with one worker that stays until the rank has marked, then all-reduces once."""

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

import mltools


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    loader = DataLoader(list(range(64)), batch_size=8, num_workers=1, persistent_workers=True)
    batches = iter(loader)
    next(batches)  # the worker is up
    mltools.mark(f"worker up {rank}")
    print(f"rank {rank} ready", flush=True)
    x = torch.ones(1)
    dist.all_reduce(x)  # every rank got here: both workers are up
    # hold the workers until the recorder has seen them: rank 0 waits for the test's go
    if rank == 0:
        input()
    dist.barrier()
    del batches, loader
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
