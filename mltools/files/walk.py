"""The one directory walk behind ``clean`` and ``filetype``: depth-first, names sorted.

Sorted order makes previews and reports stable from run to run (a plain
``os.scandir`` lists in on-disk order). The caller looks at each directory's
entries and says which subdirectories to enter, so a matched directory (clean)
or an already seen one (filetype following symlinks) is pruned without a
second pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator


def walk_sorted(
    root: str, on_error: Callable[[str, OSError], None] | None = None
) -> Iterator[tuple[list[os.DirEntry[str]], list[str]]]:
    """Yield ``(entries, descend)`` for ``root`` and then each directory put in ``descend``.

    ``entries`` is one directory's listing sorted by name. The caller appends to
    ``descend`` the paths to walk next, in order; they are visited depth-first
    before the directory's later siblings. A directory that cannot be listed is
    reported to ``on_error`` and skipped.
    """
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if on_error is not None:
                on_error(top, exc)
            continue
        descend: list[str] = []
        yield entries, descend
        stack.extend(reversed(descend))
