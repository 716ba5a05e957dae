"""Read torch's zip checkpoint format (``torch.save`` since 1.6) without torch.

The archive holds ``<name>/data.pkl`` (the object tree, tensors as persistent ids)
and ``<name>/data/<key>`` (each storage's raw bytes, stored uncompressed). The
pickle is read by ``SymbolicUnpickler``; each storage's byte offset in the file is
taken from the zip's local headers so tensors can later be memory-mapped.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.records import Checkpoint
from mltools.ckpt.unpickler import symbolic_load


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(
            f"truncated or corrupt torch checkpoint: {path} ({exc})",
            hint="the file was cut short or damaged; re-copy or re-save it",
        ) from None


def _data_pkl(zf: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    for info in zf.infolist():
        parts = info.filename.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl":
            return info
    raise CheckpointError(
        f"not a torch checkpoint: {path} (a zip archive without data.pkl)",
        hint="torch.save writes <name>/data.pkl; this looks like another kind of zip file",
    )


def _data_offset(f: Any, info: zipfile.ZipInfo) -> int:
    f.seek(info.header_offset)
    header = f.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise CheckpointError(f"corrupt torch checkpoint: bad zip entry {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def read_pickle_bytes(path: Path) -> bytes:
    """The raw ``data.pkl`` of a zip checkpoint (for scanning)."""
    with _open_zip(path) as zf:
        info = _data_pkl(zf, path)
        try:
            return zf.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointError(f"corrupt torch checkpoint: {path} ({exc})") from None


def read_zip_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a torch zip checkpoint into a ``Checkpoint`` (tensor data not read)."""
    p = Path(path)
    size = p.stat().st_size
    with _open_zip(p) as zf, open(p, "rb") as f:
        info = _data_pkl(zf, p)
        prefix = info.filename.rsplit("/", 1)[0]
        try:
            data = zf.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointError(f"corrupt torch checkpoint: {p} ({exc})") from None
        byteorder = "little"
        with contextlib.suppress(KeyError):
            byteorder = zf.read(f"{prefix}/byteorder").decode().strip() or "little"
        if byteorder != "little":
            raise CheckpointError(f"{p} was saved on a big-endian machine; not supported")
        root, unpickler = symbolic_load(data, file_name=str(p))
        members = {i.filename: i for i in zf.infolist()}
        for key, ref in unpickler.storages.items():
            member = members.get(f"{prefix}/data/{key}")
            if member is None:
                raise CheckpointError(f"corrupt torch checkpoint: {p} lacks storage {key}")
            if member.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"unsupported torch checkpoint: storage {key} is compressed")
            ref.offset = _data_offset(f, member)
            if member.file_size < ref.nbytes or ref.offset + ref.nbytes > size:
                raise CheckpointError(
                    f"truncated torch checkpoint: {p} (storage {key} runs past the end)",
                    hint="the file was cut short; re-copy or re-save it",
                )
    return Checkpoint(
        path=str(p), format="torch-zip", root=root, files=[str(p)], globals=unpickler.globals
    )
