"""Read torch's legacy (pre-1.6, ``_use_new_zipfile_serialization=False``) format without torch.

Layout: four pickles (magic number, protocol version, system info, the object tree)
then a pickled list of storage keys, then for each key an 8-byte element count and
the raw bytes. Offsets are found by hopping over those count headers; no tensor
data is read.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError, UnsafePickleError
from mltools.ckpt.pickle_vm import BoundedReader, run_guarded
from mltools.ckpt.records import ITEMSIZE, Checkpoint
from mltools.ckpt.unpickler import SymbolicUnpickler


def _load_one(
    f: BoundedReader, path: Path, *, legacy: bool = False
) -> tuple[object, SymbolicUnpickler]:
    unpickler = SymbolicUnpickler(f, legacy=legacy, file_name=str(path))
    try:
        return run_guarded(unpickler), unpickler
    except UnsafePickleError:
        raise
    except CheckpointError as exc:
        kind = TruncatedCheckpointError if isinstance(exc, TruncatedCheckpointError) else None
        raise (kind or CheckpointError)(
            f"truncated or corrupt legacy torch checkpoint: {path} ({exc})",
            hint="the file was cut short or damaged; re-copy or re-save it",
        ) from None


def read_legacy_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a legacy torch checkpoint into a ``Checkpoint`` (tensor data not read)."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as raw_file:
        f = BoundedReader(raw_file)
        for _ in range(3):  # magic number, protocol version, sys_info
            _load_one(f, p)
        root, unpickler = _load_one(f, p, legacy=True)
        keys, _ = _load_one(f, p)
        if not isinstance(keys, list):
            raise CheckpointError(f"corrupt legacy torch checkpoint: {p} (no storage key list)")
        pos = f.tell()
        for key in keys:
            ref = unpickler.storages.get(str(key))
            raw_file.seek(pos)
            raw = raw_file.read(8)
            if len(raw) != 8:
                raise TruncatedCheckpointError(
                    f"truncated legacy torch checkpoint: {p} (storage {key} missing)",
                    hint="the file was cut short; re-copy or re-save it",
                )
            (numel,) = struct.unpack("<q", raw)
            if numel < 0:
                raise CheckpointError(f"corrupt legacy torch checkpoint: {p} (storage {key})")
            itemsize = ITEMSIZE.get(ref.dtype, 1) if ref else 1
            if ref is not None:
                ref.offset = pos + 8
                ref.numel = numel
            pos += 8 + numel * itemsize
            if pos > size:
                raise TruncatedCheckpointError(
                    f"truncated legacy torch checkpoint: {p} (storage {key} runs past the end)",
                    hint="the file was cut short; re-copy or re-save it",
                )
    return Checkpoint(
        path=str(p), format="torch-legacy", root=root, files=[str(p)], globals=unpickler.globals
    )
