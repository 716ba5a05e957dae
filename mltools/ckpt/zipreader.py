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
import zlib
from pathlib import Path
from typing import Any, NamedTuple

from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError
from mltools.ckpt.records import ITEMSIZE, Checkpoint
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


def _check_declared(name: str, file_size: int, label: Any, size: int) -> None:
    """Refuse a member that declares more bytes than a ``size``-byte file can inflate to."""
    if file_size > _FLOOR + _MAX_RATIO * size:
        raise CheckpointError(
            f"corrupt or hostile torch checkpoint: {label} declares a {name} of "
            f"{file_size} bytes in a {size}-byte file",
            hint="a zip bomb, or not a torch checkpoint",
        )


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: Any, size: int) -> bytes:
    """A member's bytes, inflated no further than its declared size and a budget of ``size``."""
    _check_declared(info.filename, info.file_size, label, size)
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

    def read(self, at: int, n: int) -> bytes:
        blob = self.blob
        return blob[at : at + n] if blob is not None else os.pread(self.fd, n, at)

    def data_offset(self, at: int, name: str) -> int:
        """Where the data of the member whose local header is at ``at`` starts."""
        try:
            if self.blob is not None:
                sig, name_len, extra_len = _LOCAL.unpack_from(self.blob, at)
            else:
                sig, name_len, extra_len = _LOCAL.unpack(os.pread(self.fd, 30, at))
        except struct.error:
            sig = b""  # the header runs past the end
        if sig != b"PK\x03\x04":
            raise CheckpointError(f"corrupt torch checkpoint: bad zip entry {name}")
        return at + 30 + name_len + extra_len


_EOCD = struct.Struct("<4s4H2LH")  # the end-of-central-directory record
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # one central directory entry
_LOCAL_FULL = struct.Struct("<4s2B4HL2L2H")  # a whole local header
_LOCATOR = struct.Struct("<4sLQL")  # the ZIP64 end record locator
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # the ZIP64 end record
_NO_ENCRYPTION = 0x1 | 0x20 | 0x40  # encrypted, patched, strong encryption: zipfile's business
_UTF8 = 0x800


# a central directory entry: header offset, compression, size, compressed size, CRC, flags,
# the name as stored (the first three as the storage loop reads them from either reader)
_Entry = tuple[int, int, int, int, int, int, bytes]


class _Member(NamedTuple):
    """A central directory entry, as much of it as a torch checkpoint needs."""

    name: str
    header_offset: int
    compress_type: int
    file_size: int
    compress_size: int
    crc: int
    flags: int
    raw: bytes  # the name as stored


