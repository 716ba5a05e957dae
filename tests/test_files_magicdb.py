"""magicdb: libmagic with the entries a file cannot match left out gives file(1)'s verdicts.

Differential: every file is typed three ways and all three must agree, MIME type and
description both: through the filtered databases (what ``filetype`` uses), through the
whole database (plain libmagic on the same descriptor), and by file(1) itself
(``file -b`` and ``file -b --mime-type``). The inputs: the bench tree's shape, the ML
samples, text written to sit on the filter's edges (the bytes an entry needs present, in
the other case, with other blanks), mutations of all of those, and real trees of this
machine (/usr/share/doc, the standard library, /etc, /usr/bin).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.files import magicdb
from mltools.files.filetype import _read_whole, scan_types
from tests._files_samples import write_samples

pytestmark = pytest.mark.skipif(shutil.which("file") is None, reason="file(1) is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_files import make_tree  # noqa: E402


def _file1(paths: list[str], *flags: str) -> list[str]:
    out: list[str] = []
    for i in range(0, len(paths), 400):
        chunk = paths[i : i + 400]
        done = subprocess.run(["file", "-b", *flags, "--", *chunk], capture_output=True)
        lines = done.stdout.decode("utf-8", "backslashreplace").split("\n")[:-1]
        assert len(lines) == len(chunk), done.stderr
        out += lines
    return out


@pytest.fixture(autouse=True)
def _build_for_every_key(monkeypatch):
    """A database for every key at once, no limit: the differential sees every file's own
    filter (``_three_ways`` takes a fresh Typer every ``_BATCH`` files to bound memory)."""
    monkeypatch.setattr(magicdb, "BUILD_AFTER_S", {True: 0.0, False: 0.0})
    monkeypatch.setattr(magicdb, "MAX_TEXT_DATABASES", _BATCH)
    monkeypatch.setattr(magicdb, "MAX_BINARY_DATABASES", _BATCH)


_BATCH = 6  # files per Typer: each database costs up to 14 MB once used


def _three_ways(paths: list[str]) -> dict[str, int]:
    """Type ``paths`` three ways; assert they agree; count what went through a filter."""
    ours, whole, filtered, built = [], [], 0, 0
    typer = magicdb.Typer(describe=True)
    assert typer.dbs is not None, "the filter is off on this machine: nothing is tested"
    for i, path in enumerate(paths):
        if i and i % _BATCH == 0:
            built += sum(typer.built.values())
            typer = magicdb.Typer(describe=True)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = _read_whole(fd, b"") if os.fstat(fd).st_size <= magicdb.WHOLE_LIMIT else None
            filtered += data is not None
            ours.append(typer.identify(fd, data))
            whole.append(typer.identify(fd, None))
        finally:
            os.close(fd)
    file1 = list(zip(_file1(paths, "--mime-type"), _file1(paths)))
    differ = [(p, a, b) for p, a, b in zip(paths, ours, whole) if a != b]
    assert not differ, differ[:5]
    # file(1) names a path and adds "setuid"/"setgid"/"sticky" from its mode bits; we type
    # the open file, as filetype always has: those few are held to the whole database only
    plain = [os.stat(p).st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX) == 0 for p in paths]
    differ = [(p, a, b) for p, a, b, ok in zip(paths, ours, file1, plain) if ok and a != b]
    assert not differ, differ[:5]
    built += sum(typer.built.values())
    return {"files": len(paths), "filtered": filtered, "built": built}


def _files(root: Path | str, limit: int = 100_000) -> list[str]:
    out = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path):
                out.append(path)
                if len(out) >= limit:
                    return out
    return out


# --- what a first test needs --------------------------------------------------------------


def _bytes(needs: list[frozenset[int]]) -> str:
    """The needs that are single bytes, as a string (the others shown as '?')."""
    return "".join(chr(next(iter(n))) if len(n) == 1 else "?" for n in needs)


@pytest.mark.parametrize(
    ("pattern", "icase", "expected"),
    [
        (rb"^import.*;$", False, "import;"),
        (rb"^(import|export).* from ", False, " from "),  # the group counts for nothing
        (rb"^[ \t]{0,50}\.globl", False, ".globl"),  # {0,50}: optional
        (rb"^1[\r\n]+0[01]:[0-9]{2}", False, "10:"),  # + keeps, a bracket counts for nothing
        (rb"typeof.*[!=]==", False, "typeof=="),
        (rb"a?b*c+d{2}e{0}", False, "cd"),
        (rb"\bREF\w", False, "REF"),  # escaped letters (GNU operators) count for nothing
        (rb"\(defn-?[[:space:]]", False, "(defn"),
        (rb"^%?[ \t]*SiSU", True, "????"),  # case-blind: either case, or a high byte
        (b"^[ \t]*0\r?\x00$", False, "0"),  # regcomp stops at the NUL
        (rb"^(:|;)", False, ""),
        (rb"a|b", False, ""),  # an alternation at the top level: nothing judged
        (rb"*a", False, ""),  # a quantifier with nothing before it: nothing judged
        (rb"a{,3}", False, ""),  # an interval we do not parse: nothing judged
        (rb"[]a]x", False, "x"),
        (rb"[[:alpha:]]]y", False, "]y"),
    ],
)
def test_regex_needs(pattern, icase, expected):
    assert _bytes(magicdb.regex_needs(pattern, icase)) == expected


def test_needs_of_real_entries():
    """Entries of the installed database: what their first tests need."""
    magicdb.prepare()
    dbs = magicdb._INDEX["dbs"]
    assert dbs, "the filter is off on this machine"
    by_desc = {}
    for db in dbs:
        for chunk, _masks, _text in db.chains:
            entry = bytes(chunk[:376])
            desc = entry[160:224].split(b"\0", 1)[0]
            by_desc.setdefault(desc, entry)
    png = by_desc[b"PNG image data"]
    assert _bytes(magicdb.first_test_needs(png)).startswith("\x89PNG\r\n\x1a\n")


def _entry(reln: str, kind: int, value: bytes, *, flags: int = 0, mask: int = 0) -> bytes:
    """A top-level ``struct magic`` (libmagic's compiled format 18) with these fields."""
    head = bytes([0, 0, 0, 0, ord(reln), len(value), kind]) + b"\0" * 17
    rest = mask.to_bytes(8, "little") if mask else b"\0" * 4 + flags.to_bytes(4, "little")
    return (head + rest + value).ljust(376, b"\0")


def test_needs_of_made_up_entries():
    belong = _entry("=", 8, (0xCAFEBABE).to_bytes(8, "little"))
    assert sorted(next(iter(n)) for n in magicdb.first_test_needs(belong)) == [
        0xBA,
        0xBE,
        0xCA,
        0xFE,
    ]
    assert magicdb.first_test_needs(_entry("x", 8, b"\1" * 8)) == []  # any value
    assert magicdb.first_test_needs(_entry(">", 8, b"\1" * 8)) == []
    masked = _entry("=", 8, b"\1" * 8, mask=0xFF)
    assert magicdb.first_test_needs(masked) == []
    assert _bytes(magicdb.first_test_needs(_entry("=", 5, b"%PDF-"))) == "%PDF-"
    blank = magicdb.first_test_needs(_entry("=", 5, b"a b", flags=0x1))  # W: any blanks
    assert _bytes(blank) == "ab"
    icase = magicdb.first_test_needs(_entry("=", 20, b"ab", flags=0x4))  # c: either case
    assert ord("A") in icase[0] and ord("a") in icase[0] and 0xE9 in icase[0]
    assert magicdb.first_test_needs(_entry("=", 5, b"\xe9t\xe9", flags=0x4)) == [
        frozenset((ord("t"), ord("T"))) | frozenset(range(0x80, 0x100))
    ]
    assert magicdb.first_test_needs(_entry("=", 46, b"name")) == []  # use: nothing judged


# --- differential ---------------------------------------------------------------------------

# each line holds the bytes some entry looks for; some match it, some only nearly
EDGES = [
    b"#!/bin/sh\necho hi\n",
    b"#! /usr/bin/env python3\nprint(1)\n",
    b"<?xml version='1.0'?>\n<a/>\n",
    b"<?XML VERSION='1.0'?>\n<a/>\n",
    b"<html><body>x</body></html>\n",
    b"<HTML>\n<BODY>X</BODY>\n",
    b"<!DOCTYPE html>\n<title>t</title>\n",
    b"import os;\n",
    b"import os\n",
    b"export default function f() {}\n",
    b"const x = require('y');\n",
    b"\\documentclass{article}\n\\begin{document}\n",
    b"From: a@b.c\nSubject: s\n\nbody\n",
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    b"%!PS-Adobe-3.0\n",
    b"GIF89a\x01\x00\x01\x00",
    b"{\\rtf1\\ansi hello}\n",
    b"\t.globl main\nmain:\n\t.text\n",
    b"BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n",
    b"1\n00:00:01,000 --> 00:00:02,000\nhi\n",
    b"CFLAGS = -O2\nall:\n\tcc x.c\n",
    b"(defn f [x] x)\n",
    b"package main\n\nfunc main() {}\n",
    b"#include <stdio.h>\nint main(void) { return 0; }\n",
    b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
    b"[Desktop Entry]\nName=x\n",
    b"-----BEGIN PGP SIGNATURE-----\n",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    b'{"a": [1, 2, 3]}\n',
    b"a,b,c\n1,2,3\n",
    b"MZ\x90\x00\x03\x00\x00\x00",
    b"\x7fELF\x02\x01\x01" + b"\x00" * 64,
    b"PK\x03\x04" + b"\x00" * 40,
    b"\x1f\x8b\x08\x00" + b"\x00" * 20,
    b"caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\n",  # UTF-8: the text tests stay in
    b"na\xefve caf\xe9\n",  # Latin-1: converted to UTF-8 before the text tests
    b"\xff\xfeh\x00i\x00\n\x00",  # UTF-16 with a BOM
    b"hello\n\x00\x00\x00",  # trailing NULs
    b"+/v8 utf-7 text\n",
]


def _mutations(seed_files: list[bytes], count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    key = magicdb.TEXT_KEYS + magicdb.BINARY_KEYS
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(seed_files))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(5)
            pos = rng.randrange(len(data) + 1)
            if op == 0:
                data[pos:pos] = bytes([rng.choice(key)])  # a key byte appears
            elif op == 1 and data:
                byte = rng.choice(data)
                data = data.replace(bytes([byte]), b" ")  # a byte disappears
            elif op == 2:
                del data[pos:]  # cut short
            elif op == 3:
                data[pos:pos] = rng.choice(EDGES)  # a signature lands mid-file
            else:
                data = data.swapcase() if rng.random() < 0.5 else data.upper()
        out.append(bytes(data) or b"x")
    return out


def test_bench_tree_shape_agrees_with_file(tmp_path):
    make_tree(tmp_path, 660)
    counts = _three_ways(_files(tmp_path))
    assert counts["filtered"] >= 600
    assert counts["built"] >= 10


def test_samples_and_edges_agree_with_file(tmp_path):
    samples = write_samples(tmp_path / "samples")
    edges = tmp_path / "edges"
    edges.mkdir()
    for i, data in enumerate(EDGES):
        (edges / f"e{i:02d}").write_bytes(data)
    paths = [str(p) for p in samples.values() if p.is_file() and p.stat().st_size] + _files(edges)
    counts = _three_ways(paths)
    assert counts["filtered"] == len(paths)


def test_mutations_agree_with_file(tmp_path):
    seeds = list(EDGES)
    seeds += [Path(p).read_bytes()[:6000] for p in _files(Path(magicdb.__file__).parent)[:20]]
    for i, data in enumerate(_mutations(seeds, 400, seed=27)):
        (tmp_path / f"m{i:03d}").write_bytes(data)
    counts = _three_ways(_files(tmp_path))
    assert counts["filtered"] == 400
    assert counts["built"] > 100


@pytest.mark.parametrize(
    "tree", ["/usr/share/doc", os.path.dirname(os.__file__), "/etc", "/usr/bin"]
)
def test_real_trees_agree_with_file(tree):
    paths = _files(tree, limit=1500)
    if not paths:
        pytest.skip(f"{tree} is empty here")
    counts = _three_ways(paths)
    assert counts["filtered"] > len(paths) // 2


# --- when the filter turns itself off ------------------------------------------------------


def test_source_magic_with_entries_turns_the_filter_off(tmp_path, monkeypatch):
    source = tmp_path / "magic"
    source.write_text("0\tstring\tMLTOOLSTEST\tan mltools test file\n")
    monkeypatch.setenv("MAGIC", str(source))
    assert magicdb._default_databases() is None
    comments = tmp_path / "comments"
    comments.write_text("# nothing but a comment\n\n")
    monkeypatch.setenv("MAGIC", f"{comments}:/usr/share/misc/magic")
    dbs = magicdb._default_databases()
    assert dbs is not None and len(dbs) == 1


def test_other_format_version_turns_the_filter_off(tmp_path, monkeypatch):
    magicdb.prepare()
    compiled = bytes(magicdb._INDEX["dbs"][0].header)
    raw = bytearray(compiled + b"\0" * 376 * 2)
    raw[8:16] = (1).to_bytes(4, sys.byteorder) + (1).to_bytes(4, sys.byteorder)
    raw[4] = 99  # the format version
    (tmp_path / "odd.mgc").write_bytes(bytes(raw))
    monkeypatch.setenv("MAGIC", str(tmp_path / "odd"))
    assert magicdb._default_databases() is None


def test_scan_types_same_verdicts_with_and_without_the_filter(tmp_path, monkeypatch):
    """End to end: every field of every FileType is what the whole database gives."""
    make_tree(tmp_path / "tree", 330)
    edges = tmp_path / "edges"
    edges.mkdir()
    for i, data in enumerate(EDGES):
        (edges / f"e{i:02d}.txt").write_bytes(data)
    fast = scan_types([tmp_path], workers=1)
    identify = magicdb.Typer.identify
    monkeypatch.setattr(magicdb.Typer, "identify", lambda self, fd, data: identify(self, fd, None))
    slow = scan_types([tmp_path], workers=1)
    assert len(fast) == len(slow) > 360
    assert fast == slow


def test_threads_share_a_typer_safely(tmp_path):
    """detect_type from several threads at once: libmagic handles are used one call at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from mltools.files import detect_type

    make_tree(tmp_path, 220)
    paths = [p for p in _files(tmp_path)]
    serial = [detect_type(p) for p in paths]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(detect_type, paths))
    assert threaded == serial


def test_head_that_rules_the_filter_out_is_not_read_further():
    assert magicdb.needs_whole(b"plain text")  # text: the whole file decides
    assert magicdb.needs_whole(b"\xff\xd8\xff\xe0 JFIF")  # binary, key bytes missing
    binary_with_every_key = b"\x80" + magicdb.BINARY_KEYS
    assert not magicdb.needs_whole(binary_with_every_key)
