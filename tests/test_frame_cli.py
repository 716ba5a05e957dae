"""`mltools apply` over CSV, Parquet and JSON Lines files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from mltools.errors import ExitCode
from tests.conftest import mltools_env, usage_error


def _command(proc: psutil.Process) -> str:
    """``proc``'s command line, or "" once it has exited (a listed child may be gone)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


FUNCS = """
import time

def score(row):
    return row["a"] * 2 + len(row["s"])

def shout(value):
    return value.upper() + "!"

def split(row):
    import pandas as pd
    return pd.Series({"double": row["a"] * 2, "tag": row["s"] * 2})

def fails(row):
    if row["a"] == 3:
        raise ValueError("row three is bad")
    return 1

def slow(row):
    open("started", "a").close()  # the test interrupts once a worker is in the function
    time.sleep(0.05)
    return 1
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    (tmp_path / "feats.py").write_text(FUNCS)
    df = pd.DataFrame({"a": range(6), "s": list("abcdef")})
    df.to_csv(tmp_path / "in.csv", index=False)
    df.to_parquet(tmp_path / "in.parquet", index=False)
    df.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path, df


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True)


@pytest.mark.parametrize("src", ["in.csv", "in.parquet", "in.jsonl"])
@pytest.mark.parametrize("dst", ["out.csv", "out.parquet", "out.jsonl"])
def test_rows_into_a_new_column_every_format(cli, work, src, dst):
    tmp, _df = work
    result = cli(
        "apply",
        src,
        "--func",
        "feats.py:score",
        "--axis",
        "1",
        "--into",
        "score",
        "-o",
        dst,
        "--backend",
        "loky",
        "--workers",
        "2",
        "--chunksize",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    out = _read(tmp / dst)
    assert list(out.columns) == ["a", "s", "score"]
    assert out["score"].tolist() == [a * 2 + 1 for a in range(6)]
    assert not [p for p in tmp.iterdir() if p.name.endswith(".tmp")]  # atomic write cleaned up


def test_column_map_by_module_name_with_json_summary(cli, work):
    tmp, _ = work
    result = cli(
        "apply",
        "in.parquet",
        "--func",
        "feats:shout",
        "--column",
        "s",
        "--out",
        "out.parquet",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 6
    assert summary["columns_written"] == ["s"]
    assert summary["backend"] == "serial"  # 6 rows: auto stays serial
    assert summary["workers"] == 1
    assert isinstance(summary["duration_seconds"], float)
    assert _read(tmp / "out.parquet")["s"].tolist() == [c.upper() + "!" for c in "abcdef"]


def test_series_result_expands_into_columns_and_csv_goes_to_stdout(cli, work):
    result = cli("apply", "in.jsonl", "--func", "feats.py:split", "--axis", "1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "a,s,double,tag"
    assert lines[2] == "1,b,2,bb"


def test_function_error_is_one_line_with_the_row(cli, work):
    result = cli("apply", "in.csv", "--func", "feats.py:fails", "--axis", "1", "-o", "o.csv")
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.splitlines()[0] == (
        "mltools: error: fails raised ValueError: row three is bad (at row label 3)"
    )
    assert "Traceback" not in result.stderr
    assert not (work[0] / "o.csv").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.csv", "--func", "feats.py:score", "--axis", "1"], 1, "no such file"),
        (["in.csv", "--func", "feats.py", "--axis", "1"], 2, "--func must look like"),
        (["in.csv", "--func", "feats.py:nope", "--axis", "1"], 2, "has no function 'nope'"),
        (["in.csv", "--func", "nomodule:f", "--axis", "1"], 2, "cannot import module"),
        (["in.csv", "--func", "missing.py:f", "--axis", "1"], 2, "file not found"),
        (["in.csv", "--func", "feats.py:shout", "--column", "zz"], 2, "no column 'zz'"),
        (["in.csv", "--func", "feats.py:shout"], 2, "exactly one of"),
        (["in.csv", "--func", "feats.py:score", "--axis", "0"], 2, "--axis must be 1"),
        (["in.txt", "--func", "feats.py:score", "--axis", "1"], 2, "table format"),
        (["in.csv", "--func", "feats.py:score", "--axis", "1", "--json"], 2, "--json needs"),
        (
            ["in.csv", "-f", "feats.py:score", "--axis", "1", "-b", "pandarallel"],
            None,
            "pandarallel",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code(cli, work, args, code, message):
    result = cli("apply", *args)
    if code is None:  # pandarallel: works on some pandas, missing-dependency error elsewhere
        from mltools.frame import available_backends

        if available_backends()["pandarallel"] is None:
            assert result.exit_code == 0
            return
        code = ExitCode.MISSING_DEPENDENCY
    assert result.exit_code == code, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("mltools: error: ") and message in first, result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_input_and_existing_output(cli, work):
    tmp, _ = work
    (tmp / "bad.parquet").write_bytes(b"not a parquet file at all")
    result = cli("apply", "bad.parquet", "--func", "feats.py:score", "--axis", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("mltools: error: cannot read bad.parquet as parquet")
    (tmp / "out.csv").write_text("keep me\n")
    result = cli("apply", "in.csv", "-f", "feats.py:score", "--axis", "1", "-o", "out.csv")
    assert result.exit_code == 1  # refusing to overwrite: 1 in every command (README)
    assert "exists" in result.stderr and "--yes" in result.stderr
    assert (tmp / "out.csv").read_text() == "keep me\n"
    result = cli("apply", "in.csv", "-f", "feats.py:score", "--axis", "1", "-o", "out.csv", "-y")
    assert result.exit_code == 0
    assert pd.read_csv(tmp / "out.csv").shape == (6, 3)


def test_names_starting_with_a_dash(cli, work):
    tmp, df = work
    df.rename(columns={"s": "-s"}).to_csv(tmp / "-in.csv", index=False)
    result = cli("apply", "-in.csv", "--func", "feats.py:shout", "--column", "-s")
    usage_error(result, "No such option: -i")  # taken for options: usage error, not a crash
    result = cli(
        "apply", "--func", "feats.py:shout", "--column", "-s", "-o", "-out.csv", "--", "-in.csv"
    )
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(tmp / "-out.csv")["-s"].tolist() == [c.upper() + "!" for c in "abcdef"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["loky", "fork"])
def test_ctrl_c_stops_the_workers(work, backend):
    tmp, _ = work
    pd.DataFrame({"a": range(4000), "s": ["x"] * 4000}).to_csv(tmp / "big.csv", index=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltools",
            "apply",
            "big.csv",
            "-f",
            "feats.py:slow",
            "--axis",
            "1",
            "-o",
            "out.csv",
            "--backend",
            backend,
            "--workers",
            "2",
        ],
        cwd=tmp,
        env=mltools_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = [
            p for p in parent.children(recursive=True) if backend == "fork" or "loky" in _command(p)
        ]
        time.sleep(0.2)
    assert workers, "no loky workers started"
    while not (tmp / "started").exists():  # a worker is running the function
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []
    assert not (tmp / "out.csv").exists()


def test_result_the_output_format_cannot_store(cli, work):
    tmp, _ = work
    (tmp / "mixed.py").write_text("def f(row):\n    return 1 if row['a'] % 2 else 'x'\n")
    result = cli("apply", "in.csv", "-f", "mixed.py:f", "--axis", "1", "-o", "out.parquet")
    assert result.exit_code == 1
    assert result.stderr.startswith("mltools: error: cannot write the result as parquet")
    assert not list(tmp.glob("*.tmp"))
