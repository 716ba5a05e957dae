"""Import helpers for training scripts: the DDP chores done once, correctly.

``setup()`` initialises the process group from torchrun's environment,
``seed_everything`` gives each rank its own reproducible seed,
``is_main_process``/``rank_zero_only`` guard rank-0-only work, and
``setup_logging`` gives rank-tagged records with console output on rank 0 and
one log file per rank.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mltools._deps import require
from mltools.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


class DistributedSetupError(UsageError):
    """The process was not started the way DDP setup expects."""


@dataclass
class DistInfo:
    """What ``setup()`` found: rank, world size, local rank, device and backend."""

    rank: int
    world_size: int
    local_rank: int
    device: Any  # torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise DistributedSetupError(
                f"environment variable {name} is not set",
                hint="launch with torchrun (it sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)",
            )
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedSetupError(f"{name}={value!r} is not an integer") from None


def setup(
    backend: str | None = None,
    *,
    timeout: datetime.timedelta | float = datetime.timedelta(minutes=10),
    allow_single_process: bool = True,
) -> DistInfo:
    """Initialise torch.distributed from torchrun's environment and pick this rank's device.

    Reads RANK/WORLD_SIZE/LOCAL_RANK, calls ``torch.cuda.set_device(local_rank)``
    *before* ``init_process_group`` (so NCCL binds each rank to its own GPU),
    uses NCCL on GPUs and Gloo on the CPU, and a 10-minute timeout (the default
    30 minutes hides hangs for half an hour). Without torchrun's variables and
    with ``allow_single_process`` it returns rank 0 of 1 without a process group.
    Calling it again returns the same answer.
    """
    torch = require("torch")
    import torch.distributed as dist

    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        if not allow_single_process:
            _env_int("RANK")
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return DistInfo(0, 1, 0, device, "none")
    rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", rank)
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise DistributedSetupError(
                f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPU(s) are visible",
                hint="launch at most one process per GPU (--nproc-per-node) and check CUDA_VISIBLE_DEVICES",
            )
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        default_backend = "nccl"
    else:
        device = torch.device("cpu")
        default_backend = "gloo"
    backend = backend or default_backend
    if not isinstance(timeout, datetime.timedelta):
        timeout = datetime.timedelta(seconds=float(timeout))
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {
            "backend": backend,
            "timeout": timeout,
            "rank": rank,
            "world_size": world,
        }
        if device.type == "cuda":
            kwargs["device_id"] = device
        dist.init_process_group(**kwargs)
    return DistInfo(rank, world, local_rank, device, dist.get_backend())


def get_rank() -> int:
    """This process's global rank: from the process group when initialised, else RANK, else 0."""
    if "torch" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main_process() -> bool:
    """True on global rank 0 (and in a single-process run)."""
    return get_rank() == 0


def rank_zero_only(func: F) -> F:
    """Decorator: run ``func`` on rank 0 only; other ranks get ``None`` back."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if is_main_process():
            return func(*args, **kwargs)
        return None

    return wrapper  # type: ignore[return-value]


def seed_everything(seed: int, rank: int | None = None, *, deterministic: bool = False) -> int:
    """Seed Python, NumPy and torch with ``seed + rank`` and return the seed used.

    Each rank gets a different, reproducible stream (identical seeds make every
    rank draw the same augmentations and dropout masks). ``deterministic=True``
    also asks torch for deterministic kernels.
    """
    if rank is None:
        rank = get_rank()
    value = (int(seed) + int(rank)) % 2**32
    random.seed(value)
    os.environ["PYTHONHASHSEED"] = str(value)
    try:
        import numpy as np

        np.random.seed(value)
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return value
    torch.manual_seed(value)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return value


class _RankFilter(logging.Filter):
    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        return True


def setup_logging(
    log_dir: str | os.PathLike[str] | None = None,
    *,
    level: int | str = logging.INFO,
    console: str = "main",
    rank: int | None = None,
    name: str | None = None,
    fmt: str = "%(asctime)s [rank%(rank)s] %(levelname)s %(name)s: %(message)s",
) -> logging.Logger:
    """Configure logging for a multi-process job and return the logger.

    Every record carries ``[rankN]``. The console (stderr) gets records on rank 0
    only (``console="main"``), on every rank (``"all"``) or on none (``"none"``).
    With ``log_dir``, each rank writes its own ``rank{N}.log`` there (the
    directory is created with ``exist_ok`` so ranks do not race on it), so ranks
    never clobber each other's files. Calling it again replaces the handlers it
    added before.
    """
    if console not in ("main", "all", "none"):
        raise UsageError(f"console must be 'main', 'all' or 'none', not {console!r}")
    rank = get_rank() if rank is None else rank
    logger = logging.getLogger(name)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if getattr(handler, "_mltools", False):
            logger.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(fmt)
    handlers: list[logging.Handler] = []
    if console == "all" or (console == "main" and rank == 0):
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_dir is not None:
        directory = Path(log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(directory / f"rank{rank}.log", encoding="utf-8"))
    for handler in handlers:
        handler._mltools = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(_RankFilter(rank))
        logger.addHandler(handler)
    if name is None:
        logging.captureWarnings(True)
    return logger
