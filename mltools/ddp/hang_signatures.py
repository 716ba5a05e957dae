"""Reduce a rank's stack to what a human compares across ranks.

A signature is (the collective or blocking call it sits in, the call below user
code, the first user frame above it): ranks with equal signatures form one
group in the verdict ("62 ranks wait in all_reduce at train.py:88"). The
library/user split decides which frame is "yours": the standard library,
installed packages and frozen modules are library code.
"""

from __future__ import annotations

import re
from pathlib import Path

from mltools.ddp import pyspy

COLLECTIVES = frozenset(
    {
        "all_reduce",
        "all_reduce_coalesced",
        "all_gather",
        "all_gather_into_tensor",
        "all_gather_object",
        "all_gather_coalesced",
        "reduce_scatter",
        "reduce_scatter_tensor",
        "broadcast",
        "broadcast_object_list",
        "reduce",
        "gather",
        "gather_object",
        "scatter",
        "scatter_object_list",
        "all_to_all",
        "all_to_all_single",
        "barrier",
        "monitored_barrier",
        "send",
        "recv",
        "isend",
        "irecv",
        "batch_isend_irecv",
        "init_process_group",
        "new_group",
        "_store_based_barrier",
    }
)
_LIBRARY = re.compile(r"(/lib(64)?/python3\.\d+/|site-packages/|dist-packages/|^<frozen )")
# The smoke test's own rank code plays the part of user code in its stacks.
_USER_EVEN_IF_INSTALLED = re.compile(r"mltools/ddp/smoke(_rank)?\.py$")
# Stuck in autograd's backward under DDP means waiting for the gradient all_reduce.
_BACKWARD = frozenset({"backward", "_engine_run_backward", "run_backward"})


def is_library_file(filename: str) -> bool:
    """True for the standard library, installed packages and frozen modules."""
    return bool(_LIBRARY.search(filename)) and not _USER_EVEN_IF_INSTALLED.search(filename)


def format_frame(f: pyspy.Frame) -> str:
    """'train.py:88 (step)'."""
    return f"{f.where} ({f.name})"


def signature(frames: list[pyspy.Frame]) -> tuple[str | None, str | None, str | None]:
    """(collective, call, user frame) for a stack given innermost first (Python frames only)."""
    frames = [f for f in frames if not f.native]
    user_idx = next((i for i, f in enumerate(frames) if not is_library_file(f.filename)), None)
    library = frames if user_idx is None else frames[:user_idx]
    collective = None
    for f in reversed(library):  # outermost library frame first: what the user called
        if f.name in COLLECTIVES and "distributed" in f.filename:
            collective = f.name
            break
        if f.name in _BACKWARD and "torch" in f.filename:
            collective = "backward (gradient all_reduce)"
            break
    call = None
    if collective:
        call = collective
    elif library:
        entry = library[-1]
        call = f"{entry.name} ({Path(entry.filename).name})"
    frame = format_frame(frames[user_idx]) if user_idx is not None else None
    return collective, call, frame


def short_symbol(name: str, limit: int = 100) -> str:
    """A C++ symbol without its template arguments, cut to ``limit`` characters."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
            if depth == 1:
                out.append("<...>")
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."
