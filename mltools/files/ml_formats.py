"""Recognise ML file formats that libmagic calls ``data``, ``zip`` or ``octet-stream``.

Each sniffer looks at the file's first bytes (and, where the format has a
footer or a size check, at the file itself) and returns a ``Refinement``:
the format's kind, a MIME type, a one-line description and, when the file is
cut short or damaged, a ``problem`` ("truncated", "corrupt"). Nothing here
imports numpy, torch or pyarrow: the checks read the bytes directly.
"""

from __future__ import annotations

import ast
import json
import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

HEAD_BYTES = 4096

_TORCH_LEGACY_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")  # LONG1 0x1950a86a20f9469cfc6c


@dataclass(frozen=True)
class Refinement:
    kind: str
    mime: str
    description: str
    problem: str | None = None


# --- CRC-32C (Castagnoli), as TFRecord uses it ------------------------------------------

_CRC32C_TABLE: list[int] = []


def _crc32c_table() -> list[int]:
    if not _CRC32C_TABLE:
        for n in range(256):
            crc = n
            for _ in range(8):
                crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
            _CRC32C_TABLE.append(crc)
    return _CRC32C_TABLE


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (table-driven; TFRecord only checksums 8-byte lengths here)."""
    table = _crc32c_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- sniffers ---------------------------------------------------------------------------


def _safetensors(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 10:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if not (2 <= n <= 100 * 1024 * 1024) or head[8:9] != b"{":
        return None
    f.seek(8)
    raw = f.read(n)
    if len(raw) < n:
        return Refinement(
            "safetensors",
            "application/x-safetensors",
            "safetensors, header cut short",
            "truncated",
        )
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(header, dict):
        return None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
        dtypes = sorted({str(v["dtype"]) for v in tensors.values()})
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    expected = 8 + n + end
    desc = f"safetensors, {len(tensors)} tensors ({', '.join(dtypes) or 'none'})"
    if expected > size:
        return Refinement(
            "safetensors",
            "application/x-safetensors",
            f"{desc}, truncated: header expects {expected} bytes, file has {size}",
            "truncated",
        )
    if expected < size:
        return Refinement(
            "safetensors",
            "application/x-safetensors",
            f"{desc}, {size - expected} unexpected trailing bytes",
            "corrupt",
        )
    return Refinement("safetensors", "application/x-safetensors", desc)


def _zip_based(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"PK\x03\x04"):
        return None
    f.seek(0)
    try:
        names = zipfile.ZipFile(f).namelist()  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return Refinement(
            "zip", "application/zip", "Zip archive, central directory missing", "truncated"
        )
    if any(n.endswith("data.pkl") for n in names) and any(
        n.endswith("/version") or n == "version" for n in names
    ):
        tensors = sum(1 for n in names if "/data/" in n)
        return Refinement(
            "torch",
            "application/x-pytorch",
            f"PyTorch checkpoint (zip format), {tensors} storages",
        )
    if names and all(n.endswith(".npy") for n in names):
        return Refinement("npz", "application/x-npz", f"NumPy .npz archive, {len(names)} arrays")
    return None


def _npy(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"\x93NUMPY") or len(head) < 10:
        return None
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    f.seek(start)
    raw = f.read(hlen)
    try:
        meta = ast.literal_eval(raw.decode("latin1"))
        shape = tuple(meta["shape"])
        dtype = str(meta["descr"])
    except (ValueError, SyntaxError, KeyError, TypeError):
        return Refinement("npy", "application/x-npy", "NumPy .npy array, bad header", "corrupt")
    desc = f"NumPy .npy array, dtype {dtype}, shape {shape}"
    itemsize = _npy_itemsize(dtype)
    if itemsize and "O" not in dtype:
        count = 1
        for dim in shape:
            count *= int(dim)
        expected = start + hlen + count * itemsize
        if expected > size:
            return Refinement(
                "npy",
                "application/x-npy",
                f"{desc}, truncated: expects {expected} bytes, file has {size}",
                "truncated",
            )
    return Refinement("npy", "application/x-npy", desc)


def _npy_itemsize(descr: str) -> int | None:
    digits = "".join(ch for ch in descr if ch.isdigit())
    return int(digits) if digits and descr[:1] in "<>|=" else None


def _pickle(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return None
    if _TORCH_LEGACY_MAGIC in head[:32]:
        return Refinement(
            "torch-legacy", "application/x-pytorch", "PyTorch checkpoint (legacy pickle format)"
        )
    f.seek(max(0, size - 1))
    last = f.read(1)
    problem = None if last == b"." else "truncated"
    desc = f"Python pickle, protocol {head[1]}" + (", no STOP opcode at the end" if problem else "")
    return Refinement("pickle", "application/x-pickle", desc, problem)


def _parquet(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"PAR1"):
        return None
    f.seek(max(0, size - 4))
    if size < 12 or f.read(4) != b"PAR1":
        return Refinement(
            "parquet",
            "application/vnd.apache.parquet",
            "Apache Parquet, footer missing",
            "truncated",
        )
    return Refinement("parquet", "application/vnd.apache.parquet", "Apache Parquet")


def _hdf5(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Refinement("hdf5", "application/x-hdf5", "HDF5 data")
    return None


def _gguf(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"GGUF") or len(head) < 24:
        return None
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if not 1 <= version <= 10:
        return None
    return Refinement(
        "gguf", "application/x-gguf", f"GGUF v{version}, {tensors} tensors, {kvs} metadata keys"
    )


def _tfrecord(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 12:
        return None
    length_bytes = head[:8]
    (length,) = struct.unpack("<Q", length_bytes)
    (crc,) = struct.unpack("<I", head[8:12])
    if crc != masked_crc32c(length_bytes):
        return None
    if 8 + 4 + length + 4 > size:
        return Refinement(
            "tfrecord",
            "application/x-tfrecord",
            "TFRecord, first record cut short",
            "truncated",
        )
    records, pos = 0, 0
    while pos < size and records < 64:
        f.seek(pos)
        frame = f.read(12)
        if len(frame) < 12:
            return Refinement(
                "tfrecord", "application/x-tfrecord", "TFRecord, last record cut short", "truncated"
            )
        (length,) = struct.unpack("<Q", frame[:8])
        if struct.unpack("<I", frame[8:12])[0] != masked_crc32c(frame[:8]):
            return Refinement(
                "tfrecord",
                "application/x-tfrecord",
                f"TFRecord, length checksum wrong at byte {pos}",
                "corrupt",
            )
        pos += 16 + length
        records += 1
        if pos > size:
            return Refinement(
                "tfrecord", "application/x-tfrecord", "TFRecord, last record cut short", "truncated"
            )
    more = "+" if pos < size else ""
    return Refinement("tfrecord", "application/x-tfrecord", f"TFRecord, {records}{more} records")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _onnx(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    # ModelProto: field 1 ir_version (varint), then producer/domain/graph/opset fields.
    if not head.startswith(b"\x08"):
        return None
    try:
        ir_version, pos = _varint(head, 1)
        if not 1 <= ir_version <= 20:
            return None
        seen = 0
        while pos < len(head) and seen < 4:
            tag, pos = _varint(head, pos)
            field, wire = tag >> 3, tag & 7
            if field not in (2, 3, 4, 5, 6, 7, 8, 14, 20, 25) or wire not in (0, 2):
                return None
            if wire == 0:
                _, pos = _varint(head, pos)
            else:
                length, pos = _varint(head, pos)
                if field == 7:
                    break  # the graph: far enough
                pos += length
            seen += 1
    except ValueError:
        return None
    if seen == 0:
        return None
    return Refinement("onnx", "application/x-onnx", f"ONNX model, IR version {ir_version}")


def _jsonl(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if head.lstrip()[:1] not in (b"{", b"["):
        return None
    lines = [line for line in head.split(b"\n", 12) if line.strip()]
    if len(head) == HEAD_BYTES or len(lines) > 11:
        lines = lines[:-1]  # the last line may be cut by the read size
    if len(lines) < 2:
        return None
    for line in lines[:10]:
        try:
            value = json.loads(line)
        except ValueError:
            return None
        if not isinstance(value, (dict, list)):
            return None
    return Refinement("jsonl", "application/x-ndjson", "JSON Lines text")


_MP4_BRANDS_MOV = {b"qt  "}


def _isobmff(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    kind, mime, name = (
        ("mov", "video/quicktime", "QuickTime movie")
        if brand in _MP4_BRANDS_MOV
        else ("mp4", "video/mp4", f"ISO Media MP4 (brand {brand.decode('latin1').strip()})")
    )
    pos, boxes, has_moov = 0, [], False
    while pos < size and len(boxes) < 1000:
        f.seek(pos)
        box = f.read(16)
        if len(box) < 8:
            return Refinement(kind, mime, f"{name}, truncated box header", "truncated")
        (box_size,) = struct.unpack(">I", box[:4])
        box_type = box[4:8]
        if box_size == 1 and len(box) >= 16:
            (box_size,) = struct.unpack(">Q", box[8:16])
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return Refinement(kind, mime, f"{name}, bad box size at byte {pos}", "corrupt")
        boxes.append(box_type)
        has_moov |= box_type == b"moov"
        if pos + box_size > size:
            return Refinement(
                kind,
                mime,
                f"{name}, truncated: box {box_type.decode('latin1')!r} runs past the end",
                "truncated",
            )
        pos += box_size
    if not has_moov:
        return Refinement(kind, mime, f"{name}, no 'moov' box (unplayable)", "corrupt")
    return Refinement(kind, mime, name)


def _ebml(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    if b"webm" in head[:64]:
        return Refinement("webm", "video/webm", "WebM")
    return Refinement("mkv", "video/x-matroska", "Matroska data")


BINARY_SNIFFERS = (
    _safetensors,
    _zip_based,
    _npy,
    _pickle,
    _parquet,
    _hdf5,
    _gguf,
    _tfrecord,
    _onnx,
    _isobmff,
    _ebml,
)

VIDEO_KINDS = {"mp4", "mov", "mkv", "webm"}


def sniff_binary(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """The ML/video binary format ``head`` starts with, if any (cheap signature checks)."""
    for sniff in BINARY_SNIFFERS:
        try:
            found = sniff(head, f, size)
        except (struct.error, OSError, OverflowError, ValueError):
            continue
        if found is not None:
            return found
    return None


def is_text_mime(mime: str) -> bool:
    return mime.startswith("text/") or mime in ("application/json", "application/x-ndjson")


def sniff_text(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """JSON Lines, for a file libmagic already called text or JSON."""
    return _jsonl(head, f, size)


def needs_libmagic(found: Refinement | None) -> bool:
    """libmagic's words are still wanted: nothing recognised, or a container it knows well."""
    return found is None or (found.kind in VIDEO_KINDS and found.problem is None)


def refine(head: bytes, f: BinaryIO | None, size: int, mime: str) -> Refinement | None:
    """A more precise verdict than libmagic's ``mime``, or None to keep libmagic's.

    ``head`` is the first ``HEAD_BYTES`` bytes; ``f`` an open binary file (or a
    BytesIO over a buffer) for checks that need more; ``size`` the full size.
    """
    if f is None:
        import io

        f = io.BytesIO(head)
    if is_text_mime(mime):
        return sniff_text(head, f, size)
    return sniff_binary(head, f, size)
