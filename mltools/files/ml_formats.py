"""Recognise ML file formats that libmagic calls ``data``, ``zip`` or ``octet-stream``.

Each sniffer looks at the file's first bytes (and, where the format has a
footer or a size check, at the file itself) and returns a ``Refinement``:
the format's kind, a MIME type, a one-line description and, when the file is
cut short or damaged, a ``problem`` ("truncated", "corrupt"). Nothing here
imports numpy, torch or pyarrow: the checks read the bytes directly.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

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


def _npy_header(f: BinaryIO) -> tuple[tuple[int, ...], Any, int]:
    """(shape, dtype, data offset), read with numpy's own header parser."""
    import warnings

    import numpy.lib.format as npformat

    f.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "created on Python 2": read all the same
        return _npy_header_read(npformat, f)


def _npy_header_read(npformat: Any, f: BinaryIO) -> tuple[tuple[int, ...], Any, int]:
    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, _fortran, dtype = npformat.read_array_header_1_0(f, max_header_size=1 << 20)
    elif version == (2, 0):
        shape, _fortran, dtype = npformat.read_array_header_2_0(f, max_header_size=1 << 20)
    else:
        shape, _fortran, dtype = npformat._read_array_header(f, version, max_header_size=1 << 20)
    return tuple(int(d) for d in shape), dtype, f.tell()


def _npy(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"\x93NUMPY") or len(head) < 10:
        return None
    try:
        shape, dtype, start = _npy_header(f)
    except ImportError:  # no numpy: name it, check nothing
        return Refinement("npy", "application/x-npy", "NumPy .npy array")
    except Exception:  # numpy's parser refused the header (ValueError, SyntaxError ...)
        return Refinement("npy", "application/x-npy", "NumPy .npy array, bad header", "corrupt")
    desc = (
        f"NumPy .npy array, dtype {dtype.str if not dtype.names else 'structured'}, shape {shape}"
    )
    count = 1
    for dim in shape:
        count *= dim
    if dtype.hasobject:
        return Refinement("npy", "application/x-npy", desc)  # a pickle follows: no fixed size
    expected = start + count * dtype.itemsize
    if expected > size:
        return Refinement(
            "npy",
            "application/x-npy",
            f"{desc}, truncated: expects {expected} bytes, file has {size}",
            "truncated",
        )
    return Refinement("npy", "application/x-npy", desc)


