"""`ddp-doctor run`: presets applied, output streamed and teed, exit code passed through."""

from __future__ import annotations

import io

from mltools.ddp.launch import run_guarded
from mltools.errors import ExitCode
from tests.conftest import usage_error


def test_run_guarded_tees_and_keeps_streams_apart(tmp_path):
    out, err = io.BytesIO(), io.BytesIO()
    result = run_guarded(
        ["sh", "-c", "echo to-out; echo to-err >&2; echo $NCCL_P2P_DISABLE; exit 3"],
        presets=["p2p-off"],
        log_path=tmp_path / "run.log",
        stdout=out,
        stderr=err,
    )
    assert result.returncode == 3
    assert out.getvalue() == b"to-out\n1\n"
    assert err.getvalue() == b"to-err\n"
    assert sorted(result.log_path.read_bytes().splitlines()) == [b"1", b"to-err", b"to-out"]
    assert result.variables == {"NCCL_P2P_DISABLE": "1"}
    # nothing in the output names a cause: the exit status is the finding, never "clean"
    (finding,) = result.report.findings
    assert (finding.id, finding.evidence[0].text) == (
        "rank_failed", "the command exited with status 3"
    )  # fmt: skip


def test_run_guarded_diagnoses_a_failure(tmp_path):
    script = (
        "echo '[rank1]: RuntimeError: Default process group has not been initialized' >&2; exit 1"
    )
    result = run_guarded(["sh", "-c", script], log_path=tmp_path / "x.log")
    assert result.returncode == 1
    assert result.report.findings[0].id == "pg_not_initialized"
    assert result.report.findings[0].rank == 1


def test_run_guarded_success_skips_the_analysis(tmp_path):
    result = run_guarded(["true"], log_path=tmp_path / "ok.log")
    assert (result.returncode, result.report) == (0, None)
    result = run_guarded(["true"], log_path=tmp_path / "ok.log", diagnose="always", overwrite=True)
    assert result.report is not None and result.report.ok


def test_cli_run_passes_exit_code_and_prints_diagnosis(cli, tmp_path):
    log = tmp_path / "job.log"
    script = (
        "echo step 1; echo 'RuntimeError: CUDA out of memory. Tried to allocate 2 GiB' >&2; exit 7"
    )
    result = cli("ddp-doctor", "run", "-p", "p2p-off", "--log", str(log), "--", "sh", "-c", script)
    assert result.exit_code == 7
    assert "ddp-doctor: NCCL_P2P_DISABLE=1" in result.stderr
    assert result.stdout == "step 1\n"
    assert "root cause: cuda_oom" in result.stderr
    assert f"log: {log}" in result.stderr
    assert "CUDA out of memory" in log.read_text()


def test_cli_run_bad_inputs(cli, tmp_path):
    result = cli("ddp-doctor", "run", "--log", str(tmp_path / "a.log"), "--", "no-such-cmd-xyz")
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: command not found: no-such-cmd-xyz")
    usage_error(cli("ddp-doctor", "run"), "Missing argument '-- CMD [ARGS]...'")
    usage_error(cli("ddp-doctor", "run", "-p", "nope", "--", "true"), "unknown preset: 'nope'")
    result = cli("ddp-doctor", "run", "--diagnose", "sometimes", "--", "true")
    usage_error(
        result, "Invalid value for '--diagnose': 'sometimes' is not one of 'failure', 'always'"
    )


def test_cli_run_says_sigkill_when_the_command_was_killed(cli, tmp_path):
    # exit 137 is the kernel OOM killer's signature; the output shows nothing about it
    log = tmp_path / "killed.log"
    result = cli(
        "ddp-doctor", "run", "--log", str(log), "--", "sh", "-c", "echo step 1; kill -9 $$"
    )
    assert result.exit_code == 137
    assert "root cause: killed_by_signal" in result.stderr
    assert "status 137 (128+9: killed by SIGKILL)" in result.stderr
    assert "no known DDP failure" not in result.stderr


def test_cli_run_with_an_empty_output_says_so(cli, tmp_path):
    log = tmp_path / "quiet.log"
    result = cli("ddp-doctor", "run", "--diagnose", "always", "--log", str(log), "--", "true")
    assert result.exit_code == 0
    assert "ddp-doctor: the command printed nothing" in result.stderr
    assert "no known DDP failure" not in result.stderr


def test_run_creates_the_nccl_debug_folder(tmp_path):
    folder = tmp_path / "nccl" / "logs"
    result = run_guarded(
        ["sh", "-c", 'echo "$NCCL_DEBUG_FILE"'],
        presets=[f"nccl-debug={folder}"],
        log_path=tmp_path / "run.log",
    )
    assert result.returncode == 0
    assert folder.is_dir()
    assert result.log_path.read_text().strip() == f"{folder}/nccl.%h.%p.log"
