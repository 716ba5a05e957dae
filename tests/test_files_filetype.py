"""`mltools filetype` and `detect_type` on real files with real libmagic."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from mltools.errors import ExitCode
from mltools.files import detect_type, scan_types
from mltools.files.ml_formats import crc32c, masked_crc32c
from tests._files_samples import write_samples

EXPECTED = {
    "model.safetensors": ("safetensors", None),
    "cut.safetensors": ("safetensors", "truncated"),
    "arr.npy": ("npy", None),
    "cut.npy": ("npy", "truncated"),
    "arrs.npz": ("npz", None),
    "t.parquet": ("parquet", None),
    "cut.parquet": ("parquet", "truncated"),
    "obj.pkl": ("pickle", None),
    "model.h5": ("hdf5", None),
    "cut-model.h5": ("hdf5", "truncated"),
    "model.onnx": ("onnx", None),
    "noproducer.onnx": ("onnx", None),
    "hand.onnx": ("onnx", None),
    "cut-model.onnx": ("onnx", "truncated"),
    "llm.gguf": ("gguf", None),
    "cut-llm.gguf": ("gguf", "truncated"),
    "legacy.pt": ("torch-legacy", None),
    "cut-legacy.pt": ("torch-legacy", "truncated"),
    "photo.heic": ("heic", None),
    "photo.avif": ("avif", None),
    "cut-photo.heic": ("heic", "truncated"),
    "data.tfrecord": ("tfrecord", None),
    "long.tfrecord": ("tfrecord", None),
    "cut-long.tfrecord": ("tfrecord", "truncated"),
    "dt10s.npy": ("npy", None),
    "str.npy": ("npy", None),
    "bytes.npy": ("npy", None),
    "struct.npy": ("npy", None),
    "cut-dt10s.npy": ("npy", "truncated"),
    "cut-str.npy": ("npy", "truncated"),
    "cut-bytes.npy": ("npy", "truncated"),
    "cut-struct.npy": ("npy", "truncated"),
    "clip.mkv": ("mkv", None),
    "cut.mkv": ("mkv", "truncated"),
    "cut.webm": ("webm", "truncated"),
    "cut.jsonl": ("jsonl", "truncated"),
    "short.jsonl": ("jsonl", "truncated"),
    "notes.gz": ("gzip", None),
    "one.txt": ("text", None),
    "paths.pth": ("text", None),
    "commented.svg": ("svg", None),
    "readme.md": ("text", None),
    "nodejs-tty.md": ("script", None),  # libmagic: application/javascript
    "iso2022.txt": ("text", None),
    "bad.tfrecord": ("tfrecord", "corrupt"),
    "rows.jsonl": ("jsonl", None),
    "clip.mp4": ("mp4", None),
    "cut.mp4": ("mp4", "truncated"),
    "movie.mov": ("mov", None),
    "error.mp4": ("html", None),
    "clip.webm": ("webm", None),
    "empty.png": ("empty", "empty"),
    "ckpt.pt": ("torch", None),
    "plain.zip": ("zip", None),
}

MISMATCHED = {n for n in EXPECTED if n.startswith("cut")} | {
    "short.jsonl",
    "cut.safetensors",
    "cut.npy",
    "cut.parquet",
    "bad.tfrecord",
    "cut.mp4",
    "error.mp4",
    "empty.png",
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    return write_samples(tmp_path_factory.mktemp("samples"))


def test_crc32c_known_vector():
    assert crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") == ((0 >> 15 | 0 << 17) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detect_each_format(samples, name):
    result = detect_type(samples[name])
    kind, problem = EXPECTED[name]
    assert (result.kind, result.problem) == (kind, problem), result
    assert result.extension_ok is (name not in MISMATCHED)
    assert result.mime and result.description


def test_safetensors_description_counts_tensors(samples):
    result = detect_type(samples["model.safetensors"])
    assert result.description == "safetensors, 2 tensors (F32, I64)"
    assert "header expects" in detect_type(samples["cut.safetensors"]).description


def test_text_is_text_whatever_libmagic_guesses():
    from mltools.files.filetype import _verdict, kind_of, refine_with_libmagic

    assert kind_of("application/javascript") == "script"
    head = b"Some *markdown* with function f() { return 1 }\n"
    # libmagic on some Markdown says application/javascript, on a 1-byte file "very short"
    for mime, desc in (
        ("application/javascript", "JavaScript source, ASCII text"),
        ("application/octet-stream", "very short file (no magic)"),
        ("application/x-wine-extension-ini", "Generic INItialization configuration"),
    ):
        found = refine_with_libmagic(None, head, None, len(head), mime, desc)
        verdict = _verdict("README.md", mime, desc, found, len(head))
        assert verdict.extension_ok is True and verdict.mime == mime, (mime, verdict)
    # an .html (or .json, .csv) that libmagic calls JavaScript is still text, as named
    page = b"<!DOCTYPE html><script>var x = function () { return 1; };</script>\n"
    found = refine_with_libmagic(None, page, None, len(page), "application/javascript", "JS")
    assert _verdict("search.html", "application/javascript", "JS", found, 70).extension_ok
    binary = b"\x00\x01\x02garbage\xff" * 10
    found = refine_with_libmagic(
        None, binary, None, len(binary), "application/octet-stream", "data"
    )
    assert _verdict("x.md", "application/octet-stream", "data", found, 130).extension_ok is False


def test_detect_bytes():
    png = detect_type(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64)
    assert png.mime == "image/png" and png.kind == "png" and png.path == "<bytes>"
    assert png.extension_ok is None
    assert detect_type(b"GGUF" + struct.pack("<IQQ", 3, 1, 1)).kind == "gguf"
    assert detect_type(b"").kind == "empty"


def test_detect_missing_raises():
    with pytest.raises(FileNotFoundError):
        detect_type("/no/such/file.bin")


def test_jpg_that_is_png_is_a_mismatch(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
        )
    )
    result = detect_type(tmp_path / "photo.jpg")
    assert (result.kind, result.mime, result.extension_ok) == ("png", "image/png", False)


def test_pool_and_inline_agree(tmp_path, samples):
    tree = tmp_path / "tree"
    for i in range(260):
        d = tree / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"line {i}\n")
    pooled = scan_types([tree], workers=2)
    inline = scan_types([tree], workers=1)
    assert len(pooled) == 260
    assert [(r.path, r.mime, r.description) for r in pooled] == [
        (r.path, r.mime, r.description) for r in inline
    ]
    assert {r.mime for r in pooled} == {"text/plain"}


def _odd_tree(root: Path) -> Path:
    root.mkdir()
    (root / "-rf.mp4").write_bytes(b"<html><body>not a video</body></html>\n")
    (root / "a&b c.txt").write_text("hello\n")
    (root / "new\nline.txt").write_text("hello\n")
    (root / os.fsdecode(b"bad\xffname.txt")).write_text("hello\n")
    os.symlink("/etc/hostname", root / "link.txt")
    os.mkfifo(root / "pipe")
    os.symlink(root / "nowhere", root / "dangling")
    return root


def test_odd_names_cli_json(cli, tmp_path):
    root = _odd_tree(tmp_path / "odd")
    result = cli("filetype", str(root), "--json")
    assert result.exit_code == 0, result.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(result.stdout)["files"]}
    assert set(rows) == {
        "-rf.mp4",
        "a&b c.txt",
        "new\nline.txt",
        "bad\\xffname.txt",
        "link.txt",
        "pipe",
        "dangling",
    }
    assert rows["-rf.mp4"]["kind"] == "html" and rows["-rf.mp4"]["extension_ok"] is False
    assert rows["link.txt"]["kind"] == "symlink"  # not followed by default
    assert rows["pipe"]["kind"] == "special"  # never opened (would block)
    assert rows["new\nline.txt"]["mime"] == "text/plain"
    assert set(rows["a&b c.txt"]) >= {"path", "mime", "description", "kind", "extension_ok"}


def test_follow_symlinks_reports_dangling_and_types_target(cli, tmp_path):
    root = _odd_tree(tmp_path / "odd")
    result = cli("filetype", str(root), "--json", "--follow-symlinks")
    assert result.exit_code == ExitCode.PARTIAL
    rows = {Path(r["path"]).name: r for r in json.loads(result.stdout)["files"]}
    assert rows["link.txt"]["kind"] == "text"
    assert rows["dangling"]["kind"] == "unreadable"
    assert "could not be read" in result.stderr
    assert "dangling" in result.stderr


def test_table_escapes_control_characters(cli, tmp_path):
    root = _odd_tree(tmp_path / "odd")
    result = cli("filetype", str(root))
    assert result.exit_code == 0
    assert "new\\nline.txt" in result.stdout
    assert "bad\\xffname.txt" in result.stdout
    assert len(result.stdout.splitlines()) == 8  # header + 7 files: no raw newline in a name


def test_leading_dash_path_argument(cli, tmp_path, monkeypatch):
    (tmp_path / "-x.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    result = cli("filetype", "--json", "--", "-x.png")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["kind"] == "empty"


def test_mismatch_lists_only_bad_files(cli, samples):
    folder = str(next(iter(samples.values())).parent)
    result = cli("filetype", folder, "--mismatch", "--json")
    assert result.exit_code == ExitCode.CHECK_FAILED
    names = {Path(r["path"]).name for r in json.loads(result.stdout)["files"]}
    assert names == MISMATCHED


def test_summary_and_csv(cli, samples):
    folder = str(next(iter(samples.values())).parent)
    doc = json.loads(cli("filetype", folder, "--summary", "--json").stdout)
    assert doc["schema_version"] == 1
    summary = doc["kinds"]
    by_kind = {(g["kind"], g["mime"]): g for g in summary}
    assert by_kind[("safetensors", "application/x-safetensors")]["files"] == 2
    assert sum(g["files"] for g in summary) == len(EXPECTED)
    assert sum(g["size_bytes"] for g in summary) == sum(p.stat().st_size for p in samples.values())
    csv_out = cli("filetype", folder, "--csv").stdout.splitlines()
    assert csv_out[0].startswith("path,mime,description,kind,extension_ok")
    assert len(csv_out) == len(EXPECTED) + 1


def test_missing_path_is_one_line_error(cli, tmp_path):
    result = cli("filetype", str(tmp_path / "nope"))
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("mltools: error: no such file or directory")
    assert "Traceback" not in result.stderr


def test_subprocess_pool_run(run_mltools, tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    for i in range(300):
        (tree / f"{i}.json").write_text('{"a": 1}\n')
    out = run_mltools("filetype", str(tree), "--summary", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "schema_version": 1,
        "kinds": [{"kind": "json", "mime": "application/json", "files": 300, "size_bytes": 2700}],
    }


def test_symlinks_are_described_as_file_1_describes_them(cli, tmp_path):
    """Without --follow-symlinks a link is described, as `file -b` does: "broken" when its
    target cannot be stat'ed (missing, a loop), through the walk and named alone."""
    import subprocess

    root = tmp_path / "links"
    root.mkdir()
    os.symlink("/etc/hostname", root / "good")
    os.symlink("nowhere", root / "broken")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    result = cli("filetype", str(root), "--json", "--describe")
    assert result.exit_code == 0, result.stderr
    got = {Path(r["path"]).name: r["description"] for r in json.loads(result.stdout)["files"]}
    names = sorted(got)
    file_says = subprocess.run(
        ["file", "-b", "--", *(str(root / n) for n in names)], capture_output=True, text=True
    ).stdout.splitlines()
    assert [got[n] for n in names] == file_says
    assert got["broken"] == "broken symbolic link to nowhere"
    assert got["good"] == "symbolic link to /etc/hostname"
    alone = cli("filetype", str(root / "loop1"), "--json", "--describe")
    assert json.loads(alone.stdout)["files"][0]["description"] == "broken symbolic link to loop2"
