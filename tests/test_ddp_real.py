"""Real DDP failures on the CPU (gloo, 2 processes under torchrun), named by the doctor."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.ddp.logscan import analyze_log, analyze_text
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


# Each failure the catalogue names, made for real by torch under torchrun (gloo, 2 ranks):
# (scenario, launcher options, expected root cause, the rank it names or None for any)
REAL_FAILURES = [
    ("segfault", [], "segfault", 1),
    ("segfault", ["--tee", "3"], "segfault", 1),  # "[default1]:" prefixes
    ("sigkill", [], "killed_by_signal", 1),
    ("no_process_group", [], "pg_not_initialized", None),
    # (no rank: when the worker dies during torch's own excepthook, the message comes out
    # under "Error in sys.excepthook:" without the [rankN]: prefix)
    ("dataloader_worker_killed", [], "dataloader_killed", None),
    ("dataloader_worker_killed", ["--tee", "3"], "dataloader_killed", None),
    ("silent_rank", [], "nccl_timeout", 0),  # gloo's recv timeout on the rank that waited
    # rank 1 aborts (SIGABRT, no line of its own) after DDP's grad-strides warning: the
    # launcher's word names it; the warning and rank 0's reset socket come after
    ("aborted_after_a_warning", [], "rank_failed", 1),
    ("aborted_after_a_warning", ["--tee", "3"], "rank_failed", 1),
    # rank 0's monitored barrier names rank 1, the one that never arrived
    ("skipped_barrier", [], "rank_mismatch_collective", 1),
    ("compile_backend_fails", [], "compile_ddp", None),
    ("agent_terminated", [], "agent_signal", None),
]


def _launch(
    tmp_path: Path, name: str, argv: list[str], omp: bool = True, **env_vars: str
) -> tuple[int, Path]:
    """Run a launcher with its output in a log file; ``omp=False`` leaves OMP_NUM_THREADS
    unset, so torchrun prints its warning about it."""
    env = mltools_env({"OMP_NUM_THREADS": "1", **env_vars})
    if not omp:
        del env["OMP_NUM_THREADS"]
    log = tmp_path / f"{name}.log"
    with log.open("wb") as fh:
        proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=180)
    return proc.returncode, log


def _hard_wrap(text: str, width: int) -> str:
    return "\n".join(
        line[i : i + width] for line in text.split("\n") for i in range(0, max(len(line), 1), width)
    )


@pytest.mark.parametrize(
    ("scenario", "options", "expected", "rank"),
    REAL_FAILURES,
    ids=[f"{s}{''.join(o)}" for s, o, _, _ in REAL_FAILURES],
)
def test_real_failures_are_named_plain_and_wrapped_by_a_terminal(
    tmp_path, scenario, options, expected, rank
):
    argv = ["torchrun", "--nproc-per-node", "2", "--standalone", *options, str(SCENARIOS), scenario]
    code, log = _launch(tmp_path, scenario, argv)
    assert code != 0
    text = log.read_text(errors="replace")
    root = analyze_log(log).findings[0]
    assert root.id == expected, text[-3000:]
    if rank is not None:
        assert root.rank == rank, text[-3000:]
    # the same log as a terminal 80 columns wide hard-wrapped it, pasted into an issue
    assert analyze_text(_hard_wrap(text, 80)).findings[0].id == expected


def test_real_local_rank_argument_under_the_deprecated_launcher(tmp_path):
    argv = [
        sys.executable, "-m", "torch.distributed.launch", "--nproc_per_node", "2", "--standalone",
        str(SCENARIOS), "local_rank_argument",
    ]  # fmt: skip
    code, log = _launch(tmp_path, "launch", argv)
    assert code != 0
    assert analyze_log(log).findings[0].id == "local_rank_arg"


def test_real_rendezvous_that_a_second_node_never_joins(tmp_path):
    argv = [
        "torchrun", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
        "--rdzv-endpoint", "127.0.0.1:0", "--rdzv-conf", "join_timeout=3",
        str(SCENARIOS), "clean",
    ]  # fmt: skip
    code, log = _launch(tmp_path, "rdzv", argv)
    assert code != 0
    assert analyze_log(log).findings[0].id == "rendezvous_timeout"


@pytest.mark.parametrize("options", [[], ["--tee", "3"]], ids=["plain", "tee"])
def test_real_healthy_runs_with_the_launchers_warnings_stay_clean(tmp_path, options):
    # no OMP_NUM_THREADS: torchrun prints its starred warning block; --tee prefixes each line
    argv = ["torchrun", "--nproc-per-node", "2", "--standalone", *options, str(SCENARIOS), "clean"]
    code, log = _launch(tmp_path, "clean", argv, omp=False)
    assert code == 0
    text = log.read_text(errors="replace")
    assert "step 1 loss" in text
    assert analyze_log(log).findings == [], text
    assert analyze_text(_hard_wrap(text, 80)).findings == []


@pytest.mark.needs("tmux")
@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("segfault", "segfault"), ("compile_backend_fails", "compile_ddp"), ("clean", None)],
)
def test_real_log_copied_from_an_80_column_terminal(tmp_path, scenario, expected):
    """The job runs in a real 80x50 tmux pane; the pane's text, as a user copies it (tmux
    breaks every long line at the pane's width), is what the doctor reads."""
    socket_name = f"mltools-ddp-{os.getpid()}-{tmp_path.name}"  # unique per test run
    script = tmp_path / "job.sh"
    env = mltools_env({"OMP_NUM_THREADS": "1"})
    script.write_text(
        f"export PYTHONPATH={shlex.quote(env['PYTHONPATH'])} OMP_NUM_THREADS=1\n"
        f"{shlex.join(['torchrun', '--nproc-per-node', '2', '--standalone', str(SCENARIOS), scenario])}\n"
        f"tmux -L {socket_name} wait-for -S job-done\n"
        "sleep 600\n"
    )
    tmux = ["tmux", "-L", socket_name, "-f", "/dev/null"]
    start = [*tmux, "new-session", "-d", "-x", "80", "-y", "50", "bash", str(script)]
    subprocess.run(start, check=True, timeout=30)
    try:
        subprocess.run([*tmux, "wait-for", "job-done"], check=True, timeout=180)
        pane = subprocess.run(
            [*tmux, "capture-pane", "-p", "-S", "-"], capture_output=True, text=True, timeout=30
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
    assert max(map(len, pane.splitlines())) <= 80  # the terminal did wrap it
    ids = [f.id for f in analyze_text(pane).findings]
    assert ids[:1] == ([expected] if expected else []), pane


@pytest.mark.parametrize(
    ("scenario", "env_vars"),
    [
        # every healthy compiled DDP run logs "DDPOptimizer used bucket cap ..." at INFO, and
        # +dynamo prints the stack where each compile began, frame by frame, at verbose level
        ("compiled_healthy", {"TORCH_LOGS": "+dynamo,+distributed"}),
        # c10d's C++ INFO lines, the agent's INFO logging and the DETAIL debug checks
        (
            "clean",
            {
                "TORCH_DISTRIBUTED_DEBUG": "DETAIL",
                "TORCH_CPP_LOG_LEVEL": "INFO",
                "LOGLEVEL": "INFO",
            },
        ),
        ("healthy_with_warnings", {}),
    ],
    ids=["compiled-dynamo-logs", "c10d-info-and-detail", "user-warnings"],
)
def test_real_healthy_runs_with_verbose_logging_stay_clean(tmp_path, scenario, env_vars):
    argv = ["torchrun", "--nproc-per-node", "2", "--standalone", str(SCENARIOS), scenario]
    code, log = _launch(tmp_path, scenario, argv, **env_vars)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert any(done in text for done in ("step 1 loss", "step 2 done", "epoch done")), text
    assert analyze_log(log).findings == [], text[-3000:]
