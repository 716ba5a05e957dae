"""Trees deeper than PATH_MAX: du, clean and filetype see (and clean deletes) the bottom.

120 levels of 40-character names make a path of about 4,900 bytes: no system call
can take it whole (ENAMETOOLONG), so every step must be made relative to a
directory descriptor. GNU du and find are the reference for the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mltools.files import disk_usage, scan_types
from mltools.files.clean import CleanSpec, delete_candidates, find_candidates

LEVELS = 120
NAME = "d" * 39


@pytest.fixture(scope="module")
def deep(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("deep")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for i in range(LEVELS):
            name = f"{NAME}{i % 10}"
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            parts.append(name)
        for name, data in (("bottom.tmp", b"x" * 5000), ("keep.txt", b"keep\n")):
            out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, data)
            os.close(out)
        out = os.open("arr.npy", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.arange(10))
        os.write(out, buf.getvalue()[:-8])  # cut short: filetype must say so
        os.close(out)
    finally:
        os.close(fd)
    assert len(os.fsencode(os.path.join(root, *parts))) > 4096
    return root, parts


def test_du_counts_below_path_max(deep):
    root, _ = deep
    report = disk_usage(root)[0]
    assert not report.errors, report.errors[:3]
    assert report.files == 3 and report.dirs == LEVELS
    gnu = subprocess.run(["du", "-sx", "-B1", str(root)], capture_output=True, text=True)
    assert report.disk_bytes == int(gnu.stdout.split()[0])
    gnu_apparent = subprocess.run(["du", "-sx", "-b", str(root)], capture_output=True, text=True)
    assert report.apparent_bytes == int(gnu_apparent.stdout.split()[0])


def test_filetype_types_the_bottom(deep):
    root, parts = deep
    results = scan_types([root], describe=False)
    by_name = {os.path.basename(r.path): r for r in results}
    assert set(by_name) == {"bottom.tmp", "keep.txt", "arr.npy"}
    assert by_name["arr.npy"].kind == "npy" and by_name["arr.npy"].problem == "truncated"
    assert by_name["keep.txt"].kind == "text" and by_name["keep.txt"].error is None
    assert by_name["arr.npy"].path == os.path.join(root, *parts, "arr.npy")


def test_clean_finds_and_deletes_the_bottom(deep, cli):
    root, parts = deep
    preview = json.loads(cli("clean", str(root), "--name", "*.tmp", "--json").stdout)
    assert [c["path"] for c in preview["candidates"]] == [os.path.join(root, *parts, "bottom.tmp")]
    cands = find_candidates([root], CleanSpec(names=["*.tmp"]))
    result = delete_candidates(cands, [root])
    assert len(result.deleted) == 1 and not result.failed
    found = subprocess.run(["find", str(root), "-name", "*.tmp"], capture_output=True, text=True)
    assert found.stdout == ""
    assert (
        "keep.txt"
        in subprocess.run(["find", str(root), "-type", "f"], capture_output=True, text=True).stdout
    )


def test_clean_removes_a_deep_folder_whole(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("junk.tmp", dir_fd=fd)
    cur = os.open("junk.tmp", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    for _ in range(LEVELS):
        os.mkdir(NAME, dir_fd=cur)
        nxt = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
        os.close(cur)
        cur = nxt
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cur))
    os.close(cur)
    cands = find_candidates([root], CleanSpec(names=["junk.tmp"]))
    assert [c.files for c in cands] == [1]  # the file at the bottom, found through 120 levels
    result = delete_candidates(cands, [root])
    assert not result.failed and os.listdir(root) == []
