"""The anchors' habits for files and tables: `du --exclude`, `clean --exclude` (prune),
`clean --keep-newest N` (the last N checkpoints of every run), `apply -` from a pipe with
`--format`, writing to a pipe. Checked against GNU du / find where they have the habit."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mltools.errors import ExitCode
from mltools.files.clean import CleanSpec, find_candidates, keep_newest
from mltools.files.du import disk_usage
from mltools.files.exclude import Exclude
from tests.conftest import mltools_env

DAY = 86400


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """runs/<run>/checkpoints/epoch=N.ckpt (epoch N modified N days ago... newest = 1),
    plus a .git and a wandb folder that --exclude should prune."""
    root = tmp_path / "runs"
    now = time.time()
    for run in ("resnet", "vit"):
        ckpt = root / run / "checkpoints"
        ckpt.mkdir(parents=True)
        for epoch in range(1, 6):
            f = ckpt / f"epoch={epoch}.ckpt"
            f.write_bytes(b"x" * 1000 * epoch)
            age = (6 - epoch) * DAY  # epoch 5 is the newest
            os.utime(f, (now - age, now - age))
        (root / run / "wandb" / "run-1").mkdir(parents=True)
        (root / run / "wandb" / "run-1" / "old.ckpt").write_bytes(b"w" * 50_000)
    (root / ".git").mkdir()
    (root / ".git" / "pack.tmp").write_bytes(b"g" * 100_000)
    (root / "scratch.tmp").write_bytes(b"t" * 10)
    return root


# --- Exclude -------------------------------------------------------------------------------


def test_exclude_matches_names_paths_and_folders_only() -> None:
    ex = Exclude(["*.tmp", "wandb/run-*", "cache/", "/top"])
    assert ex.excluded(("a", "b", "x.tmp"), False)  # a name at any depth
    assert ex.excluded(("wandb", "run-3"), True)  # a path below the root
    assert not ex.excluded(("a", "wandb", "run-3"), True)  # ... from the root only
    assert ex.excluded(("a", "cache"), True) and not ex.excluded(("a", "cache"), False)
    assert ex.excluded(("top",), True) and not ex.excluded(("a", "top"), True)  # anchored
    assert not ex.excluded(("a", "b.txt"), False)
    assert not Exclude([]) and Exclude(["x"])


@pytest.mark.parametrize("pattern", ["", "/", "a\0b"])
def test_bad_exclude_is_a_usage_error_naming_the_option(cli, tmp_path: Path, pattern: str) -> None:
    if "\0" in pattern:  # argv cannot carry a NUL: the library says it
        from mltools.errors import UsageError

        with pytest.raises(UsageError, match="bad --exclude"):
            Exclude([pattern])
        return
    result = cli("du", str(tmp_path), "--exclude", pattern)
    assert result.exit_code == ExitCode.USAGE
    assert "bad --exclude" in result.stderr


# --- du --exclude ----------------------------------------------------------------------------


def _gnu_du_apparent(root: Path, *excludes: str) -> int:
    out = subprocess.run(
        ["du", "-s", "-b", *(f"--exclude={e}" for e in excludes), str(root)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.split()[0])


@pytest.mark.skipif(shutil.which("du") is None, reason="needs GNU du")
@pytest.mark.parametrize("excludes", [(), (".git",), ("*.tmp",), ("wandb", ".git", "*.tmp")])
def test_du_exclude_agrees_with_gnu_du(runs: Path, excludes: tuple[str, ...]) -> None:
    [report] = disk_usage(runs, exclude=excludes)
    assert report.apparent_bytes == _gnu_du_apparent(runs, *excludes)


def test_du_exclude_cli_leaves_the_folder_out_of_every_list(cli, runs: Path) -> None:
    result = cli("du", str(runs), "--files", "--depth", "3", "--exclude", "wandb", "--json")
    assert result.exit_code == 0, result.stderr
    [doc] = json.loads(result.stdout)["paths"]
    shown = [e["path"] for e in doc["biggest_dirs"] + doc["biggest_files"]]
    assert shown and not any("wandb" in p for p in shown)
    assert doc["files"] == 2 * 5 + 2  # checkpoints, .git/pack.tmp, scratch.tmp
    plain = cli("du", str(runs), "--files", "--json")
    assert json.loads(plain.stdout)["paths"][0]["files"] == doc["files"] + 2  # the two wandb files


# --- clean --exclude and --keep-newest -----------------------------------------------------


def _find(root: Path, *args: str) -> set[str]:
    out = subprocess.run(["find", str(root), *args], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_clean_exclude_prunes_like_find(runs: Path) -> None:
    spec = CleanSpec(names=["*.tmp", "*.ckpt"], exclude=[".git", "wandb"])
    got = {c.path for c in find_candidates([str(runs)], spec)}
    want = _find(
        runs, "(", "-name", ".git", "-o", "-name", "wandb", ")", "-prune",
        "-o", "-type", "f", "(", "-name", "*.tmp", "-o", "-name", "*.ckpt", ")", "-print",
    )  # fmt: skip
    assert got == want and len(got) == 11


def test_keep_newest_spares_the_newest_of_each_run(runs: Path) -> None:
    spec = CleanSpec(names=["*.ckpt"], exclude=["wandb"])
    doomed, kept = keep_newest(find_candidates([str(runs)], spec), 2)
    assert sorted(Path(c.path).relative_to(runs).as_posix() for c in kept) == [
        "resnet/checkpoints/epoch=4.ckpt", "resnet/checkpoints/epoch=5.ckpt",
        "vit/checkpoints/epoch=4.ckpt", "vit/checkpoints/epoch=5.ckpt",
    ]  # fmt: skip
    assert len(doomed) == 6
    assert all(c.reason == "*.ckpt, older than the 2 newest here" for c in doomed)
    assert keep_newest(find_candidates([str(runs)], spec), 0)[1] == []


def test_clean_keep_newest_previews_then_deletes_only_with_yes(cli, runs: Path) -> None:
    args = ["clean", str(runs), "--name", "*.ckpt", "--exclude", "wandb", "--keep-newest", "3"]
    preview = cli(*args, "--json")
    assert preview.exit_code == 0, preview.stderr
    doc = json.loads(preview.stdout)
    assert doc["dry_run"] is True and len(doc["candidates"]) == 4 and len(doc["kept"]) == 6
    assert all(p.exists() for p in runs.rglob("*.ckpt"))  # a preview deletes nothing
    done = cli(*args, "--yes")
    assert done.exit_code == 0, done.stderr
    left = sorted(p.relative_to(runs).as_posix() for p in runs.rglob("checkpoints/*.ckpt"))
    assert left == [
        f"{run}/checkpoints/epoch={i}.ckpt" for run in ("resnet", "vit") for i in (3, 4, 5)
    ]
    assert (runs / "resnet" / "wandb" / "run-1" / "old.ckpt").exists()  # excluded: untouched
    assert "deleted: 4 entries" in done.stderr


def test_keep_newest_needs_a_name_filter(cli, runs: Path) -> None:
    result = cli("clean", str(runs), "--older-than", "1d", "--keep-newest", "2")
    assert result.exit_code == ExitCode.USAGE
    assert "--keep-newest needs --name or --preset" in result.stderr
    negative = cli("clean", str(runs), "--name", "*.ckpt", "--keep-newest", "-1")
    assert negative.exit_code == ExitCode.USAGE and "--keep-newest" in negative.stderr


def test_print_cron_carries_exclude_and_keep_newest(cli, runs: Path) -> None:
    result = cli("clean", str(runs), "--name", "*.ckpt", "--exclude", "wandb",
                 "--keep-newest", "3", "--print-cron", "0 3 * * *")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "--exclude wandb" in result.stdout and "--keep-newest 3" in result.stdout


# --- apply - ------------------------------------------------------------------------------


def _apply(*args: str, stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mltools", "apply", *args], input=stdin, capture_output=True,
        cwd=cwd, env=mltools_env(), timeout=120,
    )  # fmt: skip


@pytest.fixture
def table(tmp_path: Path) -> Path:
    (tmp_path / "m.py").write_text("def f(s):\n    return s.strip().lower()\n")
    return tmp_path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_apply_reads_stdin_and_writes_the_same_format_to_a_pipe(table: Path, fmt: str) -> None:
    import io

    import pandas as pd

    df = pd.DataFrame({"text": [" A", "b ", "C"], "x": [1, 2, 3]})
    buf = io.BytesIO()
    if fmt == "parquet":
        df.to_parquet(buf, index=False)
    elif fmt == "jsonl":
        buf.write(df.to_json(orient="records", lines=True).encode())
    else:
        buf.write(df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",").encode())
    result = _apply(
        "-", "--format", fmt, "-f", "m:f", "-c", "text", stdin=buf.getvalue(), cwd=table
    )
    assert result.returncode == 0, result.stderr.decode()
    out = io.BytesIO(result.stdout)
    got = {
        "csv": lambda: pd.read_csv(out),
        "tsv": lambda: pd.read_csv(out, sep="\t"),
        "jsonl": lambda: pd.read_json(out, lines=True),
        "parquet": lambda: pd.read_parquet(out),
    }[fmt]()
    assert got["text"].tolist() == ["a", "b", "c"] and got["x"].tolist() == [1, 2, 3]


def test_apply_stdin_defaults_to_csv_and_format_overrides_an_extension(table: Path) -> None:
    result = _apply("-", "-f", "m:f", "-c", "text", stdin=b"text\n Hi\n", cwd=table)
    assert (result.returncode, result.stdout) == (0, b"text\nhi\n"), result.stderr
    (table / "rows.txt").write_text('{"text": " Yo"}\n')
    result = _apply(str(table / "rows.txt"), "--format", "jsonl", "-f", "m:f", "-c", "text",
                    stdin=b"", cwd=table)  # fmt: skip
    assert (result.returncode, result.stdout) == (0, b'{"text":"yo"}\n'), result.stderr


def test_apply_stdin_bad_input_and_bad_format_name_the_problem(table: Path) -> None:
    bad = _apply("-", "--format", "xml", "-f", "m:f", "-c", "text", stdin=b"", cwd=table)
    assert bad.returncode == ExitCode.USAGE and b"unknown --format 'xml'" in bad.stderr
    wrong = _apply("-", "--format", "parquet", "-f", "m:f", "-c", "text", stdin=b"text\na\n",
                   cwd=table)  # fmt: skip
    assert wrong.returncode == 1
    assert b"cannot read standard input as parquet" in wrong.stderr
    assert b"Traceback" not in wrong.stderr


def test_apply_output_to_a_closed_pipe_is_quiet(table: Path) -> None:
    rows = b"text\n" + b" X\n" * 200_000
    proc = subprocess.run(
        f"{sys.executable} -m mltools apply - -f m:f -c text | head -n 2",
        shell=True, input=rows, capture_output=True, cwd=table, env=mltools_env(), timeout=120,
    )  # fmt: skip
    assert proc.stdout == b"text\nx\n"
    assert b"Traceback" not in proc.stderr


# --- kill --tree ------------------------------------------------------------------------------

# a "rank" that starts two "DataLoader workers" (other command lines), then says so
_RANK = (
    "import subprocess, sys, time\n"
    "kids = [subprocess.Popen(['sleep', '300']) for _ in range(2)]\n"
    "print(' '.join(str(k.pid) for k in kids), flush=True)\n"
    "time.sleep(300)\n"
)


@pytest.fixture
def rank_tree():
    """(rank, [worker pids]) of a real process tree; everything reaped at the end."""
    marker = f"mltools-kill-tree-test-{os.getpid()}"
    rank = subprocess.Popen(
        [sys.executable, "-c", _RANK, marker], stdout=subprocess.PIPE, text=True
    )
    assert rank.stdout is not None
    workers = [int(p) for p in rank.stdout.readline().split()]  # the event: both started
    yield marker, rank, workers
    import signal as sig

    for pid in [rank.pid, *workers]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig.SIGKILL)
    rank.wait()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_kill_tree_previews_and_stops_the_workers_too(cli, rank_tree) -> None:
    marker, rank, workers = rank_tree
    plain = json.loads(cli("kill", marker, "--json").stdout)
    assert [p["pid"] for p in plain["matched"]] == [rank.pid]  # the workers do not match
    preview = json.loads(cli("kill", marker, "--tree", "--json").stdout)
    assert [(p["pid"], p["parent"]) for p in preview["matched"]] == [
        (rank.pid, None),
        *((w, rank.pid) for w in workers),
    ]
    assert preview["dry_run"] is True and all(_alive(p) for p in [rank.pid, *workers])
    done = cli("kill", marker, "--tree", "--yes", "--grace", "5", "--json")
    assert done.exit_code == 0, done.stderr
    rank.wait(timeout=30)
    assert not any(_alive(w) for w in workers)
    assert sorted(json.loads(done.stdout)["terminated"]) == sorted([rank.pid, *workers])


def test_kill_without_tree_leaves_the_workers(cli, rank_tree) -> None:
    marker, rank, workers = rank_tree
    done = cli("kill", marker, "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    rank.wait(timeout=30)
    assert all(_alive(w) for w in workers)  # orphans: what --tree is for


def test_gpu_kill_tree_stops_a_ranks_workers(cli, rank_tree, monkeypatch) -> None:
    from tests._fake_nvml import GiB, gpu
    from tests._nvml_double import compiler_available

    if not compiler_available():
        pytest.skip("the NVML double needs a C compiler")
    from mltools.gpu import procinfo
    from tests import _fake_nvml

    monkeypatch.setattr(procinfo, "_CACHE", {})
    _, rank, workers = rank_tree
    _fake_nvml.install(monkeypatch, {"gpus": [gpu(0, compute=[{"pid": rank.pid, "mem": GiB}])]})
    preview = cli("gpu", "kill", "--gpu", "0", "--tree")
    assert "+2 below it" in preview.stdout
    as_json = json.loads(cli("gpu", "kill", "--gpu", "0", "--tree", "--json").stdout)
    assert sorted(as_json["targets"][0]["descendants"]) == sorted(workers)
    done = cli("gpu", "kill", "--gpu", "0", "--tree", "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    rank.wait(timeout=30)
    assert not any(_alive(w) for w in workers)
    outcomes = {r["pid"]: r["outcome"] for r in json.loads(done.stdout)["results"]}
    assert set(outcomes) == {rank.pid, *workers}