def _pickle(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return None
    if _TORCH_LEGACY_MAGIC in head[:32]:
        return _torch_legacy(f)
    f.seek(max(0, size - 1))
    last = f.read(1)
    problem = None if last == b"." else "truncated"
    desc = f"Python pickle, protocol {head[1]}" + (", no STOP opcode at the end" if problem else "")
    return Refinement("pickle", "application/x-pickle", desc, problem)


def _torch_legacy(f: BinaryIO) -> Refinement:
    """A legacy torch checkpoint, read by mltools.ckpt's reader (no torch): storages must fit."""
    name = "PyTorch checkpoint (legacy pickle format)"
    fileno = getattr(f, "fileno", None)
    if fileno is None:
        return Refinement("torch-legacy", "application/x-pytorch", name)
    try:
        from mltools.ckpt.errors import (
            CheckpointError,
            TruncatedCheckpointError,
            UnsafePickleError,
        )
        from mltools.ckpt.legacy import read_legacy_checkpoint
    except ImportError:
        return Refinement("torch-legacy", "application/x-pytorch", name)
    try:
        read_legacy_checkpoint(f"/proc/self/fd/{fileno()}")
    except TruncatedCheckpointError:
        return Refinement(
            "torch-legacy", "application/x-pytorch", f"{name}, cut short", "truncated"
        )
    except UnsafePickleError:  # refused for safety: says nothing about damage
        return Refinement("torch-legacy", "application/x-pytorch", name)
    except CheckpointError:
        return Refinement("torch-legacy", "application/x-pytorch", f"{name}, damaged", "corrupt")
    except Exception:  # anything else the reader trips on: no verdict on damage
        return Refinement("torch-legacy", "application/x-pytorch", name)
    return Refinement("torch-legacy", "application/x-pytorch", name)


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


_HDF5_SIG = b"\x89HDF\r\n\x1a\n"


def _hdf5(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    # the superblock sits at 0, 512, 1024, 2048 ... (after a user block); it records the
    # end-of-file address, so a cut file is known by its size
    offsets = [0, 512, 1024, 2048]
    base = next((o for o in offsets if head[o : o + 8] == _HDF5_SIG), None)
    if base is None:
        return None
    sb = head[base:]
    version = sb[8]
    try:
        if version in (0, 1):
            size_off = sb[13]
            pos = 24 + (4 if version == 1 else 0)
            fields = 4
        elif version in (2, 3):
            size_off = sb[9]
            pos = 12
            fields = 3
        else:
            return Refinement("hdf5", "application/x-hdf5", f"HDF5 data (superblock v{version})")
        if size_off not in (2, 4, 8):
            return Refinement("hdf5", "application/x-hdf5", "HDF5 data, bad superblock", "corrupt")
        fmt = {2: "<H", 4: "<I", 8: "<Q"}[size_off]
        addrs = [
            struct.unpack(fmt, sb[pos + i * size_off : pos + (i + 1) * size_off])[0]
            for i in range(fields)
        ]
    except (IndexError, struct.error):
        return Refinement(
            "hdf5", "application/x-hdf5", "HDF5 data, superblock cut short", "truncated"
        )
    eof = addrs[2]
    desc = f"HDF5 data (superblock v{version})"
    undefined = (1 << (8 * size_off)) - 1
    # the end-of-file address is relative to the base address, but some writers (MATLAB
    # v7.3, after a 512-byte user block) store it absolute: the looser reading is taken
    if eof != undefined and eof > size:
        return Refinement(
            "hdf5",
            "application/x-hdf5",
            f"{desc}, truncated: superblock says {eof} bytes, file has {size}",
            "truncated",
        )
    return Refinement("hdf5", "application/x-hdf5", desc)


# ggml tensor types: (block size in elements, bytes per block); gguf-py's GGML_QUANT_SIZES
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
}
# gguf metadata value types -> fixed byte size (8 string, 9 array handled apart)
_GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Cut(Exception):
    """The structure runs past the end of the file."""


class _Reader:
    """Sequential little reads over a file, raising ``_Cut`` at the end."""

    def __init__(self, f: BinaryIO, pos: int, size: int) -> None:
        self.f, self.pos, self.size = f, pos, size
        self.buf, self.buf_pos = b"", pos

    def read(self, n: int) -> bytes:
        if self.pos + n > self.size:
            raise _Cut
        off = self.pos - self.buf_pos
        if off < 0 or off + n > len(self.buf):
            self.f.seek(self.pos)
            self.buf, self.buf_pos = self.f.read(max(n, 1 << 16)), self.pos
            off = 0
        data = self.buf[off : off + n]
        if len(data) < n:
            raise _Cut
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise _Cut
        self.pos += n

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))


