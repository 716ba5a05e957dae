"""Real DDP failures on the CPU (gloo, 2 processes under torchrun), named by the doctor."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.ddp.logscan import analyze_log
from tests.conftest import mltools_env

pytestmark = [pytest.mark.slow, pytest.mark.needs("torchrun")]

SCENARIOS = Path(__file__).with_name("_ddp_scenarios.py")


def torchrun(scenario: str, port: int | None = None) -> list[str]:
    """torchrun on 2 ranks; without ``port`` it picks its own (--standalone binds port 0), so
    no port is chosen here, closed, and taken by someone else before torchrun binds it."""
    where = (
        ["--standalone"]
        if port is None
        else ["--master-addr", "127.0.0.1", "--master-port", str(port)]
    )
    return ["torchrun", "--nproc-per-node", "2", *where, str(SCENARIOS), scenario]


def run_to_log(tmp_path: Path, scenario: str, **env: str) -> Path:
    log = tmp_path / f"{scenario}.log"
    with log.open("wb") as fh:
        proc = subprocess.run(
            torchrun(scenario),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=mltools_env({"OMP_NUM_THREADS": "1", **env}),
            timeout=120,
        )
    assert proc.returncode != 0
    return log


def test_real_unused_parameters(tmp_path):
    report = analyze_log(run_to_log(tmp_path, "unused_parameters"))
    root = report.findings[0]
    assert root.id == "unused_parameters"
    assert set(root.ranks) <= {0, 1} and root.ranks
    assert "find_unused_parameters" in root.fix


def test_real_mismatched_collectives(tmp_path):
    report = analyze_log(
        run_to_log(tmp_path, "mismatched_collectives", TORCH_DISTRIBUTED_DEBUG="DETAIL")
    )
    assert report.findings[0].id == "rank_mismatch_collective"
    assert all(f.id != "rank_exception" for f in report.findings)


def test_real_crashed_rank_through_ddp_doctor_run(tmp_path, run_mltools):
    log = tmp_path / "crash.log"
    result = run_mltools(
        "ddp-doctor", "run", "-p", "fail-fast", "--log", str(log), "--", *torchrun("crashed_rank"),
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 1  # torchrun's exit code, passed through
    assert "[rank1]: RuntimeError: simulated failure" in result.stderr  # streamed through
    assert "root cause: rank_exception on rank 1" in result.stderr
    assert "victims (failed after it): rank 0" in result.stderr
    out = subprocess.run(
        [sys.executable, "-m", "mltools", "ddp-doctor", "log", "--json", str(log)],
        capture_output=True,
        text=True,
        env=mltools_env(),
    )
    findings = json.loads(out.stdout)["findings"]
    assert (findings[0]["id"], findings[0]["rank"], findings[0]["victims"]) == (
        "rank_exception",
        1,
        [0],
    )
    assert "simulated failure" in findings[0]["evidence"][0]["text"]
    assert {f["id"] for f in findings[1:]} <= {"peer_crashed", "rank_terminated", "nccl_timeout"}


def test_real_port_in_use(tmp_path, run_mltools):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_mltools(
            "ddp-doctor", "run", "--log", str(tmp_path / "port.log"), "--", *torchrun("clean", port),
            env={"OMP_NUM_THREADS": "1"},
        )  # fmt: skip
    assert result.returncode == 1
    assert "root cause: address_in_use" in result.stderr


def test_real_helpers_under_torchrun(tmp_path, run_mltools):
    result = run_mltools(
        "ddp-doctor", "run", "--diagnose", "always", "--log", str(tmp_path / "ok.log"), "--",
        *torchrun("helpers"), env={"OMP_NUM_THREADS": "1", "LOG_DIR": str(tmp_path / "logs")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ddp-doctor: no known DDP failure in " in result.stderr
    rows = sorted(
        (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")),
        key=lambda r: r["rank"],
    )
    assert [r["rank"] for r in rows] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in rows)
    assert [r["local_rank"] for r in rows] == [0, 1]
    assert [r["seed"] for r in rows] == [100, 101]
    assert rows[0]["draw"] != rows[1]["draw"]
    assert [r["main"] for r in rows] == [True, False]
    assert [r["saved"] for r in rows] == ["saved", None]
    assert rows[0]["sum"] == 3.0
    for rank in (0, 1):
        text = (tmp_path / "logs" / f"rank{rank}.log").read_text()
        assert f"[rank{rank}] INFO train: hello from the training loop" in text
    assert "[rank0] INFO train: hello" in result.stderr
    assert "[rank1] INFO train: hello" not in result.stderr
