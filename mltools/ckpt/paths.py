"""Paths a checkpoint names for its other files, kept inside the checkpoint's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError


def confined(folder: Path, relative: Any, what: str) -> Path:
    """``folder / relative``, refused when it is absolute or leaves ``folder`` (``..``, links)."""
    if not isinstance(relative, (str, os.PathLike)) or not str(relative):
        raise CheckpointError(f"corrupt checkpoint: {what} names no file ({relative!r:.60})")
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(
            f"refusing {what} {str(relative)!r}: it points outside the checkpoint's folder {folder}"
        )
    target = folder / rel
    try:
        resolved, base = target.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        raise CheckpointError(f"refusing {what} {str(relative)!r}: cannot resolve it") from None
    if resolved != base and base not in resolved.parents:
        raise CheckpointError(
            f"refusing {what} {str(relative)!r}: it links outside the checkpoint's folder {folder}"
        )
    return target
