"""`filetype --mismatch` on the real trees of this machine: zero false mismatches.

The fixtures in test_files_filetype.py say what we expect; these trees say what
is out there: /usr/share/doc and the system Python's standard library in full,
and a deterministic sample (every file with an ML/media/archive extension plus
one in SAMPLE of the others, chosen by a hash of the path) of the running
interpreter's standard library and site-packages. Every flag must be confirmed
by an independent reader (gzip -t, numpy, json, zipfile, ...); a flag that no
reader confirms is a false mismatch and fails the test.

Measured once in full (87,195 files: pyenv stdlib + its site-packages,
/usr/lib/python3.11, /usr/share/doc, /work/venv site-packages): 10 flags, all
.gz files in joblib's test data that gzip itself refuses; 0 false.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
import zlib
from pathlib import Path

import pytest

from mltools.files.filetype import _EXT, mismatches, scan_types

SAMPLE = 25
# extensions whose files are always included: the formats with their own checks
ALWAYS = {e for e, (kinds, _) in _EXT.items() if not set(kinds) & {"text", "script"}}


def _stock_trees() -> list[tuple[Path, bool]]:
    """(tree, in full?) for the trees present on this machine."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    trees = [(Path("/usr/share/doc"), True), (Path("/usr/lib") / version, True)]
    paths = sysconfig.get_paths()
    trees += [(Path(paths["stdlib"]), False), (Path(paths["purelib"]), False)]
    seen, out = set(), []
    for tree, full in trees:
        real = tree.resolve()
        if real.is_dir() and real not in seen:
            seen.add(real)
            out.append((real, full))
    return out


def _pick(trees: list[tuple[Path, bool]]) -> list[str]:
    picked: set[str] = set()
    for tree, full in trees:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if any(path.startswith(str(t) + os.sep) for t, f in trees if f and t != tree):
                    continue  # a full tree nested in a sampled one: taken in full already
                ext = os.path.splitext(name)[1].lower()
                chosen = full or ext in ALWAYS or zlib.crc32(os.fsencode(path)) % SAMPLE == 0
                if chosen and os.path.isfile(path) and not os.path.islink(path):
                    picked.add(path)
    return sorted(picked)


def _confirmed(path: str, ext: str) -> bool:
    """An independent reader agrees the file is not what its name says (or is damaged).

    Only a reader's own "this file is bad" counts as agreement; any other exception (a
    missing module, a permission error, a bug here) fails the test instead of confirming.
    """
    if ext in (".gz", ".tgz"):
        return subprocess.run(["gzip", "-t", path], capture_output=True).returncode != 0
    if ext == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                return z.testzip() is not None
        except (zipfile.BadZipFile, zlib.error, EOFError):
            return True
    if ext == ".json":
        try:
            with open(path, "rb") as f:
                json.load(f)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            return True
        return False
    if ext == ".npy":
        import numpy as np

        try:
            np.load(path, allow_pickle=False)
        except (ValueError, EOFError):  # bad magic or header, truncated, pickled objects
            return True
        return False
    if ext in (".png", ".jpg", ".jpeg", ".gif"):
        out = subprocess.run(["file", "-b", path], capture_output=True, text=True, check=True)
        return ext.strip(".").replace("jpg", "jpeg") not in out.stdout.lower()
    return False


@pytest.mark.slow
def test_no_false_mismatches_on_stock_trees():
    trees = _stock_trees()
    paths = _pick(trees)
    if len(paths) < 500:
        pytest.skip(f"too few stock files here ({len(paths)})")
    results = scan_types(paths, describe=False)
    flags = mismatches(results)
    false = [
        (r.path, r.kind, r.expected, r.problem, r.mime)
        for r in flags
        if not _confirmed(r.path, os.path.splitext(r.path)[1].lower())
    ]
    print(
        f"{len(paths)} files from {[str(t) for t, _ in trees]}: {len(flags)} flags, {len(false)} false"
    )
    assert not false, false[:20]
    assert not [r for r in results if r.kind == "unreadable"]


def test_independent_reader_confirms_a_real_bad_gzip(tmp_path):
    good, bad = tmp_path / "a.gz", tmp_path / "b.gz"
    good.write_bytes(gzip.compress(b"x" * 100))
    bad.write_bytes(zlib.compress(b"x" * 100))  # zlib, not gzip: what joblib's test data holds
    assert not _confirmed(str(good), ".gz") and _confirmed(str(bad), ".gz")
    flags = mismatches(scan_types([good, bad], describe=False))
    assert [r.path for r in flags] == [str(bad)]


@pytest.mark.parametrize(
    ("ext", "good", "bad"),
    [
        (".json", b'{"a": 1}', b'{"a": '),
        (".zip", None, b"PK\x03\x04 not really a zip"),
        (".npy", None, b"\x93NUMPY\x01\x00garbage"),
    ],
)
def test_independent_readers_say_good_from_bad_and_do_not_swallow_crashes(tmp_path, ext, good, bad):
    if good is None:  # made by the real writer
        good_path = tmp_path / f"good{ext}"
        if ext == ".zip":
            with zipfile.ZipFile(good_path, "w") as z:
                z.writestr("a.txt", "a")
        else:
            import numpy as np

            np.save(good_path, np.arange(3))
    else:
        good_path = tmp_path / f"good{ext}"
        good_path.write_bytes(good)
    bad_path = tmp_path / f"bad{ext}"
    bad_path.write_bytes(bad)
    assert not _confirmed(str(good_path), ext)
    assert _confirmed(str(bad_path), ext)
    # a reader that crashes (here: cannot open the file) is not a confirmation
    with pytest.raises(OSError):
        _confirmed(str(tmp_path / f"missing{ext}"), ext)
