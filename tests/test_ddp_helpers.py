"""Import helpers: per-rank seeds, rank-0 guards, rank-tagged logging, setup()."""

from __future__ import annotations

import logging
import random
import subprocess
import sys

import pytest

from mltools.ddp import helpers
from mltools.ddp.helpers import (
    DistributedSetupError,
    is_main_process,
    rank_zero_only,
    seed_everything,
    setup,
    setup_logging,
)
from tests.conftest import mltools_env


def test_public_names_resolve_lazily_without_torch():
    code = (
        "import sys; from mltools import ddp_setup, seed_everything, is_main_process,"
        " rank_zero_only, setup_logging, analyze_log; import mltools.ddp as d;"
        " assert d.setup is ddp_setup; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stdout.strip() == "False", out.stderr


def test_seed_everything_differs_per_rank_and_is_reproducible(monkeypatch):
    import torch

    # seed_everything sets PYTHONHASHSEED in os.environ, which every later test's children
    # inherit: monkeypatch restores (here: removes) it after the test
    monkeypatch.setenv("PYTHONHASHSEED", "0")

    assert seed_everything(7, rank=0) == 7
    a = (random.random(), torch.rand(1).item())
    seed_everything(7, rank=0)
    assert (random.random(), torch.rand(1).item()) == a
    assert seed_everything(7, rank=3) == 10
    assert (random.random(), torch.rand(1).item()) != a


def test_rank_helpers_follow_rank_env(monkeypatch):
    @rank_zero_only
    def save() -> str:
        return "saved"

    monkeypatch.setenv("PYTHONHASHSEED", "0")  # seed_everything sets it: restored after
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()
    assert save() is None
    assert seed_everything(5) == 6
    monkeypatch.setenv("RANK", "0")
    assert is_main_process()
    assert save() == "saved"
    monkeypatch.delenv("RANK")
    assert is_main_process()


def test_setup_logging_per_rank_files_and_console_on_rank_zero(tmp_path, capsys):
    log0 = setup_logging(tmp_path / "logs", rank=0, name="t0")
    log0.info("from zero")
    log1 = setup_logging(tmp_path / "logs", rank=1, name="t1")
    log1.info("from one")
    err = capsys.readouterr().err
    assert "[rank0] INFO t0: from zero" in err
    assert "from one" not in err
    assert "[rank1] INFO t1: from one" in (tmp_path / "logs" / "rank1.log").read_text()
    assert "from zero" in (tmp_path / "logs" / "rank0.log").read_text()
    # calling again replaces our handlers instead of stacking them
    log0 = setup_logging(tmp_path / "logs", rank=0, name="t0")
    assert sum(getattr(h, "_mltools", False) for h in log0.handlers) == 2
    for logger in (log0, log1):
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
    with pytest.raises(helpers.UsageError):
        setup_logging(console="sometimes")


def test_setup_logging_console_all_and_none(capsys):
    log = setup_logging(rank=2, console="all", name="t2", level=logging.WARNING)
    log.warning("visible")
    log.info("filtered")
    assert capsys.readouterr().err.count("[rank2]") == 1
    log = setup_logging(rank=0, console="none", name="t2")
    log.warning("silent")
    assert capsys.readouterr().err == ""


def test_setup_without_launcher(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = setup()
    assert (info.rank, info.world_size, info.local_rank, info.backend) == (0, 1, 0, "none")
    assert info.is_main
    with pytest.raises(DistributedSetupError, match="RANK"):
        setup(allow_single_process=False)
    monkeypatch.setenv("RANK", "x")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DistributedSetupError, match="not an integer"):
        setup()