class _LeanZip:
    """A torch zip's directory and small members, read with ``struct`` over one read each.

    ``zipfile`` builds a ``ZipInfo`` (and decodes its extra field) for each of 20,006
    members: 0.05 s of a 0.1 s pickle. This reader takes only archives whose every part
    is plain (one disk, no comment, nothing between the entries, unique names
    without NUL, stored members, CRCs that match, local names that equal the central
    ones; ZIP64 end records as torch writes them, no ZIP64 extra fields) and answers
    ``None`` for anything else, so that ``zipfile`` reads those: every
    error message and verdict on an unusual archive is still ``zipfile``'s.
    """

    def __init__(self, headers: _LocalHeaders, size: int, members: dict[str, _Entry]) -> None:
        self.headers = headers
        self.size = size
        self.members = members

    @classmethod
    def open(cls, headers: _LocalHeaders, size: int) -> _LeanZip | None:
        if size < _EOCD.size:
            return None
        end = size - _EOCD.size  # where the end record starts
        sig, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, comment = _EOCD.unpack(
            headers.read(end, _EOCD.size)
        )
        if sig != b"PK\x05\x06" or disk or cd_disk or comment or disk_entries != entries:
            return None
        if end >= _LOCATOR.size and headers.read(end - _LOCATOR.size, 4) == b"PK\x06\x07":
            # torch writes ZIP64 end records; zipfile takes its numbers from them
            sig, locator_disk, _, disks = _LOCATOR.unpack(
                headers.read(end - _LOCATOR.size, _LOCATOR.size)
            )
            end -= _LOCATOR.size + _EOCD64.size
            if locator_disk or disks > 1 or end < 0:
                return None
            (sig, _, _, _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset) = (
                _EOCD64.unpack(headers.read(end, _EOCD64.size))
            )
            if sig != b"PK\x06\x06" or disk or cd_disk or disk_entries != entries:
                return None
        if entries > _MAX_MEMBERS or cd_offset + cd_size != end:
            return None  # a prefix before the archive, or a gap: zipfile's way
        cd = headers.read(cd_offset, cd_size)
        if len(cd) != cd_size:
            return None
        members: dict[str, _Entry] = {}
        unpack = _CENTRAL.unpack_from
        pos = 0
        try:
            for _ in range(entries):
                (sig, _, _, version, _, flags, method, _, _, crc, csize, fsize, name_len,
                 extra_len, comment_len, _, _, _, offset) = unpack(cd, pos)  # fmt: skip
                start = pos + _CENTRAL.size
                pos = start + name_len + extra_len + comment_len
                raw = cd[start : start + name_len]
                name = raw.decode("utf-8" if flags & _UTF8 else "cp437")
                if (
                    sig != b"PK\x01\x02"
                    or version > zipfile.MAX_EXTRACT_VERSION
                    or extra_len
                    or 0xFFFFFFFF in (csize, fsize, offset)
                    or "\x00" in name
                    or name in members
                ):
                    return None
                members[name] = (offset, method, fsize, csize, crc, flags, raw)
        except (struct.error, UnicodeDecodeError):
            return None
        if pos != cd_size:
            return None
        return cls(headers, size, members)

    def read(self, member: _Member, label: Any) -> bytes | None:
        """A stored member's bytes (its size checked as ``_read_member`` checks it), or
        ``None`` where ``zipfile`` must read it."""
        _check_declared(member.name, member.file_size, label, self.size)
        if (
            member.compress_type != zipfile.ZIP_STORED
            or member.flags & _NO_ENCRYPTION
            or member.compress_size != member.file_size
        ):
            return None
        header = self.headers.read(member.header_offset, _LOCAL_FULL.size)
        if len(header) != _LOCAL_FULL.size:
            return None
        fields = _LOCAL_FULL.unpack(header)
        flags, name_len, extra_len = fields[3], fields[10], fields[11]
        start = member.header_offset + _LOCAL_FULL.size
        if (
            fields[0] != b"PK\x03\x04"
            or flags & (_NO_ENCRYPTION | _UTF8) != member.flags & (_NO_ENCRYPTION | _UTF8)
            or self.headers.read(start, name_len) != member.raw
        ):
            return None
        data = self.headers.read(start + name_len + extra_len, member.file_size)
        if len(data) != member.file_size or zlib.crc32(data) != member.crc:
            return None
        return data

    def member(self, name: str) -> _Member | None:
        entry = self.members.get(name)
        return None if entry is None else _Member(name, *entry)

    def data_pkl(self) -> _Member | None:
        """The first ``<name>/data.pkl`` in directory order (``_data_pkl``'s choice)."""
        for name in self.members:
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == "data.pkl" and not name.endswith("/"):
                return self.member(name)
        return None


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
    try:
        f = open(p, "rb")  # noqa: SIM115 (closed below; the error is zipfile's when it fails)
    except OSError:
        _open_zip(p).close()  # raises the CheckpointError an unreadable file gets
        raise
    with f:
        headers = _LocalHeaders(f, size)
        lean = _lean_parts(headers, size, p)
        if lean is None:
            with _open_zip(p) as zf:
                prefix, data, byteorder = _zip_parts(zf, p, size)
                members: dict[str, tuple[int, ...]] = {
                    i.filename: (i.header_offset, i.compress_type, i.file_size)
                    for i in zf.infolist()
                }
        else:
            prefix, data, byteorder, members = lean
        if byteorder != "little":
            raise CheckpointError(f"{p} was saved on a big-endian machine; not supported")
        root, unpickler = symbolic_load(data, file_name=str(p))
        folder = f"{prefix}/data/"
        offset_of = headers.data_offset
        for key, ref in unpickler.storages.items():
            name = folder + key
            member = members.get(name)
            if member is None:
                raise CheckpointError(f"corrupt torch checkpoint: {p} lacks storage {key}")
            if member[1] != zipfile.ZIP_STORED:
                raise CheckpointError(f"unsupported torch checkpoint: storage {key} is compressed")
            offset = ref.offset = offset_of(member[0], name)
            nbytes = ref.numel * ITEMSIZE.get(ref.dtype, 1)  # ref.nbytes
            if member[2] < nbytes or offset + nbytes > size:
                raise TruncatedCheckpointError(
                    f"truncated torch checkpoint: {p} (storage {key} runs past the end)",
                    hint="the file was cut short; re-copy or re-save it",
                )
    return Checkpoint(
        path=str(p), format="torch-zip", root=root, files=[str(p)], globals=unpickler.globals
    )


_Parts = tuple[str, bytes, str]  # prefix, data.pkl, byte order


def _zip_parts(zf: zipfile.ZipFile, p: Path, size: int) -> _Parts:
    """The prefix, ``data.pkl`` and byte order of a checkpoint, read by ``zipfile``."""
    info = _data_pkl(zf, p)
    prefix = info.filename.rsplit("/", 1)[0]
    data = _read_member(zf, info, p, size)
    byteorder = "little"
    with contextlib.suppress(KeyError, UnicodeDecodeError):
        order = zf.getinfo(f"{prefix}/byteorder")
        byteorder = _read_member(zf, order, p, size).decode().strip() or "little"
    return prefix, data, byteorder


def _lean_parts(
    headers: _LocalHeaders, size: int, p: Path
) -> tuple[str, bytes, str, dict[str, _Entry]] | None:
    """``_zip_parts`` and the members by ``_LeanZip``, or ``None`` where ``zipfile`` must read."""
    lean = _LeanZip.open(headers, size)
    if lean is None:
        return None
    info = lean.data_pkl()
    if info is None:
        return None  # zipfile's own message for a zip without data.pkl
    prefix = info.name.rsplit("/", 1)[0]
    data = lean.read(info, p)
    if data is None:
        return None
    byteorder = "little"
    order = lean.member(f"{prefix}/byteorder")
    if order is not None:
        text = lean.read(order, p)
        if text is None:
            return None
        with contextlib.suppress(UnicodeDecodeError):
            byteorder = text.decode().strip() or "little"
    return prefix, data, byteorder, lean.members
