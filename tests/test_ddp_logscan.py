"""The log analyser: every fixture named right, clean logs silent, root cause first."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from mltools.ddp import logscan
from mltools.ddp.catalogue import CATALOGUE, catalogue_ids
from mltools.ddp.logscan import LogScanner, analyze_log, analyze_text
from mltools.errors import ExitCode

FIXTURES = Path(__file__).parent / "fixtures" / "ddp_logs"
ALL = sorted(FIXTURES.glob("*.log"))
FAILING = [p for p in ALL if not p.name.startswith("clean__")]
CLEAN = [p for p in ALL if p.name.startswith("clean__")]
REQUIRED_IDS = {
    "unused_parameters", "mark_ready_twice", "grad_strides", "local_rank_arg",
    "device_side_assert", "dataloader_killed", "nccl_timeout", "nccl_system_error",
    "address_in_use", "duplicate_gpu", "oom_on_resume", "cuda_init_fork", "cuda_oom",
    "version_mismatch", "rank_mismatch_collective", "rendezvous_timeout",
    "no_backend_for_device", "pg_not_initialized",
}  # fmt: skip


def expected_id(path: Path) -> str:
    return path.name.split("__")[0]


def test_catalogue_has_the_stable_ids_and_complete_entries():
    ids = catalogue_ids()
    assert set(ids) >= REQUIRED_IDS
    assert len(ids) == len(set(ids))
    for entry in CATALOGUE:
        assert entry["role"] in ("cause", "symptom")
        assert entry["patterns"] and entry["cause"] and entry["fix"]
        assert str(entry["reference"]).startswith("https://")


def test_every_catalogue_id_has_two_differently_worded_fixtures():
    """Our own fixtures plus the real corpus (tests/fixtures/ddp_logs_real) cover every id."""
    from tests.ddp_corpus import load

    ours = Counter(expected_id(p) for p in FAILING)
    counts = ours + Counter(e.expected for e in load())
    for entry_id in catalogue_ids():
        if entry_id == "rank_failed":  # the generic fallback: the corpus's "generic" logs
            assert counts["generic"] >= 2
            continue
        assert counts[entry_id] >= 2, entry_id
    for entry_id in ours:
        texts = {p.read_text() for p in FAILING if expected_id(p) == entry_id}
        assert len(texts) == ours[entry_id]


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_fixture_root_cause_is_named(path):
    report = analyze_log(path)
    assert report.findings, "no finding"
    assert report.findings[0].id == expected_id(path)
    assert report.findings[0].root_cause
    assert report.findings[0].evidence


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_grep_prefilter_and_pure_python_scan_agree(path):
    from dataclasses import asdict

    assert asdict(analyze_log(path)) == asdict(analyze_log(path, use_grep=False))


def test_grep_path_handles_huge_lines_and_missing_final_newline(tmp_path, monkeypatch):
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 1024)
    path = tmp_path / "x.log"
    path.write_text("Error " + "y" * 5000 + "\nok\n[rank1]: RuntimeError: CUDA out of memory. x")
    for use_grep in (True, False):
        report = analyze_log(path, use_grep=use_grep)
        assert [f.id for f in report.findings] == ["cuda_oom"]
        assert report.findings[0].line == 3
        assert report.lines_scanned == 3


def test_without_grep_on_path(monkeypatch):
    monkeypatch.setattr(logscan.shutil, "which", lambda name: None)
    report = analyze_log(FIXTURES / "duplicate_gpu__1.log")
    assert report.findings[0].id == "duplicate_gpu"


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_clean_logs_give_no_finding(path):
    report = analyze_log(path)
    assert report.findings == []
    assert report.lines_scanned == len(path.read_text().splitlines())


def test_hit_rate_on_fixtures_is_total():
    hits = sum(
        1
        for p in ALL
        if [f.id for f in analyze_log(p).findings][:1] == ([] if p in CLEAN else [expected_id(p)])
    )
    assert hits == len(ALL)


def test_ranks_and_line_numbers_from_prefixes():
    report = analyze_log(FIXTURES / "mark_ready_twice__2.log")  # Slurm --label prefix
    f = report.findings[0]
    assert (f.rank, f.line) == (0, 4)
    report = analyze_log(FIXTURES / "duplicate_gpu__2.log")  # NCCL host:pid:tid [N] prefix
    assert report.findings[0].rank == 0
    report = analyze_log(FIXTURES / "unused_parameters__2.log")  # --tee role prefix
    assert report.findings[0].rank == 1
    assert report.findings[0].evidence[0].line == 2


def test_root_cause_before_victims_with_elastic_summary():
    log = "\n".join(
        [
            "[rank0]:[E ProcessGroupNCCL.cpp:563] [Rank 0] Watchdog caught collective operation "
            "timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out.",
            "[rank2]:[E ProcessGroupNCCL.cpp:563] [Rank 2] Watchdog caught collective operation "
            "timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out.",
            "[rank1]: Traceback (most recent call last):",
            '[rank1]:   File "train.py", line 3, in <module>',
            "[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.",
            "Root Cause (first observed failure):",
            "[0]:",
            "  rank      : 1 (local_rank: 1)",
            "  exitcode  : 1 (pid: 11)",
            "Failures:",
            "[1]:",
            "  rank      : 0 (local_rank: 0)",
            "  exitcode  : -15 (pid: 10)  (SIGTERM)",
        ]
    )
    report = analyze_text(log)
    ids = [f.id for f in report.findings]
    assert ids == ["cuda_oom", "nccl_timeout", "rank_terminated"]
    root = report.findings[0]
    assert root.rank == 1
    assert root.victims == [0, 2]
    assert report.first_failed_rank == 1
    assert report.findings[1].ranks == [0, 2]
    assert report.findings[2].ranks == [0]


def test_generic_exception_evidence_names_the_raising_frame():
    report = analyze_log(FIXTURES / "rank_exception__1.log")
    texts = [e.text for e in report.findings[0].evidence]
    assert texts[0].startswith("[rank1]: FileNotFoundError")
    assert 'File "train.py", line 50' in texts[1]


def test_specific_cause_beats_generic_exception_and_generic_needs_no_cause():
    log = (
        "[rank0]: ValueError: bad config value\n"
        "[rank1]: RuntimeError: No backend type associated with device type cuda\n"
    )
    ids = [f.id for f in analyze_text(log).findings]
    assert ids == ["no_backend_for_device", "rank_exception"]
    # the launcher's wrapper exception is not a cause, but a failed job is never "clean"
    assert [f.id for f in analyze_text("[rank0]: ChildFailedError: \n").findings] == ["rank_failed"]


def test_oom_while_loading_checkpoint_is_oom_on_resume_but_plain_oom_is_not():
    report = analyze_log(FIXTURES / "oom_on_resume__1.log")
    assert report.findings[0].id == "oom_on_resume"
    # a later, unrelated traceback on the same rank resets the loading context
    log = (FIXTURES / "oom_on_resume__1.log").read_text() + (
        "[rank3]: Traceback (most recent call last):\n"
        '[rank3]:   File "train.py", line 200, in <module>\n'
        "[rank3]: RuntimeError: CUDA out of memory. Tried to allocate 1 GiB\n"
    )
    assert [f.id for f in analyze_text(log).findings] == ["oom_on_resume", "cuda_oom"]


def test_multiple_files_and_stdin(monkeypatch):
    report = analyze_log([FIXTURES / "clean__1.log", FIXTURES / "cuda_oom__2.log"])
    assert [f.id for f in report.findings] == ["cuda_oom"]
    assert report.findings[0].file.endswith("cuda_oom__2.log")
    assert report.findings[0].line == 1
    data = (FIXTURES / "address_in_use__2.log").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = analyze_log("-")
    assert report.files == ["<stdin>"]
    assert report.findings[0].id == "address_in_use"


def test_chunk_boundaries_and_long_lines_keep_line_numbers(monkeypatch):
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 64)
    text = "".join(f"[rank0]: step {i} loss 1.0\n" for i in range(50))
    text += "x" * 300 + "\n"  # a line longer than a chunk
    text += "[rank1]: RuntimeError: Default process group has not been initialized\n"
    scanner = LogScanner()
    scanner.feed_text(text)
    report = scanner.report()
    assert report.findings[0].id == "pg_not_initialized"
    assert report.findings[0].line == 52
    assert report.bytes_scanned == len(text)


def test_evidence_is_capped(monkeypatch):
    text = "[rank0]: RuntimeError: CUDA out of memory. Tried\n" * 1000
    report = analyze_text(text)
    assert report.findings[0].count == 1000
    assert len(report.findings[0].evidence) <= logscan.MAX_EVIDENCE


def test_needles_cover_every_pattern():
    import re

    for entry in CATALOGUE:
        for pattern in entry["patterns"]:
            needles = logscan._needles_for(pattern)
            assert needles and all(len(n) >= 4 for n in needles), pattern
            assert any(
                n.encode() in logscan.NEEDLES or any(k in n.encode() for k in logscan.NEEDLES)
                for n in needles
            )
            assert re.compile(pattern)


# ---- CLI -------------------------------------------------------------------


def test_cli_log_json(cli):
    result = cli("ddp-doctor", "log", "--json", str(FIXTURES / "nccl_timeout__1.log"))
    assert result.exit_code == ExitCode.CHECK_FAILED
    data = json.loads(result.stdout)
    f = data["findings"][0]
    assert f["id"] == "nccl_timeout"
    assert f["rank"] == 0
    assert f["line"] == 1
    assert set(f) >= {"id", "rank", "line", "evidence", "cause", "fix"}
    assert f["evidence"][0]["line"] == 1
    assert data["lines_scanned"] == 2


def test_cli_log_clean_is_empty_list_and_exit_zero(cli):
    result = cli("ddp-doctor", "log", "--json", str(FIXTURES / "clean__2.log"))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["findings"] == []
    result = cli("ddp-doctor", "log", str(FIXTURES / "clean__2.log"))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no known DDP failure" in result.stderr


def test_cli_log_text_names_root_cause_and_victims(cli, tmp_path):
    log = tmp_path / "job.log"
    log.write_text(
        "[rank1]: RuntimeError: Detected mismatch between collectives on ranks. Rank 1 ...\n"
        "[rank0]: RuntimeError: [gloo] Connection closed by peer [127.0.0.1]:1\n"
    )
    result = cli("ddp-doctor", "log", str(log))
    assert result.exit_code == ExitCode.CHECK_FAILED
    first = result.stdout.splitlines()[0]
    assert first.startswith("root cause: rank_mismatch_collective on rank 1")
    assert "victims (failed after it): rank 0" in result.stdout
    assert f"{log}:1:" in result.stdout


def test_cli_log_reads_stdin(cli):
    text = (FIXTURES / "cuda_init_fork__2.log").read_text()
    result = cli("ddp-doctor", "log", "--json", input=text)
    assert json.loads(result.stdout)["findings"][0]["id"] == "cuda_init_fork"


def test_cli_log_bad_inputs(cli, tmp_path):
    result = cli("ddp-doctor", "log", str(tmp_path / "missing.log"))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: no such file or directory")
    result = cli("ddp-doctor", "log", str(tmp_path))
    assert result.exit_code == ExitCode.ERROR
    assert "is a directory" in result.stderr
    result = cli("ddp-doctor", "log", "--", "-dash.log")
    assert result.exit_code == ExitCode.ERROR
    assert "-dash.log" in result.stderr
    binary = tmp_path / "garbage.log"
    binary.write_bytes(bytes(range(256)) * 100)
    result = cli("ddp-doctor", "log", "--json", str(binary))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["findings"] == []