def _gguf(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if not head.startswith(b"GGUF") or len(head) < 24:
        return None
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if not 1 <= version <= 10:
        return None
    desc = f"GGUF v{version}, {tensors} tensors, {kvs} metadata keys"
    gguf = ("gguf", "application/x-gguf")
    if version < 2 or tensors > 1 << 24 or kvs > 1 << 24:
        return Refinement(*gguf, desc)  # v1 used 32-bit counts: named, not walked
    r = _Reader(f, 24, size)
    alignment = 32
    try:

        def string() -> bytes:
            (n,) = r.unpack("<Q")
            if n > 1 << 30:
                raise ValueError("string length")
            return r.read(n)

        def value(vtype: int, depth: int = 0) -> Any:
            if vtype in _GGUF_SCALAR:
                return r.read(_GGUF_SCALAR[vtype])
            if vtype == 8:
                return string()
            if vtype == 9 and depth < 4:
                itype, count = r.unpack("<IQ")
                if itype in _GGUF_SCALAR:
                    r.skip(_GGUF_SCALAR[itype] * count)
                else:
                    for _ in range(count):
                        value(itype, depth + 1)
                return None
            raise ValueError(f"value type {vtype}")

        for _ in range(kvs):
            key = string()
            (vtype,) = r.unpack("<I")
            raw = value(vtype)
            if key == b"general.alignment" and vtype == 4 and raw:
                alignment = struct.unpack("<I", raw)[0] or 32
        end = 0
        known = True
        for _ in range(tensors):
            string()
            (n_dims,) = r.unpack("<I")
            if n_dims > 8:
                raise ValueError("dims")
            dims = r.unpack(f"<{n_dims}Q")
            ttype, offset = r.unpack("<IQ")
            count = 1
            for d in dims:
                count *= d
            if ttype in _GGML_TYPES:
                block, nbytes = _GGML_TYPES[ttype]
                end = max(end, offset + (count + block - 1) // block * nbytes)
            else:
                known = False
                end = max(end, offset + 1)
        data_start = (r.pos + alignment - 1) // alignment * alignment
    except _Cut:
        return Refinement(*gguf, f"{desc}, header cut short", "truncated")
    except (ValueError, struct.error):
        return Refinement(*gguf, f"{desc}, bad metadata", "corrupt")
    if tensors and data_start + end > size:
        return Refinement(
            *gguf,
            f"{desc}, truncated: tensors need {data_start + end} bytes, file has {size}",
            "truncated",
        )
    return Refinement(*gguf, desc + ("" if known else " (some tensor types unknown)"))


_TFRECORD_MAX_RECORDS = 10_000_000


def _tfrecord(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 12:
        return None
    length_bytes = head[:8]
    (length,) = struct.unpack("<Q", length_bytes)
    (crc,) = struct.unpack("<I", head[8:12])
    if crc != masked_crc32c(length_bytes):
        return None
    tf = ("tfrecord", "application/x-tfrecord")
    if 8 + 4 + length + 4 > size:
        return Refinement(*tf, "TFRecord, first record cut short", "truncated")
    # every record's frame: 8-byte length, its masked CRC, the data, the data's CRC
    records, pos = 0, 0
    while pos < size and records < _TFRECORD_MAX_RECORDS:
        f.seek(pos)
        frame = f.read(12)
        if len(frame) < 12:
            return Refinement(*tf, f"TFRecord, record {records + 1} cut short", "truncated")
        (length,) = struct.unpack("<Q", frame[:8])
        if struct.unpack("<I", frame[8:12])[0] != masked_crc32c(frame[:8]):
            return Refinement(*tf, f"TFRecord, length checksum wrong at byte {pos}", "corrupt")
        pos += 16 + length
        records += 1
        if pos > size:
            return Refinement(*tf, f"TFRecord, record {records} cut short", "truncated")
    more = "+" if pos < size else ""
    return Refinement(*tf, f"TFRecord, {records}{more} records")


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


def _read_varint(r: _Reader) -> int:
    result = shift = 0
    while True:
        byte = r.read(1)[0]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


# onnx.proto ModelProto: field number -> wire type (0 varint, 2 length-delimited)
_ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}


def _onnx(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """An ONNX ModelProto read as protobuf: every top-level field's tag and length must fit."""
    if not head.startswith(b"\x08"):
        return None
    try:
        ir_version, pos = _varint(head, 1)
    except ValueError:
        return None
    if not 1 <= ir_version <= 20 or pos >= len(head):
        return None
    try:  # the next tag must be a ModelProto field too, before walking the file
        tag, _ = _varint(head, pos)
    except ValueError:
        return None
    if _ONNX_FIELDS.get(tag >> 3) != tag & 7:
        return None
    onnx = ("onnx", "application/x-onnx")
    desc = f"ONNX model, IR version {ir_version}"
    r = _Reader(f, pos, size)
    seen: set[int] = {1}
    producer = b""
    try:
        while r.pos < size:
            tag = _read_varint(r)
            field, wire = tag >> 3, tag & 7
            if _ONNX_FIELDS.get(field) != wire:
                return (
                    None
                    if len(seen) < 3
                    else Refinement(*onnx, f"{desc}, bad field {field}", "corrupt")
                )
            if wire == 0:
                _read_varint(r)
            else:
                length = _read_varint(r)
                if field == 2 and length < 256:
                    producer = r.read(length)
                else:
                    r.skip(length)
            seen.add(field)
    except _Cut:
        if 7 in seen or len(seen) >= 2:
            return Refinement(*onnx, f"{desc}, cut short", "truncated")
        return None
    except ValueError:
        return None
    if 7 not in seen:
        return None if len(seen) < 3 else Refinement(*onnx, f"{desc}, no graph", "corrupt")
    if producer:
        desc += f", from {producer.decode('utf-8', 'replace')}"
    return Refinement(*onnx, desc)


def _jsonl(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if head.lstrip()[:1] not in (b"{", b"["):
        return None
    lines = [line for line in head.split(b"\n", 12) if line.strip()]
    complete = len(head) == size  # the whole file is in head
    if not complete or len(lines) > 11:
        lines = lines[:-1]  # the last line may be cut by the read size
    body, last = (lines, None) if not complete else (lines[:-1], lines[-1] if lines else None)
    if len(body) + (last is not None) < 2 or not body:
        return None
    for line in body[:10]:
        try:
            value = json.loads(line)
        except ValueError:
            return None
        if not isinstance(value, (dict, list)):
            return None
    jsonl = ("jsonl", "application/x-ndjson")
    if last is None:
        # the file's last line, from its tail: a download cut mid-record ends with half a line
        f.seek(max(0, size - (1 << 16)))
        tail = f.read(1 << 16)
        parts = tail.rstrip(b"\r\n\t ").rsplit(b"\n", 1)
        if len(parts) < 2 and size > len(tail):
            return Refinement(*jsonl, "JSON Lines text")  # one huge last line: not checked
        last = parts[-1]
    try:
        json.loads(last)
    except ValueError:
        return Refinement(*jsonl, "JSON Lines text, last line cut short", "truncated")
    return Refinement(*jsonl, "JSON Lines text")


_PROLOG = re.compile(rb"\s*(?:<\?xml.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>|\s)*", re.S | re.I)


def _svg(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """An SVG: its first element is ``<svg``, also after comments, a DOCTYPE or an XML prolog."""
    if b"<svg" not in head and not head.lstrip()[:5].lower().startswith((b"<?xml", b"<!--")):
        return None
    window = head
    if size > len(head):
        f.seek(0)
        window = f.read(1 << 16)
    end = _PROLOG.match(window).end()
    if window[end : end + 4].lower() != b"<svg":
        return None
    return Refinement("svg", "image/svg+xml", "SVG Scalable Vector Graphics image")


# C0 controls that text does not hold (ESC, SO and SI are ISO-2022's shifts, e.g. ISO-2022-KR)
_TEXT_CONTROLS = bytes(set(range(32)) - set(b"\t\n\r\f\v\b\x1b\x0e\x0f"))


def looks_like_text(head: bytes, size: int) -> bool:
    """No NUL byte and next to no C0 control characters: UTF-8, ASCII or 8-bit text."""
    if not head or b"\0" in head:
        return False
    controls = len(head) - len(head.translate(None, _TEXT_CONTROLS))
    return controls * 100 <= len(head)


_MP4_BRANDS_MOV = {b"qt  "}
_HEIF_BRANDS = {
    b"avif": ("avif", "image/avif", "AVIF image"),
    b"avis": ("avif", "image/avif", "AVIF image sequence"),
    b"heic": ("heic", "image/heic", "HEIF image (HEVC)"),
    b"heix": ("heic", "image/heic", "HEIF image (HEVC)"),
    b"heim": ("heic", "image/heic", "HEIF image (HEVC)"),
    b"heis": ("heic", "image/heic", "HEIF image (HEVC)"),
    b"hevc": ("heic", "image/heic-sequence", "HEIF image sequence (HEVC)"),
    b"hevx": ("heic", "image/heic-sequence", "HEIF image sequence (HEVC)"),
    b"mif1": ("heif", "image/heif", "HEIF image"),
    b"msf1": ("heif", "image/heif-sequence", "HEIF image sequence"),
}


def _isobmff(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    (ftyp_size,) = struct.unpack(">I", head[:4])
    brand = head[8:12]
    compatible = [head[i : i + 4] for i in range(16, min(ftyp_size, len(head)) - 3, 4)]
    heif = _HEIF_BRANDS.get(brand) or next(
        (_HEIF_BRANDS[b] for b in compatible if b in _HEIF_BRANDS and brand in (b"mif1", b"msf1")),
        None,
    )
    if heif is not None:
        kind, mime, name = heif
        need = b"meta"  # a HEIF file's images are described in its 'meta' box
    elif brand in _MP4_BRANDS_MOV:
        kind, mime, name = "mov", "video/quicktime", "QuickTime movie"
        need = b"moov"
    else:
        kind, mime = "mp4", "video/mp4"
        name = f"ISO Media MP4 (brand {brand.decode('latin1').strip()})"
        need = b"moov"
    pos, boxes, found = 0, 0, False
    while pos < size and boxes < 100_000:
        f.seek(pos)
        box = f.read(16)
        if len(box) < 8:
            return Refinement(kind, mime, f"{name}, truncated box header", "truncated")
        (box_size,) = struct.unpack(">I", box[:4])
        box_type = box[4:8]
        if box_size == 1:
            if len(box) < 16:
                return Refinement(kind, mime, f"{name}, truncated box header", "truncated")
            (box_size,) = struct.unpack(">Q", box[8:16])
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return Refinement(kind, mime, f"{name}, bad box size at byte {pos}", "corrupt")
        boxes += 1
        found |= box_type == need
        if pos + box_size > size:
            return Refinement(
                kind,
                mime,
                f"{name}, truncated: box {box_type.decode('latin1')!r} runs past the end",
                "truncated",
            )
        pos += box_size
    if not found:
        what = "unplayable" if need == b"moov" else "no image"
        return Refinement(kind, mime, f"{name}, no {need.decode()!r} box ({what})", "corrupt")
    return Refinement(kind, mime, name)


def _ebml_vint(r: _Reader, *, keep_marker: bool) -> tuple[int, bool]:
    """An EBML variable-size integer; (value, all-ones 'unknown size')."""
    first = r.read(1)[0]
    if first == 0:
        raise ValueError("bad EBML vint")
    length = 8 - first.bit_length() + 1
    rest = r.read(length - 1)
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, unknown


_EBML_SEGMENT = 0x18538067
_EBML_CLUSTER = 0x1F43B675


def _ebml(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """Matroska/WebM: the EBML header's DocType, then every top-level element must fit."""
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    r = _Reader(f, 0, size)
    doctype = b""
    try:
        _ebml_vint(r, keep_marker=True)
        hsize, _ = _ebml_vint(r, keep_marker=False)
        header_end = r.pos + hsize
        while r.pos < header_end:
            eid, _ = _ebml_vint(r, keep_marker=True)
            esize, _ = _ebml_vint(r, keep_marker=False)
            if eid == 0x4282:  # DocType
                doctype = r.read(esize)
            else:
                r.skip(esize)
    except _Cut:
        return Refinement("mkv", "video/x-matroska", "Matroska data, header cut short", "truncated")
    except ValueError:
        return None
    if doctype.rstrip(b"\0") == b"webm":
        kind, mime, name = "webm", "video/webm", "WebM"
    elif doctype.rstrip(b"\0") == b"matroska":
        kind, mime, name = "mkv", "video/x-matroska", "Matroska data"
    else:
        return None
    elements = 0
    try:
        r.pos = header_end
        while r.pos < size and elements < 1_000_000:
            eid, _ = _ebml_vint(r, keep_marker=True)
            esize, unknown = _ebml_vint(r, keep_marker=False)
            elements += 1
            if eid == _EBML_SEGMENT:
                if unknown:
                    continue  # a live-written segment: walk its children instead
                r.skip(esize)
            elif unknown and eid == _EBML_CLUSTER:
                # an unknown-size cluster runs to the next cluster: no size to check
                return Refinement(kind, mime, name)
            else:
                r.skip(esize)
    except _Cut:
        return Refinement(
            kind, mime, f"{name}, truncated: an element runs past the end", "truncated"
        )
    except ValueError:
        return Refinement(kind, mime, f"{name}, bad element at byte {r.pos}", "corrupt")
    return Refinement(kind, mime, name)


def _wav(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    # RIFF (little-endian) or RIFX (big-endian) WAVE: libmagic has no MIME type for RIFX
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    return Refinement("wav", "audio/x-wav", "RIFF WAVE audio")


def _gzip(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    # RFC 1952: ID1 ID2 CM=8 (deflate), reserved flag bits zero; libmagic sometimes reads the
    # bytes after as a DOS boot sector (its tests run in order, and gzip's is not first)
    if len(head) < 18 or head[:3] != b"\x1f\x8b\x08" or head[3] & 0xE0:
        return None
    return Refinement("gzip", "application/gzip", "gzip compressed data")


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
    _gzip,
    _wav,
)

VIDEO_KINDS = {"mp4", "mov", "mkv", "webm"}
# formats libmagic names well: its words are kept when it agrees with the sniffer
LIBMAGIC_WORDS = VIDEO_KINDS | {"gzip", "avif", "heic", "heif", "wav"}


# sniffers that only fire on one first byte; the others (safetensors: a length, HDF5: maybe
# after a user block, TFRecord: a length, ISO BMFF: a box size) are tried on every file
_FIRST_BYTE = {
    _zip_based: b"P",
    _npy: b"\x93",
    _pickle: b"\x80",
    _parquet: b"P",
    _gguf: b"G",
    _onnx: b"\x08",
    _ebml: b"\x1a",
    _gzip: b"\x1f",
    _wav: b"R",
}
_BY_FIRST: dict[int, tuple] = {}


def _sniffers_for(first: int) -> tuple:
    found = _BY_FIRST.get(first)
    if found is None:
        found = tuple(
            s for s in BINARY_SNIFFERS if s not in _FIRST_BYTE or _FIRST_BYTE[s][0] == first
        )
        _BY_FIRST[first] = found
    return found


def sniff_binary(head: bytes, f: BinaryIO, size: int) -> Refinement | None:
    """The ML/video binary format ``head`` starts with, if any (cheap signature checks)."""
    if not head:
        return None
    for sniff in _sniffers_for(head[0]):
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
    """JSON Lines (with a check of the last line) or SVG, for a file that is text."""
    return _jsonl(head, f, size) or _svg(head, f, size)


def needs_libmagic(found: Refinement | None) -> bool:
    """libmagic's words are still wanted: nothing recognised, or a format it knows well."""
    return found is None or (found.kind in LIBMAGIC_WORDS and found.problem is None)


def refine(head: bytes, f: BinaryIO | None, size: int, mime: str) -> Refinement | None:
    """A more precise verdict than libmagic's ``mime``, or None to keep libmagic's.

    ``head`` is the first ``HEAD_BYTES`` bytes; ``f`` an open binary file (or a
    BytesIO over a buffer) for checks that need more; ``size`` the full size.
    """
    if f is None:
        import io

        f = io.BytesIO(head)
    found = sniff_binary(head, f, size)
    if found is None and (is_text_mime(mime) or looks_like_text(head, size)):
        found = sniff_text(head, f, size)
    return found
