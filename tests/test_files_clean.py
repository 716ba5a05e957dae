"""`mltools clean` on real trees: filters, presets, dry run, --yes, --trash, failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.errors import ExitCode
from mltools.files.clean import CleanSpec, delete_candidates, find_candidates
from tests.conftest import usage_error


def snapshot(root: Path) -> set[str]:
    """Every path under root (symlinks not followed), relative."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


@pytest.fixture
def junk(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "__pycache__").mkdir(parents=True)
    (root / "src" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x" * 100)
    (root / "src" / "m.py").write_text("print(1)\n")
    (root / ".DS_Store").write_bytes(b"\0" * 10)
    (root / "src" / "._m.py").write_bytes(b"\0" * 5)
    (root / "nb" / ".ipynb_checkpoints").mkdir(parents=True)
    (root / "nb" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    (root / "empty.txt").write_bytes(b"")
    (root / "emptydir").mkdir()
    (root / "-ab.c").write_bytes(b"")
    (root / "a&b.c").write_bytes(b"")
    (root / "new\nline.tmp").write_bytes(b"t")
    return root


def test_dry_run_lists_and_deletes_nothing(cli, junk):
    before = snapshot(junk)
    result = cli("clean", str(junk), "-p", "mac-junk", "-p", "pycache", "-p", "ipynb-checkpoints")
    assert result.exit_code == 0, result.stderr
    assert snapshot(junk) == before
    assert ".DS_Store" in result.stdout and "__pycache__" in result.stdout
    assert "4 entries" in result.stderr and "--yes" in result.stderr


def test_json_preview_and_yes_delete_exactly(cli, junk):
    preview = json.loads(
        cli("clean", str(junk), "-p", "mac-junk", "-p", "pycache", "--json").stdout
    )
    assert preview["dry_run"] is True
    names = sorted(os.path.relpath(c["path"], junk) for c in preview["candidates"])
    assert names == [".DS_Store", "src/._m.py", "src/__pycache__"]
    assert preview["total_bytes"] == 115
    done = cli("clean", str(junk), "-p", "mac-junk", "-p", "pycache", "--json", "--yes")
    assert done.exit_code == 0
    out = json.loads(done.stdout)
    assert out["freed_bytes"] == 115 and out["failed"] == []
    assert sorted(os.path.relpath(c["path"], junk) for c in out["deleted"]) == names
    assert not (junk / ".DS_Store").exists()
    assert (junk / "src" / "m.py").exists()


def test_empty_preset_and_odd_names(cli, junk):
    result = cli("clean", str(junk), "--empty", "--yes", "--json")
    deleted = {os.path.relpath(c["path"], junk) for c in json.loads(result.stdout)["deleted"]}
    assert deleted == {"empty.txt", "-ab.c", "a&b.c"}
    result = cli("clean", str(junk), "--empty-dirs", "--yes", "--json")
    deleted = {os.path.relpath(c["path"], junk) for c in json.loads(result.stdout)["deleted"]}
    assert deleted == {"emptydir"}
    result = cli("clean", str(junk), "--name", "*.tmp", "--yes")
    assert result.exit_code == 0
    assert not (junk / "new\nline.tmp").exists()


def test_table_shows_newline_escaped(cli, junk):
    result = cli("clean", str(junk), "--name", "*.tmp")
    assert "new\\nline.tmp" in result.stdout


def test_size_age_and_type_filters(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    old = time.time() - 10 * 86400
    for name, size, mtime in [
        ("big-old", 5000, old),
        ("big-new", 5000, None),
        ("small-old", 10, old),
    ]:
        (root / name).write_bytes(b"x" * size)
        if mtime:
            os.utime(root / name, (mtime, mtime))
    (root / "olddir").mkdir()
    os.utime(root / "olddir", (old, old))

    def names(**kw):
        return sorted(Path(c.path).name for c in find_candidates([root], CleanSpec(**kw)))

    assert names(older_than_seconds=8 * 86400) == ["big-old", "small-old"]  # files only
    assert names(older_than_seconds=8 * 86400, type="f") == ["big-old", "small-old"]
    assert names(older_than_seconds=8 * 86400, type="d") == ["olddir"]
    assert names(larger_bytes=1024) == ["big-new", "big-old"]
    assert names(smaller_bytes=1024) == ["small-old"]
    assert names(newer_than_seconds=3600, type="f") == ["big-new"]


def test_old_directory_with_new_file_is_not_taken_whole(tmp_path):
    root = tmp_path / "r"
    (root / "run1").mkdir(parents=True)
    (root / "run1" / "fresh.log").write_text("new")
    (root / "run1" / "stale.log").write_text("old")
    old = time.time() - 30 * 86400
    os.utime(root / "run1" / "stale.log", (old, old))
    os.utime(root / "run1", (old, old))
    candidates = find_candidates([root], CleanSpec(older_than_seconds=8 * 86400))
    assert [os.path.relpath(c.path, root) for c in candidates] == ["run1/stale.log"]


def test_symlinks_never_followed_or_matched(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".DS_Store").write_bytes(b"keep me")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "linkdir")
    os.symlink(outside / ".DS_Store", root / ".DS_Store")
    result = cli("clean", str(root), "-p", "mac-junk", "--yes", "--json")
    assert json.loads(result.stdout)["candidates"] == []
    assert (outside / ".DS_Store").read_bytes() == b"keep me"
    assert (root / ".DS_Store").is_symlink()


def test_entry_swapped_for_symlink_after_preview_is_left_alone(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    root = tmp_path / "root"
    (root / "__pycache__").mkdir(parents=True)
    candidates = find_candidates([root], CleanSpec(presets=["pycache"]))
    shutil.rmtree(root / "__pycache__")
    os.symlink(outside, root / "__pycache__")
    result = delete_candidates(candidates, [root])
    assert result.deleted == [] and len(result.failed) == 1
    assert "changed since the preview" in result.failed[0][1]
    assert (outside / "precious").exists()


def test_permission_failure_is_partial(cli, tmp_path):
    root = tmp_path / "r"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / ".DS_Store").write_bytes(b"a")
    (root / ".DS_Store").write_bytes(b"b")
    if subprocess.run(["chattr", "+i", str(root / "locked")], capture_output=True).returncode:
        pytest.skip("chattr +i not permitted here")
    try:
        result = cli("clean", str(root), "-p", "mac-junk", "--yes")
    finally:
        subprocess.run(["chattr", "-i", str(root / "locked")], check=True)
    assert result.exit_code == ExitCode.PARTIAL
    assert "could not delete" in result.stderr and "locked/.DS_Store" in result.stderr
    assert not (root / ".DS_Store").exists()
    assert (root / "locked" / ".DS_Store").exists()


def test_trash_follows_freedesktop_spec(cli, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    xdg = tmp_path / "xdg"
    for i in range(2):
        (root / ".DS_Store").write_bytes(b"%d" % i)
        result = cli(
            "clean",
            str(root),
            "-p",
            "mac-junk",
            "--trash",
            "--yes",
            env={"XDG_DATA_HOME": str(xdg)},
        )
        assert result.exit_code == 0, result.stderr
    trash = xdg / "Trash"
    assert sorted(os.listdir(trash / "files")) == [".DS_Store", ".DS_Store.2"]
    assert (trash / "files" / ".DS_Store.2").read_bytes() == b"1"
    info = (trash / "info" / ".DS_Store.2.trashinfo").read_text().splitlines()
    assert info[0] == "[Trash Info]"
    assert info[1] == f"Path={root}/.DS_Store"
    assert info[2].startswith("DeletionDate=") and len(info[2]) == len(
        "DeletionDate=2024-01-01T00:00:00"
    )


def test_print_cron(cli, tmp_path):
    result = cli(
        "clean",
        str(tmp_path),
        "--name",
        "*%Y*",
        "--older-than",
        "8d",
        "--print-cron",
        "30 23 * * *",
    )
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith("30 23 * * * ")
    assert f"clean {tmp_path} --name '*\\%Y*' --older-than 8d --yes" in line
    bad = cli("clean", str(tmp_path), "--name", "x", "--print-cron", "every day")
    usage_error(bad, "not a cron schedule: 'every day'")


def test_bad_inputs(cli, tmp_path):
    usage_error(cli("clean", str(tmp_path)), "no filter given: that would match everything")
    missing = cli("clean", str(tmp_path / "nope"), "--empty")
    assert missing.exit_code == ExitCode.ERROR
    assert missing.stderr.startswith("mltools: error: no such file or directory")
    age = cli("clean", str(tmp_path), "--older-than", "yesterday")
    usage_error(age, "not an age: 'yesterday'", "write a number with a unit")
    usage_error(cli("clean", str(tmp_path), "-p", "nope"), "unknown preset 'nope'")
    (tmp_path / "f").write_text("x")
    usage_error(cli("clean", str(tmp_path / "f"), "--empty"), "not a directory: ")


# --- property: exactly the previewed set goes, nothing outside the roots -----------------

NAMES = [".DS_Store", "._a", "__pycache__", "x.pyc", "keep.py", "e", "-d", "a&b", "n\nl"]

entry = st.tuples(
    st.lists(st.sampled_from(["d1", "d2", "__pycache__", ".ipynb_checkpoints"]), max_size=2),
    st.sampled_from(NAMES),
    st.sampled_from(["file", "emptyfile", "dir", "link_out", "link_dir_out"]),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    entries=st.lists(entry, max_size=25),
    presets=st.lists(
        st.sampled_from(["mac-junk", "pycache", "ipynb-checkpoints", "empty"]),
        min_size=1,
        unique=True,
    ),
)
def test_clean_deletes_exactly_the_preview(cli, entries, presets):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root, outside = base / "root", base / "outside"
        root.mkdir()
        (outside / "__pycache__").mkdir(parents=True)
        (outside / ".DS_Store").write_bytes(b"")
        (outside / "x.pyc").write_bytes(b"x")
        for dirs, name, kind in entries:
            parent = root.joinpath(*dirs)
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                continue  # a file already took that name
            path = parent / name
            if os.path.lexists(path):
                continue
            if kind == "file":
                path.write_bytes(b"data")
            elif kind == "emptyfile":
                path.write_bytes(b"")
            elif kind == "dir":
                path.mkdir()
            elif kind == "link_out":
                os.symlink(outside / ".DS_Store", path)
            else:
                os.symlink(outside, path)
        outside_before = snapshot(outside)
        before = snapshot(root)
        args = ["clean", str(root)] + [a for p in presets for a in ("-p", p)]
        preview = json.loads(cli(*args, "--json").stdout)
        assert snapshot(root) == before  # the preview changed nothing
        expected_gone = set()
        for cand in preview["candidates"]:
            rel = os.path.relpath(cand["path"], root)
            assert not rel.startswith("..")
            expected_gone.add(rel)
            if cand["type"] == "d":
                expected_gone |= {p for p in before if p.startswith(rel + os.sep)}
        result = cli(*args, "--json", "--yes")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["candidates"] == preview["candidates"]
        assert before - snapshot(root) == expected_gone
        assert snapshot(outside) == outside_before


def test_size_and_age_parsing():
    from mltools.errors import UsageError
    from mltools.units import parse_age, parse_size

    assert parse_size("500") == 500
    assert parse_size("10k") == 10 * 1024
    assert parse_size("1.5M") == int(1.5 * 1024**2)
    assert parse_size("100MB") == 100_000_000
    assert parse_size("3GiB") == 3 * 1024**3
    assert parse_age("90s") == 90 and parse_age("30m") == 1800
    assert parse_age("1d12h") == 36 * 3600 and parse_age("2w") == 14 * 86400
    for bad in ("", "ten", "5 parsecs", "-3k"):
        with pytest.raises(UsageError):
            parse_size(bad)
    for bad in ("", "8", "yesterday", "3 fortnights"):
        with pytest.raises(UsageError):
            parse_age(bad)
