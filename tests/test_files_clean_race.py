"""`clean --yes` raced against a renameat2(RENAME_EXCHANGE) swapper: nothing outside is deleted.

The adversary (tests/_swapper.py, ctypes -> libc renameat2) exchanges a real
folder under the root with a symlink to an outside folder holding the same
names, as fast as it can, for the whole time `clean` previews and deletes.
Three shapes: files in a swapped folder, folder candidates in a swapped
folder, and a swap inside a folder candidate while it is being removed. The
outside tree must come out byte for byte intact in every round.

Measured on the path-based `clean` this replaced (os.unlink/shutil.rmtree by
path): outside files were deleted in most rounds (see docs in the issue note).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.files.clean import CleanSpec, delete_candidates, find_candidates
from tests.conftest import read_line

SWAPPER = Path(__file__).with_name("_swapper.py")
REPO = Path(__file__).resolve().parents[1]
N = 12


def _tree(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def _setup(base: Path, shape: str) -> tuple[Path, Path, Path, Path]:
    """(root, outside, swap A, swap B) for one round."""
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    if shape == "files":
        (root / "sub").mkdir()
        for i in range(N):
            (root / "sub" / f"j{i}.tmp").write_bytes(b"inside")
            (outside / f"j{i}.tmp").write_bytes(b"OUTSIDE")
        os.symlink(outside, root / "link")
        return root, outside, root / "sub", root / "link"
    if shape == "folders":
        (root / "sub").mkdir()
        for i in range(N):
            for where in (root / "sub", outside):
                (where / f"c{i}.tmp").mkdir()
                (where / f"c{i}.tmp" / "a").write_bytes(b"x" if where != outside else b"OUTSIDE")
        os.symlink(outside, root / "link")
        return root, outside, root / "sub", root / "link"
    # "inner": the candidate folder itself holds the swapped pair
    big = root / "big.tmp"
    (big / "sub").mkdir(parents=True)
    for i in range(N):
        (big / "sub" / f"f{i}").write_bytes(b"inside")
        (outside / f"f{i}").write_bytes(b"OUTSIDE")
    os.symlink(outside, big / "link")
    return root, outside, big / "sub", big / "link"


class Swapper:
    def __init__(self, a: Path, b: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SWAPPER), str(a), str(b)], stdout=subprocess.PIPE, text=True
        )
        first = read_line(self.proc.stdout).strip()
        assert first == "ready", first

    def stop(self) -> int:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, out
        return int(out.split()[-1])


def _round_library(root: Path) -> tuple[int, int]:
    spec = CleanSpec(names=["*.tmp"])
    errors: list[str] = []
    cands = find_candidates([root], spec, on_error=lambda p, e: errors.append(p))
    # yield the CPU after each deletion: on a busy machine the swapper gets its turns
    # between our steps (what a real adversary on another core has anyway)
    result = delete_candidates(cands, [root], on_progress=lambda _c: os.sched_yield())
    return len(result.deleted), len(result.failed) + len(errors)


def _round_cli(root: Path) -> tuple[int, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "mltools", "clean", str(root), "--name", "*.tmp", "--yes", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode in (0, 6), proc.stderr
    data = json.loads(proc.stdout)
    return len(data["deleted"]), len(data["failed"])


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["files", "folders", "inner"])
def test_race_against_renameat2_swapper_deletes_nothing_outside(tmp_path, shape):
    rounds_library, rounds_cli = 15, 2
    deleted = refused = swaps = 0
    for n in range(rounds_library + rounds_cli):
        base = tmp_path / f"round{n}"
        base.mkdir()
        root, outside, a, b = _setup(base, shape)
        before = _tree(outside)
        swapper = Swapper(a, b)
        try:
            d, f = _round_library(root) if n < rounds_library else _round_cli(root)
        finally:
            swaps += swapper.stop()
        deleted += d
        refused += f
        assert _tree(outside) == before, f"round {n}: something outside the root was deleted"
    # the race was on: the swapper ran throughout, and clean acted inside the root (in the
    # "inner" shape most removals are refused, rightly: a level turned into a link mid-way)
    print(f"{shape}: {swaps} swaps, {deleted} deleted inside, {refused} refused/unreadable")
    assert swaps > 0 and deleted + refused > 0
    if shape != "inner":
        assert deleted > 0


def test_exchange_helper_swaps(tmp_path):
    from tests._swapper import exchange

    (tmp_path / "d").mkdir()
    os.symlink("/nonexistent", tmp_path / "l")
    exchange(str(tmp_path / "d"), str(tmp_path / "l"))
    assert (tmp_path / "d").is_symlink() and (tmp_path / "l").is_dir()
