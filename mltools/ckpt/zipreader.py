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

from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError
from mltools.ckpt.records import Checkpoint
from mltools.ckpt.unpickler import symbolic_load

# data.pkl may inflate to at most this many times the archive's size (plus a floor): the
# pickle of a real checkpoint is stored uncompressed by torch.save, so a bigger ratio is a bomb
_MAX_RATIO = 8
_FLOOR = 1 << 20
_MAX_MEMBERS = 1 << 20


def _open_zip(path: Any) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise CheckpointError(
            f"truncated or corrupt torch checkpoint: {path} ({exc})",
            hint="the file was cut short or damaged; re-copy or re-save it",
        ) from None
    if len(zf.infolist()) > _MAX_MEMBERS:
        raise CheckpointError(f"corrupt torch checkpoint: {path} has over {_MAX_MEMBERS} entries")
    return zf


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: Any, size: int) -> bytes:
    """A member's bytes, inflated no further than its declared size and a budget of ``size``."""
    limit = _FLOOR + _MAX_RATIO * size
    if info.file_size > limit:
        raise CheckpointError(
            f"corrupt or hostile torch checkpoint: {label} declares a {info.filename} of "
            f"{info.file_size} bytes in a {size}-byte file",
            hint="a zip bomb, or not a torch checkpoint",
        )
    try:
        with zf.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CheckpointError(f"corrupt torch checkpoint: {label} ({exc})") from None
    except Exception as exc:  # zlib.error, lzma errors ...
        raise CheckpointError(f"corrupt torch checkpoint: {label} ({type(exc).__name__})") from None
    if len(data) != info.file_size:
        raise CheckpointError(
            f"corrupt torch checkpoint: {label} ({info.filename} inflates to a size other than "
            "the one it declares)"
        )
    return data


def read_pickle_bytes_from(f: Any, label: Any, size: int) -> bytes:
    """The raw ``data.pkl`` of a zip checkpoint held in the file object ``f`` of ``size`` bytes."""
    with _open_zip(f) as zf:
        return _read_member(zf, _data_pkl(zf, label), label, size)


def _data_pkl(zf: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    for info in zf.infolist():
        parts = info.filename.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl" and not info.is_dir():
            return info
    raise CheckpointError(
        f"not a torch checkpoint: {path} (a zip archive without data.pkl)",
        hint="torch.save writes <name>/data.pkl; this looks like another kind of zip file",
    )


_LOCAL = struct.Struct("<4s22xHH")  # a local header's signature, name and extra lengths
_WHOLE = 16 << 20  # files up to this size have their local headers read in one read


class _LocalHeaders:
    """Where each member's data starts (after its local header), for many members at once.

    A small file is read once and its headers unpacked from memory; a big one (few, large
    storages) gets one ``pread`` per header. 20,000 seek-and-read pairs took 0.03 s.
    """

    def __init__(self, f: Any, size: int) -> None:
        self.fd = f.fileno()
        self.blob = os.pread(self.fd, size, 0) if size <= _WHOLE else None

    def data_offset(self, info: zipfile.ZipInfo) -> int:
        at = info.header_offset
        blob = self.blob
        header = blob[at : at + 30] if blob is not None else os.pread(self.fd, 30, at)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise CheckpointError(f"corrupt torch checkpoint: bad zip entry {info.filename}")
        _, name_len, extra_len = _LOCAL.unpack(header)
        return at + 30 + name_len + extra_len


def read_pickle_bytes(path: Path) -> bytes:
    """The raw ``data.pkl`` of a zip checkpoint (for scanning)."""
    with open(path, "rb") as f:
        return read_pickle_bytes_from(f, path, os.fstat(f.fileno()).st_size)


def zip_pickles(path: Path, limit: int = 64) -> list[tuple[str, bytes]]:
    """Every ``*.pkl``-looking member of a zip that is not in torch's layout (for scan)."""
    out = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        with _open_zip(f) as zf:
            for info in zf.infolist()[:limit]:
                if info.is_dir() or not info.filename.endswith((".pkl", ".pickle", ".pt", ".bin")):
                    continue
                if info.flag_bits & 1:
                    raise CheckpointError(f"{path}: {info.filename} is encrypted; cannot scan it")
                out.append((f"{path}:{info.filename}", _read_member(zf, info, path, size)))
    return out


def read_zip_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a torch zip checkpoint into a ``Checkpoint`` (tensor data not read)."""
    p = Path(path)
    size = p.stat().st_size
    with _open_zip(p) as zf, open(p, "rb") as f:
        info = _data_pkl(zf, p)
        prefix = info.filename.rsplit("/", 1)[0]
        data = _read_member(zf, info, p, size)
        byteorder = "little"
        with contextlib.suppress(KeyError, UnicodeDecodeError):
            order = zf.getinfo(f"{prefix}/byteorder")
            byteorder = _read_member(zf, order, p, size).decode().strip() or "little"
        if byteorder != "little":
            raise CheckpointError(f"{p} was saved on a big-endian machine; not supported")
        root, unpickler = symbolic_load(data, file_name=str(p))
        members = {i.filename: i for i in zf.infolist()}
        headers = _LocalHeaders(f, size)
        folder = f"{prefix}/data/"
        for key, ref in unpickler.storages.items():
            member = members.get(folder + key)
            if member is None:
                raise CheckpointError(f"corrupt torch checkpoint: {p} lacks storage {key}")
            if member.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"unsupported torch checkpoint: storage {key} is compressed")
            ref.offset = headers.data_offset(member)
            nbytes = ref.nbytes
            if member.file_size < nbytes or ref.offset + nbytes > size:
                raise TruncatedCheckpointError(
                    f"truncated torch checkpoint: {p} (storage {key} runs past the end)",
                    hint="the file was cut short; re-copy or re-save it",
                )
    return Checkpoint(
        path=str(p), format="torch-zip", root=root, files=[str(p)], globals=unpickler.globals
    )
