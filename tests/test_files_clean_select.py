"""What `clean` may select, checked against GNU find: special files, mounts, /, empty filters, globs.

Every glob case is run through real `find -name` on the same odd names (the
reference we did not write), including `[^a]*`, `[!a]*`, `[[:digit:]]`,
backslash escapes and names that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from mltools.errors import ExitCode, UsageError
from mltools.files.clean import CleanSpec, check_roots, delete_candidates, find_candidates
from mltools.files.fnmatch3 import fnmatch
from tests.conftest import usage_error


def _find(root: Path, *args: bytes | str) -> set[bytes]:
    out = subprocess.run(
        [
            b"find",
            os.fsencode(root),
            b"-mindepth",
            b"1",
            *(os.fsencode(a) for a in args),
            b"-print0",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return {os.path.relpath(p, os.fsencode(root)) for p in out.split(b"\0") if p}


def _ours(root: Path, spec: CleanSpec, **kw) -> set[bytes]:
    return {
        os.path.relpath(os.fsencode(c.path), os.fsencode(root))
        for c in find_candidates([root], spec, **kw)
    }


# --- special files ------------------------------------------------------------------------


@pytest.fixture
def specials(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    root.mkdir()
    (root / "plain.tmp").write_bytes(b"")
    os.mkfifo(root / "fifo.tmp")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.tmp"))
    sock.close()
    # not root: the FIFO and the socket still stand for the special files
    with contextlib.suppress(PermissionError):
        os.mknod(root / "null.tmp", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.symlink("plain.tmp", root / "link.tmp")
    old = 1_000_000_000
    for name in os.listdir(root):
        os.utime(root / name, (old, old), follow_symlinks=False)
    return root


@pytest.mark.parametrize(
    "spec",
    [
        CleanSpec(empty_files=True),
        CleanSpec(smaller_bytes=1024),
        CleanSpec(older_than_seconds=3600),
        CleanSpec(names=["*"]),
        CleanSpec(names=["*.tmp"], presets=["empty"]),
    ],
    ids=["empty", "smaller", "older", "name", "preset-empty"],
)
def test_special_files_and_symlinks_are_never_selected_by_default(specials, spec):
    assert _ours(specials, spec) == {b"plain.tmp"}


@pytest.mark.parametrize("letters", ["p", "s", "c", "l", "f", "p,s", "fl"])
def test_type_selects_kinds_like_find_type(specials, letters):
    find_types = ",".join(ch for ch in letters if ch != ",")
    expected = _find(specials, "-type", find_types, "-name", "*.tmp")
    assert _ours(specials, CleanSpec(names=["*.tmp"], type=letters)) == expected


def test_fifo_is_removed_without_being_opened(specials):
    cands = find_candidates([specials], CleanSpec(names=["fifo.tmp"], type="p"))
    result = delete_candidates(cands, [specials])  # opening a FIFO would block: it is unlinked
    assert len(result.deleted) == 1 and not (specials / "fifo.tmp").exists()


def test_cli_lists_kind_letters(cli, specials):
    out = json.loads(
        cli("clean", str(specials), "--name", "*.tmp", "--type", "p,l", "--json").stdout
    )
    assert sorted((c["path"].rsplit("/", 1)[1], c["type"]) for c in out["candidates"]) == [
        ("fifo.tmp", "p"),
        ("link.tmp", "l"),
    ]


# --- mounts, system roots, empty or malformed values ---------------------------------------


def test_other_filesystems_are_not_entered_unless_asked(tmp_path):
    root = tmp_path / "r"
    (root / "mnt").mkdir(parents=True)
    (root / "a.tmp").write_bytes(b"x")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "none", str(root / "mnt")], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        (root / "mnt" / "b.tmp").write_bytes(b"x")
        (root / "mnt" / "sub").mkdir()
        assert _ours(root, CleanSpec(names=["*.tmp"])) == {b"a.tmp"}
        assert _find(root, "-xdev", "-name", "*.tmp") == {b"a.tmp"}
        assert _ours(root, CleanSpec(names=["*"], type="d")) == set()  # the mount point: no
        crossed = _ours(root, CleanSpec(names=["*.tmp"]), one_file_system=False)
        assert crossed == _find(root, "-name", "*.tmp") == {b"a.tmp", b"mnt/b.tmp"}
    finally:
        subprocess.run(["umount", str(root / "mnt")], check=True)


@pytest.mark.parametrize("root", ["/", "/usr", "/etc", "/home", "//", "/usr/../usr"])
def test_system_roots_are_refused(cli, root):
    result = cli("clean", root, "--name", "nothing-matches-this-*", "--json")
    assert result.exit_code == ExitCode.USAGE
    assert "system folder" in result.stderr and "--allow-system-root" in result.stderr
    with pytest.raises(UsageError):
        check_roots([root])
    check_roots([root], allow_system_root=True)


def test_system_root_refused_through_a_symlink(cli, tmp_path):
    os.symlink("/", tmp_path / "slash")
    result = cli("clean", str(tmp_path / "slash"), "--name", "x")
    usage_error(result, "refusing to clean the system folder /", "--allow-system-root")


# Each message names its option (the size and age ones did not: "not an age: ''"), so a
# renamed option fails here too ("No such option" is refused by usage_error).
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--older-than", ""), "Invalid value for '--older-than': not an age: ''"),
        (("--newer-than", ""), "Invalid value for '--newer-than': not an age: ''"),
        (("--smaller", ""), "Invalid value for '--smaller': not a size: ''"),
        (("--larger", ""), "Invalid value for '--larger': not a size: ''"),
        (("--name", ""), "bad --name: empty glob"),
        (("--type", ""), "--type must be one or more of f, d, l, p, s, b, c, not ''"),
        (("--preset", ""), "unknown preset ''"),
        (("--older-than", "-3d"), "Invalid value for '--older-than': not an age: '-3d'"),
        (("--larger", "nan"), "Invalid value for '--larger': not a size: 'nan'"),
        (("--smaller", "inf"), "Invalid value for '--smaller': not a size: 'inf'"),
        (("--type", "x"), "--type must be one or more of f, d, l, p, s, b, c, not 'x'"),
        (("--name", "a/b"), "bad --name: a glob matches one name, it cannot hold '/': 'a/b'"),
        (("--older-than", "   "), "Invalid value for '--older-than': not an age: '   '"),
    ],
)
def test_empty_or_malformed_filter_values_are_usage_errors(cli, tmp_path, args, message):
    (tmp_path / "keep").write_text("x")
    result = cli("clean", str(tmp_path), "--name", "*", *args, "--yes")
    stderr = usage_error(result, message)
    assert stderr.count(message) == 1
    assert (tmp_path / "keep").exists()


# --- globs, against find -name --------------------------------------------------------------

NAMES = [
    b"abc",
    b"bcd",
    b"^abc",
    b"!bang",
    b"1digit",
    b"x9",
    b"a*b",
    b"a?b",
    b"axb",
    b"*",
    b"\\back",
    b"a]",
    b"]x",
    b"[x",
    b"-dash",
    b".hidden",
    b"Upper",
    b"caf\xc3\xa9.tmp",  # UTF-8
    b"\xff\xfe.tmp",  # not UTF-8
    b"lat\xe9",  # Latin-1
    b"new\nline",
    b"sp ace.tmp",
]

PATTERNS = [
    b"[^a]*",
    b"[!a]*",
    b"[[:digit:]]*",
    b"*[[:digit:]]",
    b"[[:upper:]]*",
    b"[[:alpha:]][[:alpha:]]*",
    b"[[:punct:]]*",
    b"a\\*b",
    b"a\\?b",
    b"a?b",
    b"\\*",
    b"\\\\*",
    b"\\back",
    b"[]]*",
    b"[]a]",
    b"a]",
    b"[[]x",
    b"[x",
    b"[!]]*",
    b"*.tmp",
    b"\xff*",
    b"*\xe9",
    b"?",
    b"*",
    b".*",
    b"[a-c]*",
    b"[!a-c]*",
    b"-*",
    b"*\n*",
    b"[[:space:]]*",
    b"*[[:space:]]*",
]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("globs")
    for name in NAMES:
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write(b"x")
    return root


@pytest.mark.parametrize("pattern", PATTERNS, ids=[repr(p)[2:-1] for p in PATTERNS])
def test_glob_matches_exactly_what_find_name_matches(odd, pattern):
    expected = _find(odd, "-name", pattern)
    ours = _ours(odd, CleanSpec(names=[os.fsdecode(pattern)]))
    assert ours == expected
    # and the matcher on its own, str and bytes alike
    assert {n for n in NAMES if fnmatch(n, pattern)} == expected
    assert {n for n in NAMES if fnmatch(os.fsdecode(n), os.fsdecode(pattern))} == expected


def test_caret_negation_keeps_what_the_user_meant_to_keep(cli, tmp_path):
    for name in ("alpha.txt", "beta.txt", "^odd"):
        (tmp_path / name).write_text("x")
    result = cli("clean", str(tmp_path), "--name", "[^a]*", "--yes")
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["alpha.txt"]


def test_json_is_valid_utf8_with_undecodable_glob_and_names(odd):
    import sys

    from tests.conftest import mltools_env

    proc = subprocess.run(
        [
            os.fsencode(sys.executable),
            b"-m",
            b"mltools",
            b"clean",
            os.fsencode(odd),
            b"--name",
            b"\xff*",
            b"--json",
        ],
        capture_output=True,
        env=mltools_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")  # strict: raises on invalid UTF-8
    data = json.loads(text)
    assert [c["reason"] for c in data["candidates"]] == ["\\xff*"]
    assert data["candidates"][0]["path"].endswith("/\\xff\\xfe.tmp")


def test_print_cron_refuses_values_with_newlines(cli, tmp_path):
    bad_dir = tmp_path / "a\nb"
    bad_dir.mkdir()
    for args in (
        (str(tmp_path), "--name", "x\n* * * * * rm -rf ~"),
        (str(bad_dir), "--name", "x"),
        (str(tmp_path), "--name", "x", "--older-than", "1d\n"),
    ):
        result = cli("clean", *args, "--print-cron", "@daily")
        usage_error(result, "cannot put a value holding a line break in a crontab line")
        assert "\n* * * * *" not in result.stdout
    assert (
        cli("clean", str(tmp_path), "--name", "x", "--print-cron", "@daily\n* * * * * id").exit_code
        == ExitCode.USAGE
    )
