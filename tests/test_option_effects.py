"""Options no test passed on a command line before (issue #28), each checked by its effect.

tests/test_option_coverage.py walks the command tree and fails on an option that no test
passes; the options it found are tested here, each against what it changes: which GPU is
chosen, which keys a checkpoint has, which files are listed, what reaches each host.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mltools.errors import ExitCode
from tests import _gpu_fixtures
from tests._fake_nvml import GiB, gpu
from tests._gpu_fixtures import fake_cli
from tests.ci_provides import require
from tests.conftest import mltools_env

pytest_plugins = ("tests._ckpt_factory",)
fake_nvml = _gpu_fixtures.fake_nvml
spawn = _gpu_fixtures.spawn

PRINT_VISIBLE = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"


# -- gpu pick / gpu run: --exclusive, --min-free-mem, --max-util ----------------------------


def test_pick_exclusive_refuses_a_gpu_that_only_your_own_process_uses(fake_nvml, spawn, cli):
    mine = spawn()
    fake_nvml(
        {
            "gpus": [
                gpu(0, mem_used=GiB, compute=[{"pid": mine.pid, "mem": GiB}]),
                gpu(1, mem_used=20 * GiB),
            ]
        }
    )
    shared = json.loads(cli("gpu", "pick", "--json").stdout)
    assert shared["indices"] == [0]  # own processes are fine by default: most free memory
    result = cli("gpu", "pick", "--exclusive", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["indices"] == [1]
    assert doc["candidates"][0]["reasons"] == ["1 process(es) running"]


def test_run_exclusive_skips_the_gpu_your_own_process_uses(spawn):
    mine = spawn()
    spec = {
        "gpus": [
            gpu(0, mem_used=GiB, compute=[{"pid": mine.pid, "mem": GiB}]),
            gpu(1, mem_used=20 * GiB),
        ]
    }
    assert fake_cli(spec, "gpu", "run", "--", sys.executable, "-c", PRINT_VISIBLE).stdout == "0\n"
    result = fake_cli(spec, "gpu", "run", "--exclusive", "--", sys.executable, "-c", PRINT_VISIBLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"


# GPU 0: 30 % busy, 79.5 GiB free; GPU 1: idle, 19.5 GiB free.
BUSY_OR_FULL = {"gpus": [gpu(0, util_gpu=30), gpu(1, mem_used=60 * GiB)]}


def test_run_max_util_admits_a_busier_gpu():
    argv = ("--", sys.executable, "-c", PRINT_VISIBLE)
    assert fake_cli(BUSY_OR_FULL, "gpu", "run", *argv).stdout == "1\n"  # 30 % > default 10 %
    result = fake_cli(BUSY_OR_FULL, "gpu", "run", "--max-util", "50", *argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0\n"  # both qualify now: the one with more free memory


def test_run_min_free_mem_refuses_the_fuller_gpu():
    argv = ("--", sys.executable, "-c", PRINT_VISIBLE)
    result = fake_cli(BUSY_OR_FULL, "gpu", "run", "--min-free-mem", "30GiB", *argv)
    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stdout == ""
    assert result.stderr.startswith("mltools: error: 0 of 2 GPUs qualify, 1 needed")
    assert "GPU 1: not enough free memory" in result.stderr
    both = fake_cli(
        BUSY_OR_FULL, "gpu", "run", "--min-free-mem", "30GiB", "--max-util", "50", *argv
    )
    assert both.stdout == "0\n", both.stderr


# -- ckpt: diff --strip-prefix, convert --add-prefix ----------------------------------------


def test_diff_strip_prefix_matches_ddp_names_to_plain_ones(ckpts, cli):
    plain = cli("ckpt", "diff", str(ckpts.ddp), str(ckpts.plain), "--json")
    assert plain.exit_code == ExitCode.CHECK_FAILED
    assert len(json.loads(plain.stdout)["only_in_a"]) == 4
    result = cli(
        "ckpt", "diff", str(ckpts.ddp), str(ckpts.plain), "--strip-prefix", "module.",
        "--values", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["only_in_a"], doc["only_in_b"], doc["common"]) == ([], [], 4)
    assert doc["identical"] is True


def test_convert_add_prefix_prepends_to_every_key(ckpts, tmp_path, cli):
    torch = pytest.importorskip("torch")
    out = tmp_path / "wrapped.pt"
    result = cli("ckpt", "convert", str(ckpts.plain), str(out), "--add-prefix", "model.", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["renamed"] == 4
    want = torch.load(ckpts.plain, weights_only=True)
    got = torch.load(out, weights_only=True)
    assert sorted(got) == sorted(f"model.{k}" for k in want)
    assert all(torch.equal(got[f"model.{k}"], v) for k, v in want.items())


# -- filetype: --describe, --workers/-j -----------------------------------------------------


def test_filetype_describe_adds_libmagics_description_to_json(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("plain words\n")
    (bare,) = json.loads(cli("filetype", str(tmp_path), "--json").stdout)["files"]
    assert bare["description"] is None  # one libmagic pass by default for --json
    result = cli("filetype", str(tmp_path), "--json", "--describe")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["files"]
    assert row["mime"] == "text/plain"
    assert row["description"].startswith("ASCII text")
    table = cli("filetype", str(tmp_path), "--no-describe").stdout
    assert "ASCII text" not in table and "text/plain" in table


def test_filetype_workers_reach_the_scan(cli, tmp_path, monkeypatch):
    """-j N is the number of worker processes scan_types starts (same rows as -j 1)."""
    from mltools.files import filetype

    for i in range(6):
        (tmp_path / f"f{i}.json").write_text(json.dumps({"a": i}) + "\n")
    seen = []
    real = filetype.scan_types

    def spy(*args, **kwargs):
        seen.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(filetype, "scan_types", spy)
    one = json.loads(cli("filetype", str(tmp_path), "-j", "1", "--json").stdout)["files"]
    two = json.loads(cli("filetype", str(tmp_path), "--workers", "2", "--json").stdout)["files"]
    assert seen == [1, 2]
    assert one == two and len(one) == 6


# -- du: --depth, --cross-mounts; clean: --cross-mounts, --allow-system-root ----------------


def _tree(root: Path) -> Path:
    (root / "small" / "deep").mkdir(parents=True)
    (root / "small" / "deep" / "b.txt").write_bytes(b"b" * 5000)
    (root / "big").mkdir()
    (root / "big" / "w.bin").write_bytes(b"w" * 300_000)
    return root


def test_du_depth_lists_deeper_directories(cli, tmp_path):
    root = _tree(tmp_path / "data")

    def dirs(*args: str) -> set[str]:
        result = cli("du", str(root), "--json", *args)
        assert result.exit_code == 0, result.stderr
        (item,) = json.loads(result.stdout)["paths"]
        return {os.path.relpath(d["path"], root) for d in item["biggest_dirs"]}

    assert dirs() == {"big", "small"}
    assert dirs("--depth", "2") == {"big", "small", "small/deep"}
    assert dirs("-d", "2") == dirs("--depth", "2")


@pytest.fixture
def mounted(tmp_path):
    """A tree with a tmpfs mounted at mnt/ holding a 1 MB file and a.tmp / mnt/b.tmp."""
    require("tmpfs mounts")
    root = tmp_path / "r"
    (root / "mnt").mkdir(parents=True)
    (root / "a.tmp").write_bytes(b"x")
    subprocess.run(["mount", "-t", "tmpfs", "none", str(root / "mnt")], check=True)
    try:
        (root / "mnt" / "b.tmp").write_bytes(b"x")
        (root / "mnt" / "big.bin").write_bytes(b"m" * 1_000_000)
        yield root
    finally:
        subprocess.run(["umount", str(root / "mnt")], check=True)


def test_du_cross_mounts_counts_the_mounted_filesystem(cli, mounted):
    (alone,) = json.loads(cli("du", str(mounted), "--json").stdout)["paths"]
    (crossed,) = json.loads(cli("du", str(mounted), "--json", "--cross-mounts").stdout)["paths"]
    assert alone["apparent_bytes"] < 100_000
    assert crossed["apparent_bytes"] - alone["apparent_bytes"] >= 1_000_000


def test_clean_cross_mounts_enters_the_mounted_filesystem(cli, mounted):
    def names(*args: str) -> set[str]:
        result = cli("clean", str(mounted), "--name", "*.tmp", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return {
            os.path.relpath(c["path"], mounted) for c in json.loads(result.stdout)["candidates"]
        }

    assert names() == {"a.tmp"}
    assert names("--cross-mounts") == {"a.tmp", "mnt/b.tmp"}
    assert (mounted / "mnt" / "b.tmp").exists()  # a preview: nothing deleted without --yes


def test_clean_allow_system_root_walks_etc_without_deleting(cli):
    refused = cli("clean", "/etc", "--name", "no-such-file-*-i28", "--json")
    assert refused.exit_code == ExitCode.USAGE
    assert "system folder" in refused.stderr and "--allow-system-root" in refused.stderr
    result = cli("clean", "/etc", "--name", "no-such-file-*-i28", "--allow-system-root", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["candidates"] == []


# -- sync --include -------------------------------------------------------------------------


def test_sync_include_keeps_what_an_exclude_would_drop(cli, tmp_path):
    require("rsync")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.log", "sub/c.txt", "sub/d.bin"):
        (src / name).write_text(name)
    dst = tmp_path / "dst"
    result = cli(
        "sync", f"{src}/", f"{dst}/", "--include", "*/", "--include", "*.txt",
        "--exclude", "*", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert got == ["a.txt", "sub/c.txt"]


# -- apply: --scheduler, --no-progress ------------------------------------------------------


@pytest.fixture
def table(tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    (tmp_path / "feats.py").write_text("def double(v):\n    return v * 2\n")
    pd.DataFrame({"a": range(6)}).to_csv(tmp_path / "in.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_apply_scheduler_runs_on_that_dask_cluster(cli, table):
    require("dask")
    from mltools.frame.backends import close_dask_clients
    from tests.pandas_suite.plugin import DaskCluster

    cluster = DaskCluster(workers=1)
    try:
        address = cluster.start()
        result = cli(
            "apply", "in.csv", "-f", "operator:neg", "-c", "a", "-o", "out.csv",
            "--scheduler", address, "--json",
        )  # fmt: skip
    finally:
        close_dask_clients()
        cluster.stop()
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["backend"] == "dask"
    # a function the workers can import (one from a file beside the data they could not)
    assert (table / "out.csv").read_text().split() == ["a", "0", "-1", "-2", "-3", "-4", "-5"]


def _apply_on_a_tty(table: Path, *extra: str) -> bytes:
    """stderr of `mltools apply` when stderr is a terminal (the bar only draws there)."""
    env = mltools_env({"TERM": "xterm", "COLUMNS": "80"})
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltools", "apply", "in.csv", "-f", "feats.py:double", "-c", "a",
         "-o", "out.csv", "--yes", "--backend", "fork", "--workers", "2", *extra],
        cwd=table, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(master)
    proc.kill() if proc.poll() is None else None
    assert proc.wait(timeout=30) == 0, out
    return out


def test_apply_no_progress_draws_no_bar_on_a_terminal(table):
    drawn = _apply_on_a_tty(table)
    assert b"\x1b[?25l" in drawn  # rich hides the cursor while its bar is live
    quiet = _apply_on_a_tty(table, "--no-progress")
    assert b"\x1b[?25l" not in quiet
    assert b"wrote 6 rows to out.csv" in quiet


# -- ddp-doctor run --yes -------------------------------------------------------------------


def test_run_yes_overwrites_an_existing_log(run_mltools, tmp_path):
    log = tmp_path / "train.log"
    log.write_text("old run\n")
    refused = run_mltools("ddp-doctor", "run", "--log", str(log), "--", "echo", "new run")
    assert refused.returncode == ExitCode.ERROR
    assert "exists" in refused.stderr and "--yes" in refused.stderr
    assert log.read_text() == "old run\n"
    result = run_mltools("ddp-doctor", "run", "--log", str(log), "--yes", "--", "echo", "new run")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "new run\n"
    assert log.read_text() == "new run\n"


# -- ddp-doctor hang --hosts: --max-window, --slurm-job -------------------------------------

FAKE_SSH = """#!/bin/sh
# records the host (the word after --) and the whole command line; answers like a host
# where no job runs
host=""; after=""
for a; do
  if [ -n "$after" ] && [ -z "$host" ]; then host=$a; fi
  if [ "$a" = "--" ]; then after=1; fi
