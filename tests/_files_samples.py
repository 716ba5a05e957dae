"""Real sample files for the filetype tests, written with the real libraries where installed."""

from __future__ import annotations

import json
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


def gguf_bytes() -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 2, 5) + b"\x00" * 64


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
    put("model.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 600)
    put("model.onnx", onnx_bytes())
    put("llm.gguf", gguf_bytes())
    put("data.tfrecord", tfrecord_bytes([b"hello", b"world" * 10]))
    bad = bytearray(tfrecord_bytes([b"hello", b"world"]))
    bad[21 + 8] ^= 0xFF  # second record's length checksum
    put("bad.tfrecord", bytes(bad))
    put("rows.jsonl", b"".join(json.dumps({"i": i}).encode() + b"\n" for i in range(20)))
    put("clip.mp4", mp4_bytes())
    put("cut.mp4", mp4_bytes()[:-500])
    put("movie.mov", mp4_bytes(b"qt  "))
    put("error.mp4", b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head></html>\n")
    put(
        "clip.webm",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\0" * 64,
    )
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
