"""Read a one-file checkpoint (torch zip, legacy, safetensors, bare pickle) by its format."""

from __future__ import annotations

from pathlib import Path

from mltools.ckpt import formats
from mltools.ckpt.records import Checkpoint


def read_file(p: Path, fmt: str | None = None) -> Checkpoint:
    """Parse the single file ``p`` (format sniffed unless given) without tensor data or torch."""
    fmt = fmt or formats.detect_format(p)
    if fmt == formats.ZIP:
        from mltools.ckpt.zipreader import read_zip_checkpoint

        return read_zip_checkpoint(p)
    if fmt == formats.LEGACY:
        from mltools.ckpt.legacy import read_legacy_checkpoint

        return read_legacy_checkpoint(p)
    if fmt == formats.SAFETENSORS:
        from mltools.ckpt.safetensors_header import read_safetensors

        return read_safetensors(p)
    from mltools.ckpt.unpickler import symbolic_load

    root, unpickler = symbolic_load(p.read_bytes(), file_name=str(p))
    return Checkpoint(path=str(p), format=fmt, root=root, files=[str(p)], globals=unpickler.globals)