done
printf '%s|%s\\n' "$host" "$*" >> "$FAKE_SSH_LOG"
echo "mltools: error: no distributed job found here" >&2
exit 1
"""
FAKE_SCONTROL = """#!/bin/sh
case "$1 $2" in
  "show job") echo "JobId=$4 JobName=train NodeList=gpu[07-08] NumNodes=2";;
  "show hostnames") printf 'gpu07\\ngpu08\\n';;
  *) exit 1;;
esac
"""


def _hang_hosts(tmp_path: Path, run_mltools, *args: str) -> list[tuple[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, text in (("ssh", FAKE_SSH), ("scontrol", FAKE_SCONTROL)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    log = tmp_path / "ssh.log"
    log.unlink(missing_ok=True)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_SSH_LOG": str(log)}
    run_mltools("ddp-doctor", "hang", *args, "--json", env=env)
    return sorted(tuple(ln.split("|", 1)) for ln in log.read_text().splitlines())


def test_hang_max_window_reaches_every_host_and_sets_the_host_timeout(tmp_path, run_mltools):
    calls = _hang_hosts(tmp_path, run_mltools, "--hosts", "node-a,node-b")
    assert [h for h, _ in calls] == ["node-a", "node-b"]
    assert all(re.search(r"--max-window 20( |$)", c) and "ConnectTimeout=80" in c for _, c in calls)
    calls = _hang_hosts(tmp_path, run_mltools, "--hosts", "node-a,node-b", "--max-window", "7")
    assert all(re.search(r"--max-window 7( |$)", c) and "ConnectTimeout=67" in c for _, c in calls)


def test_hang_slurm_job_asks_the_nodes_scontrol_names(tmp_path, run_mltools):
    calls = _hang_hosts(tmp_path, run_mltools, "--slurm-job", "4242")
    assert [h for h, _ in calls] == ["gpu07", "gpu08"]
    assert all("ddp-doctor hang --json" in c for _, c in calls)


# -- ddp-doctor smoke --max-bytes -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.live
def test_smoke_max_bytes_is_the_largest_busbw_message():
    require("torch")
    proc = subprocess.run(
        [sys.executable, "-m", "mltools", "ddp-doctor", "smoke", "--json", "--nproc", "2",
         "--backend", "gloo", "--timeout", "120", "--startup-timeout", "180",
         "--max-bytes", "65536"],
        capture_output=True, text=True, env=mltools_env(), stdin=subprocess.DEVNULL, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # the default for gloo goes up to 4 MiB (test_ddp_live_smoke.py); 4 KiB steps x4
    assert [row["size_bytes"] for row in data["busbw"]] == [4096, 16384, 65536]
