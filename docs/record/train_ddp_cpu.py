"""A small CPU DDP training run for the README's `mltools record` example.

torchrun starts 2 ranks (gloo); each has a DataLoader worker; every epoch prints
`Epoch N` (what `--mark 'Epoch \\d+'` turns into markers) and marks its eval phase
with `mltools.mark("eval")`.
"""

import os

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

import mltools


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = TensorDataset(torch.randn(6000, 256), torch.randint(0, 10, (6000,)))
    loader = DataLoader(data, batch_size=64, sampler=DistributedSampler(data), num_workers=1)
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        if rank == 0:
            print(f"Epoch {epoch}", flush=True)
        mltools.mark("eval")
        with torch.no_grad():
            model(torch.randn(20000, 256)).argmax(1)
    dist.destroy_process_group()
    if rank == 0:
        print("done, pid", os.getpid())


if __name__ == "__main__":
    main()
