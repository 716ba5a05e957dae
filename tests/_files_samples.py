"""Real sample files for the filetype tests, written with the real libraries where installed."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

from mltools.files.ml_formats import masked_crc32c


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(brand: bytes = b"isom") -> bytes:
    ftyp = box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"iso2mp41")
    moov = box(b"moov", box(b"mvhd", b"\x00" * 100))
    mdat = box(b"mdat", b"\x00" * 2000)
    return ftyp + moov + mdat


def tfrecord_bytes(records: list[bytes]) -> bytes:
    out = b""
    for data in records:
        length = struct.pack("<Q", len(data))
        out += length + struct.pack("<I", masked_crc32c(length)) + data
        out += struct.pack("<I", masked_crc32c(data))
    return out


def onnx_bytes() -> bytes:
    # ModelProto: ir_version=8, producer_name="pytorch", graph={name="g"}, opset_import={version=17}
    producer = b"pytorch"
    graph = b"\x12\x01g"  # GraphProto.name (field 2)
    opset = b"\x10\x11"  # OperatorSetIdProto.version = 17
    return (
        b"\x08\x08"
        + b"\x12"
        + bytes([len(producer)])
        + producer
        + b"\x3a"
        + bytes([len(graph)])
        + graph
        + b"\x42"
        + bytes([len(opset)])
        + opset
    )


DATA = Path(__file__).with_name("data") / "filetype"  # real files (see make_samples.py there)


def ebml(eid: bytes, payload: bytes) -> bytes:
    """One EBML element: ID, an 8-byte size vint, the payload."""
    return eid + b"\x01" + len(payload).to_bytes(7, "big") + payload


def matroska_bytes(doctype: bytes = b"webm") -> bytes:
    """A minimal Matroska/WebM file as the spec lays it out (EBML header, Segment, Cluster)."""
    uint = lambda n: n.to_bytes(1, "big")  # noqa: E731
    header = ebml(
        b"\x1a\x45\xdf\xa3",
        ebml(b"\x42\x86", uint(1))
        + ebml(b"\x42\xf7", uint(1))
        + ebml(b"\x42\xf2", uint(4))
        + ebml(b"\x42\xf3", uint(8))
        + ebml(b"\x42\x82", doctype)
        + ebml(b"\x42\x87", uint(4))
        + ebml(b"\x42\x85", uint(2)),
    )
    info = ebml(b"\x15\x49\xa9\x66", ebml(b"\x2a\xd7\xb1", (1000000).to_bytes(3, "big")))
    track = ebml(
        b"\xae",
        ebml(b"\xd7", uint(1)) + ebml(b"\x83", uint(1)) + ebml(b"\x86", b"V_VP8"),
    )
    tracks = ebml(b"\x16\x54\xae\x6b", track)
    cluster = ebml(
        b"\x1f\x43\xb6\x75",
        ebml(b"\xe7", uint(0)) + ebml(b"\xa3", b"\x81\x00\x00\x80" + b"\x00" * 400),
    )
    return header + ebml(b"\x18\x53\x80\x67", info + tracks + cluster)


def safetensors_bytes() -> bytes:
    import numpy as np
    from safetensors.numpy import save

    return save({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(3, np.int64)})


def write_samples(root: Path) -> dict[str, Path]:
    """Write one file per format; return name -> path."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    p: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        path = root / name
        path.write_bytes(data)
        p[name] = path

    st = safetensors_bytes()
    put("model.safetensors", st)
    put("cut.safetensors", st[:-10])
    np.save(root / "arr.npy", np.ones((4, 5), dtype=np.float64))
    p["arr.npy"] = root / "arr.npy"
    put("cut.npy", (root / "arr.npy").read_bytes()[:-40])
    np.savez(root / "arrs.npz", a=np.zeros(3), b=np.ones(2))
    p["arrs.npz"] = root / "arrs.npz"
    pq.write_table(pa.table({"x": [1, 2, 3]}), root / "t.parquet")
    p["t.parquet"] = root / "t.parquet"
    put("cut.parquet", (root / "t.parquet").read_bytes()[:-20])
    import pickle

    put("obj.pkl", pickle.dumps({"a": [1, 2, 3]}, protocol=4))
    for name in sorted(os.listdir(DATA)):
        if not name.endswith(".py"):
            put(name, (DATA / name).read_bytes())
    put("hand.onnx", onnx_bytes())
    put("data.tfrecord", tfrecord_bytes([b"hello", b"world" * 10]))
    long_records = tfrecord_bytes([b"r%d" % i * 20 for i in range(100)])
    put("long.tfrecord", long_records)
    put("cut-long.tfrecord", long_records[: len(long_records) * 8 // 10])
    # .npy whose item size is not the digits of the dtype string
    for label, arr in (
        ("dt10s", np.array([1, 2, 3], dtype="datetime64[10s]")),
        ("str", np.array(["alpha", "beta", "gamma"] * 20)),
        ("bytes", np.array([b"ab", b"cd"] * 30)),
        ("struct", np.zeros(40, dtype=[("x", "<f8"), ("name", "U7"), ("n", "<i2")])),
    ):
        np.save(root / f"{label}.npy", arr)
        p[f"{label}.npy"] = root / f"{label}.npy"
        put(f"cut-{label}.npy", (root / f"{label}.npy").read_bytes()[:-9])
    put("clip.mkv", matroska_bytes(b"matroska"))
    put("cut.mkv", matroska_bytes(b"matroska")[:-120])
    put("cut.webm", matroska_bytes()[:-120])
    rows = b"".join(json.dumps({"i": i, "text": "x" * 30}).encode() + b"\n" for i in range(400))
    put("cut.jsonl", rows[:-17])
    put("short.jsonl", rows[: rows.index(b"\n", 200) + 1] + b'{"i": 99, "te')
    bad = bytearray(tfrecord_bytes([b"hello", b"world"]))
    bad[21 + 8] ^= 0xFF  # second record's length checksum
    put("bad.tfrecord", bytes(bad))
    put("rows.jsonl", b"".join(json.dumps({"i": i}).encode() + b"\n" for i in range(20)))
    put("clip.mp4", mp4_bytes())
    put("cut.mp4", mp4_bytes()[:-500])
    put("movie.mov", mp4_bytes(b"qt  "))
    put("error.mp4", b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head></html>\n")
    put("clip.webm", matroska_bytes())
    # files libmagic once had the wrong words for, though their names were right
    import gzip as gzip_module

    put("notes.gz", gzip_module.compress(b"hello " * 100, mtime=0))
    put("one.txt", b"x")
    put("paths.pth", b"import _virtualenv\n")
    put("commented.svg", b"<!-- made by hand -->\n<svg xmlns='http://www.w3.org/2000/svg'/>\n")
    put("readme.md", b"function f(x) {\n  return x;\n}\n")
    put("iso2022.txt", b"\x1b$)C\x0e\x21\x21\x0f plain " * 20 + b"\n")
    put("empty.png", b"")
    # a real zip-format torch checkpoint's layout, written with zipfile (torch need not be imported)
    with zipfile.ZipFile(root / "ckpt.pt", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\x00" * 16)
        z.writestr("archive/version", b"3\n")
    p["ckpt.pt"] = root / "ckpt.pt"
    with zipfile.ZipFile(root / "plain.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    p["plain.zip"] = root / "plain.zip"
    return p
