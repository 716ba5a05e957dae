"""The lean zip reader against ``zipfile``: the same checkpoint, or the same error, on every file.

``read_zip_checkpoint`` reads plain torch archives with ``struct`` (``_LeanZip``) and hands
anything unusual to ``zipfile``. Each file below is read both ways (the lean reader on, and
off) and must give the same tree, storages (offsets included), globals, or the same error
type and message: real ``torch.save`` files, the public malicious corpus, the hostile zips,
hand-made oddities (comments, prefixes, encryption flags, deflated pickles, duplicate and NUL
names, bad CRCs, ZIP64 lies) and a byte-mutation fuzz of a real file's headers.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.ckpt import zipreader
from mltools.ckpt.errors import CheckpointError
from tests import _ckpt_hostile as hostile
from tests.test_ckpt_fast import canon

torch = pytest.importorskip("torch")

CORPUS = Path(__file__).parent / "fixtures" / "ckpt_corpus"


class Spy:
    """Counts how often the lean reader took a file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken = 0
        real = zipreader._lean_parts

        def counted(*args: Any) -> Any:
            out = real(*args)
            self.taken += out is not None
            return out

        monkeypatch.setattr(zipreader, "_lean_parts", counted)


def outcome(path: Path, *, lean: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        if not lean:
            m.setattr(zipreader, "_lean_parts", lambda *args: None)
        try:
            ckpt = zipreader.read_zip_checkpoint(path)
        except CheckpointError as exc:
            return ("error", type(exc).__name__, str(exc))
    storages = []
    seen: set[int] = set()

    def collect(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        storage = getattr(obj, "storage", None)
        if storage is not None:
            storages.append((storage.key, storage.offset, storage.nbytes))
        if isinstance(obj, dict):
            for v in obj.values():
                collect(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                collect(v)

    collect(ckpt.root)
    return ("ok", canon(ckpt.root), storages, ckpt.globals, ckpt.format)


def agree(path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    fast = outcome(path, lean=True, monkeypatch=monkeypatch)
    slow = outcome(path, lean=False, monkeypatch=monkeypatch)
    assert fast == slow, path
    return fast


def _save(obj: Any, path: Path, **kwargs: Any) -> Path:
    torch.save(obj, path, **kwargs)
    return path


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("real")
    base = torch.arange(12.0)
    objects = {
        "flat": {f"layers.{i}.weight": torch.zeros(2, 3) for i in range(200)},
        "train": {"model": {"w": torch.ones(3)}, "step": 7, "lr": 0.1},
        "views": {"a": base[2:6], "b": base.view(3, 4).t(), "c": base},
        "dtypes": {str(d): torch.zeros(3, dtype=d) for d in (torch.bfloat16, torch.int8)},
        "empty": {},
    }
    files = [_save(obj, folder / f"{name}.pt") for name, obj in objects.items()]
    files.append(_save(objects["flat"], folder / "proto4.pt", pickle_protocol=4))
    return files


def test_real_files_take_the_lean_reader_and_agree(
    real_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    for path in real_files:
        assert agree(path, monkeypatch)[0] == "ok"
    # outcome() runs the lean reader once per file (the zipfile run patches it away)
    assert spy.taken == len(real_files)


def test_public_corpus_and_hostile_zips_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and zipfile.is_zipfile(p)]
    files += [p for p in hostile.write_all(tmp_path, bomb=True).values() if zipfile.is_zipfile(p)]
    assert len(files) >= 10
    verdicts = [agree(p, monkeypatch)[0] for p in files]
    assert "error" in verdicts


def _rewrite(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert old in data
    return data.replace(old, new, count)


def _oddities(real: bytes) -> dict[str, bytes]:
    """Archives that are almost torch's: each must go the zipfile way (or fail the same)."""
    eocd = real.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<L", real, eocd + 16)[0]
    local_flags = 6  # offset of the flag bits in a local header
    first_central = real.index(b"PK\x01\x02")
    out = {
        "comment": real[:-2] + struct.pack("<H", 5) + b"hello",
        "prefix": b"#!junk\n" + real,
        "truncated_tail": real[:-10],
        "truncated_directory": real[: cd_offset + 30],
        "no_locator_sig": real[: eocd - 20] + b"XX" + real[eocd - 18 :],
        "central_encrypted": real[: first_central + 8]
        + struct.pack("<H", 1)
        + real[first_central + 10 :],
        "local_encrypted": real[:local_flags] + struct.pack("<H", 1) + real[local_flags + 2 :],
        "crc_flipped": real[: first_central + 16]
        + bytes([real[first_central + 16] ^ 1])
        + real[first_central + 17 :],
        "version_too_new": real[: first_central + 6]
        + struct.pack("<H", 99)
        + real[first_central + 8 :],
        "local_sig_broken": b"PK\x03\x05" + real[4:],
    }
    # data.pkl's name differs between the local header and the directory
    out["local_name_differs"] = _rewrite(real, b"data.pkl", b"data.pkX", 1)
    return out


def _built(members: list[tuple[str, bytes, int]], comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
        zf.comment = comment
    return buf.getvalue()


def test_odd_archives_agree(
    real_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = real_files[1].read_bytes()  # "train"
    with zipfile.ZipFile(real_files[1]) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
        storages = [(n, zf.read(n)) for n in zf.namelist() if "/data/" in n]
    cases = _oddities(real)
    stored, deflated = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    plain = [
        ("t/data.pkl", pkl, stored),
        *[(n.replace("train/", "t/"), d, stored) for n, d in storages],
    ]
    cases["rebuilt_plain"] = _built(plain)
    cases["deflated_pickle"] = _built([("t/data.pkl", pkl, deflated), *plain[1:]])
    cases["deflated_storage"] = _built(plain[:1] + [(n, d, deflated) for n, d, _ in plain[1:]])
    cases["duplicate_pickle"] = _built([*plain, ("t/data.pkl", b"garbage", stored)])
    cases["nul_name"] = _built([("t/data.pkl\x00x", pkl, stored), *plain])
    cases["byteorder_big"] = _built([*plain, ("t/byteorder", b"big", stored)])
    cases["byteorder_binary"] = _built([*plain, ("t/byteorder", b"\xff\xfe", stored)])
    cases["no_pickle"] = _built(plain[1:])
    cases["missing_storage"] = _built(plain[:1])
    cases["with_comment"] = _built(plain, comment=b"a comment")
    verdicts = {}
    for name, data in cases.items():
        path = tmp_path / f"{name}.pt"
        path.write_bytes(data)
        verdicts[name] = agree(path, monkeypatch)[0]
    assert verdicts["rebuilt_plain"] == "ok"
    assert verdicts["truncated_directory"] == "error"
    assert verdicts["missing_storage"] == "error"


def test_lean_reader_declines_what_it_does_not_know(real_files: list[Path]) -> None:
    """ZIP64 extra fields, comments and bad CRCs are zipfile's to read."""
    real = real_files[1].read_bytes()
    cases = _oddities(real)
    for name in ("comment", "prefix", "crc_flipped", "central_encrypted", "local_name_differs"):
        data = cases[name]
        headers = zipreader._LocalHeaders.__new__(zipreader._LocalHeaders)
        headers.fd, headers.blob = -1, data  # the whole file in memory, as for small files
        assert zipreader._lean_parts(headers, len(data), Path(name)) is None, name
    headers = zipreader._LocalHeaders.__new__(zipreader._LocalHeaders)
    headers.fd, headers.blob = -1, real
    assert zipreader._lean_parts(headers, len(real), Path("real")) is not None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_headers_agree(
    real_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    """Flip bytes where the zip structure lives (directory, end records, local headers)."""
    real = bytearray(real_files[1].read_bytes())
    eocd = real.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<L", real, eocd + 16)[0]
    locals_ = [i for i in range(len(real) - 4) if real[i : i + 4] == b"PK\x03\x04"]
    regions = [range(cd_offset, len(real))] + [range(i, i + 30) for i in locals_]
    for _ in range(data.draw(st.integers(1, 3))):
        region = data.draw(st.sampled_from(regions))
        at = data.draw(st.sampled_from(region))
        real[at] = data.draw(st.integers(0, 255))
    path = tmp_path / "m.pt"
    path.write_bytes(bytes(real))
    agree(path, monkeypatch)


def test_crc_is_checked_on_the_lean_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data.pkl whose bytes changed after saving: zipfile's CRC error, not a silent read."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    raw = bytearray(buf.getvalue())
    at = raw.index(b"\x80\x02")  # the pickle's PROTO opcode, inside data.pkl
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("data.pkl"))
        assert zlib.crc32(zf.read(info)) == info.CRC
    raw[at + 1] = 4  # PROTO 4: a different, still readable pickle
    path = tmp_path / "crc.pt"
    path.write_bytes(bytes(raw))
    verdict = agree(path, monkeypatch)
    assert verdict[0] == "error" and "CRC" in verdict[2]
