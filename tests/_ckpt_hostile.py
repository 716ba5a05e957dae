"""Tiny files with huge costs, built byte by byte (no torch): each must end fast, in one line."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
import zlib
from pathlib import Path


def _u(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def billion_laughs() -> bytes:
    """~250 bytes: 10 levels of a list holding the previous level 10 times (10**10 leaves)."""
    out = [b"\x80\x02]q\x00"]  # PROTO 2, EMPTY_LIST, BINPUT 0
    for level in range(1, 11):  # MARK, 10 x BINGET previous, LIST, BINPUT level
        out.append(b"(" + (b"h" + bytes([level - 1])) * 10 + b"l" + b"q" + bytes([level]))
    out.append(b"}q\x0bX\x01\x00\x00\x00wh\x0as.")  # {'w': level 10}
    return b"".join(out)


def memo_index() -> bytes:
    """A few bytes: LONG_BINPUT at index 2**31-1 (a C unpickler sizes its memo to it)."""
    body = b"\x80\x02" + b"N" + b"r" + struct.pack("<I", 2**31 - 1) + b"."
    return body + b"\x00" * (363 - len(body))


def big_bytearray() -> bytes:
    """``bytearray(2**30)``: GLOBAL builtins bytearray, BININT 2**30, TUPLE1, REDUCE."""
    return b"\x80\x02cbuiltins\nbytearray\nJ" + struct.pack("<i", 2**30) + b"\x85R."


def quadratic_set() -> bytes:
    """A 100k-item list, then ``set(list)`` called on it over and over (quadratic work)."""
    items = b"(" + b"K\x01" * 100_000 + b"l" + b"q\x00"
    calls = (b"cbuiltins\nset\nh\x00\x85R0") * 2000
    return b"\x80\x02" + items + calls + b"h\x00."


def deep_tuples() -> bytes:
    """A tuple nested a million deep, used as a dict key (hashing it recurses in C)."""
    return b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns."


def frame_lie() -> bytes:
    """Protocol 4 with a FRAME claiming 2**60 bytes."""
    return b"\x80\x04\x95" + struct.pack("<Q", 2**60) + b"N."


def _zip_with_pickle(pickle_bytes: bytes, *, deflate: bool) -> bytes:
    buf = io.BytesIO()
    mode = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", mode) as zf:
        zf.writestr("archive/data.pkl", pickle_bytes)
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


def zip_bomb(target: int = 1 << 20) -> bytes:
    """A ~1 MB torch-zip lookalike whose data.pkl inflates to ~1 GB.

    One deflate segment of 16 MiB of zeros, ended with a full flush (byte-aligned, no
    back-references), repeated: the stream stays valid and costs no time to build. The
    CRC is left 0: the archive must be refused on its declared size, before any inflating.
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(b"\x80\x02(") + comp.flush(zlib.Z_FULL_FLUSH)
    seg = comp.compress(b"\x00" * (1 << 24)) + comp.flush(zlib.Z_FULL_FLUSH)
    count = max(1, (target - len(head)) // len(seg))
    data = head + seg * count + comp.flush()
    size = 3 + count * (1 << 24)
    if size >= 2**32:
        count = (2**32 - 4) // (1 << 24)
        data = head + seg * count + comp.flush()
        size = 3 + count * (1 << 24)
    name = b"archive/data.pkl"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(data), size, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
        0,
        0,
        0,
        len(data),
        size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + data
    cd = central + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + end


def zip_lying_size() -> bytes:
    """data.pkl declares 64 bytes but its deflate stream inflates to 256 MB."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(b"\x80\x02N.") + comp.flush(zlib.Z_FULL_FLUSH)
    seg = comp.compress(b"\x00" * (1 << 24)) + comp.flush(zlib.Z_FULL_FLUSH)
    stream = head + seg * 16 + comp.flush()
    name = b"archive/data.pkl"
    crc = zlib.crc32(b"\x80\x02N." + b"\x00" * 60)
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), 64, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(stream),
        64,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + stream
    cd = central + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + end


def _safetensors(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def safetensors_nested() -> bytes:
    """A header that is 100k nested JSON lists."""
    return _safetensors(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def safetensors_negative_offset() -> bytes:
    header = json.dumps({"w": {"dtype": "U8", "shape": [8], "data_offsets": [-8, 0]}}).encode()
    return _safetensors(header, b"\x01" * 8)


def safetensors_overlap() -> bytes:
    header = json.dumps(
        {
            "a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
            "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]},
        }
    ).encode()
    return _safetensors(header, b"\x01" * 12)


def safetensors_many(n: int = 1_000_000) -> bytes:
    """A valid header with ``n`` empty tensors."""
    entries = ",".join(
        f'"t{i}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}' for i in range(n)
    )
    return _safetensors(("{" + entries + "}").encode())


def index_nested() -> bytes:
    return b'{"weight_map": {}, "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def pickle_corpus_of_hostile() -> dict[str, bytes]:
    return {
        "billion_laughs.pkl": billion_laughs(),
        "memo_index.pkl": memo_index(),
        "bytearray.pkl": big_bytearray(),
        "quadratic_set.pkl": quadratic_set(),
        "deep_tuples.pkl": deep_tuples(),
        "frame_lie.pkl": frame_lie(),
        "billion_laughs.pt": _zip_with_pickle(billion_laughs(), deflate=False),
        "memo_index.pt": _zip_with_pickle(memo_index(), deflate=False),
        "zip_lying_size.pt": zip_lying_size(),
        "nested.safetensors": safetensors_nested(),
        "negative_offset.safetensors": safetensors_negative_offset(),
        "overlap.safetensors": safetensors_overlap(),
        "nested.index.json": index_nested(),
    }


def write_all(folder: Path, *, bomb: bool = True) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = pickle_corpus_of_hostile()
    if bomb:
        files["zip_bomb.pt"] = zip_bomb()
        files["million_tensors.safetensors"] = safetensors_many()
    out = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        out[name] = path
    return out


assert pickle.HIGHEST_PROTOCOL >= 5
