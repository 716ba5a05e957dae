"""Permission errors, for real: as a user whom file modes apply to (``nobody`` when root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def locked_file(workdir: Path, name: str, content: bytes) -> Path:
    path = workdir / name
    path.write_bytes(content)
    path.chmod(0)
    return path


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("mltools: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_probe_really_cannot_read(unprivileged) -> None:
    workdir, run = unprivileged
    secret = locked_file(workdir, "secret.log", b"x")
    result = run("ddp-doctor", "log", str(secret))
    assert result.returncode == 1
    assert "permission denied" in one_error_line(result.stderr).lower()


@pytest.mark.parametrize("command", [["ckpt", "inspect"], ["ckpt", "scan"]])
def test_ckpt_unreadable(unprivileged, command: list[str]) -> None:
    workdir, run = unprivileged
    path = locked_file(workdir, "model.pt", b"PK\x03\x04" + b"\0" * 64)
    result = run(*command, str(path))
    assert result.returncode == 1
    assert "permission denied" in one_error_line(result.stderr).lower()
    assert result.stdout == ""


def test_apply_unreadable_input_and_nothing_written(unprivileged) -> None:
    workdir, run = unprivileged
    path = locked_file(workdir, "in.csv", b"a\n1\n")
    out = workdir / "out.csv"
    result = run("apply", str(path), "--func", "math:sqrt", "--column", "a", "--out", str(out))
    assert result.returncode == 1
    assert "permission denied" in one_error_line(result.stderr).lower()
    assert not out.exists()


def test_filetype_reports_unreadable_and_goes_on(unprivileged) -> None:
    workdir, run = unprivileged
    locked_file(workdir, "secret.bin", b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    (workdir / "ok.txt").write_text("hello\n")
    result = run("filetype", "--json", str(workdir))
    assert result.returncode == 6, result.stderr  # partial: one file could not be read
    assert "secret.bin: Permission denied" in result.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(result.stdout)["files"]}
    assert rows["ok.txt"]["mime"] == "text/plain"
    assert rows["secret.bin"]["kind"] == "unreadable"


def test_du_reports_unreadable_directory(unprivileged) -> None:
    workdir, run = unprivileged
    (workdir / "open").mkdir()
    (workdir / "open" / "a").write_bytes(b"x" * 5000)
    locked = workdir / "locked"
    locked.mkdir()
    (locked / "b").write_bytes(b"y" * 5000)
    locked.chmod(0)
    result = run("du", "--json", str(workdir))
    (report,) = json.loads(result.stdout)["paths"]
    assert report["apparent_bytes"] >= 5000
    assert any("locked" in e for e in report["errors"])
    assert "Traceback" not in result.stderr


def test_clean_cannot_delete_in_readonly_dir(unprivileged) -> None:
    workdir, run = unprivileged
    keep = workdir / "ro"
    keep.mkdir()
    (keep / ".DS_Store").write_bytes(b"junk")
    (workdir / ".DS_Store").write_bytes(b"junk")
    keep.chmod(0o555)
    result = run("clean", str(workdir), "--preset", "mac-junk", "--yes")
    assert result.returncode == 6, result.stderr
    assert (keep / ".DS_Store").exists()
    assert not (workdir / ".DS_Store").exists()
    assert "Traceback" not in result.stderr
