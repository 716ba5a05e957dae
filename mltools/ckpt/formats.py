"""Which kind of checkpoint a path is, from its first bytes (not its name)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from mltools._inputs import check_input, open_input
from mltools.ckpt.errors import CheckpointError

ZIP = "torch-zip"
LEGACY = "torch-legacy"
SAFETENSORS = "safetensors"
SHARDED = "sharded"
DCP = "torch-dcp"
PICKLE = "pickle"

FORMATS = (ZIP, LEGACY, SAFETENSORS, SHARDED, DCP, PICKLE)

# torch's legacy format starts with pickle protocol 2 and this magic number (a long)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PREFIX = b"\x80\x02\x8a\x0a" + _LEGACY_MAGIC.to_bytes(10, "little")


def _not_a_checkpoint(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"not a checkpoint: {path} ({why})",
        hint="expected a torch .pt/.pth/.bin/.ckpt, a .safetensors file, an *.index.json "
        "of a sharded checkpoint or a torch distributed checkpoint directory",
    )


# opcodes a protocol 0/1 pickle can start with (they have no PROTO header)
_PROTO01_OPENERS = frozenset(b"(c}])NILFSVGJKMTUXi")


def _looks_like_pickle(path: Path) -> bool:
    """Whether the first opcodes of ``path`` parse as pickle (up to 64 opcodes or STOP)."""
    import pickletools

    with open(path, "rb") as f:
        data = f.read(65536)
    count = 0
    first = None
    try:
        for op, arg, _pos in pickletools.genops(data):
            count += 1
            if first is None:
                first = (op.name, arg)
            if op.name == "STOP" or count >= 64:
                return True
    except Exception:
        pass
    # a pickle that breaks off is still one if it opens with a well-formed global (scan: corrupt)
    if first and first[0] in ("GLOBAL", "INST") and count >= 2:
        module, _, name = str(first[1]).partition(" ")
        return all(part.isidentifier() for part in (*module.split("."), *name.split(".")))
    return False


def _legacy_magic(path: Path) -> bool:
    """Whether the first pickle of ``path`` is torch's legacy magic number (any protocol)."""
    import pickletools

    with open(path, "rb") as f:
        data = f.read(64)
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("PROTO", "FRAME"):
                continue
            return op.name in ("LONG1", "LONG", "LONG4", "INT") and arg == _LEGACY_MAGIC
    except Exception:
        return False
    return False


def find_index(directory: Path) -> Path | None:
    """The single ``*.index.json`` in ``directory`` (None if there is none)."""
    found = sorted(directory.glob("*.index.json"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise CheckpointError(
            f"{directory} holds several index files ({names})", hint="name one of them"
        )
    return found[0] if found else None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return one of ``FORMATS`` for ``path`` or raise ``CheckpointError``.

    Directories: a torch distributed checkpoint (``.metadata``) or a folder with one
    ``*.index.json``. Files: by magic bytes (zip, legacy pickle, safetensors header).
    """
    p = Path(path)
    if p.is_dir():
        if (p / ".metadata").is_file():
            return DCP
        index = find_index(p)
        if index is not None:
            check_input(index, what="checkpoint index")
            return SHARDED
        raise _not_a_checkpoint(p, "a directory without .metadata or *.index.json")
    if p.name == ".metadata":
        check_input(p, what="checkpoint metadata")
        return DCP
    with open_input(p, what="checkpoint") as f:
        head = f.read(16)
        size = os.fstat(f.fileno()).st_size
    if not head:
        raise CheckpointError(f"empty file: {p}", hint="the checkpoint was not written; re-save it")
    if p.name.endswith(".index.json"):
        return SHARDED
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return ZIP
    if head.startswith(LEGACY_PREFIX) or _legacy_magic(p):
        return LEGACY
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 8 + header_len <= size:
            return SAFETENSORS
        if head[8:9] == b"{":
            raise CheckpointError(
                f"truncated safetensors file: {p} (header says {header_len} bytes, file has {size})"
            )
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        if head.startswith(b"\x80\x02\x8a\x0a"):
            raise CheckpointError(f"truncated or corrupt legacy torch checkpoint: {p}")
        return PICKLE
    if head[0] in _PROTO01_OPENERS and _looks_like_pickle(p):
        return PICKLE  # protocol 0/1: torch.load(weights_only=False) would run it
    if head.lstrip()[:1] == b"{":
        try:
            with open(p, encoding="utf-8") as f:
                doc = json.load(f)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and "weight_map" in doc:
            return SHARDED
    raise _not_a_checkpoint(p, "unknown file signature")
