"""``--exclude PATTERN`` as ``du --exclude``, ``rsync --exclude`` and ``find -prune`` read it.

A pattern without ``/`` matches an entry's base name at any depth (``'*.tmp'``,
``.git``, ``__pycache__``); a pattern with ``/`` matches the path below the root
(``'wandb/run-*'``; a leading ``/`` only anchors it there); a trailing ``/`` matches
directories only (``'cache/'``). Globs are ``fnmatch(3)``'s, as for ``--name``. An
excluded directory is not entered at all: what is inside is neither counted nor a
candidate (``find ROOT -name PATTERN -prune -o ...``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from mltools.errors import UsageError
from mltools.files.fnmatch3 import GlobError, fnmatch


class Exclude:
    """The ``--exclude`` patterns of one command; ``excluded(parts, is_dir)`` decides."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = list(patterns)
        self._names: list[tuple[bytes, bool]] = []  # (glob, directories only)
        self._paths: list[tuple[bytes, bool]] = []
        for pattern in self.patterns:
            dirs_only = pattern.endswith("/")
            body = pattern.rstrip("/")
            anchored = body.startswith("/")  # '/cache': only the root's own entry
            raw = os.fsencode(body.lstrip("/"))
            if not raw or b"\0" in raw:
                raise UsageError(
                    f"bad --exclude {pattern!r}: an empty pattern or one with a NUL byte",
                    hint="give a glob such as '*.tmp', '.git' or 'wandb/run-*'",
                )
            try:
                fnmatch(b"x", raw)
            except GlobError as exc:
                raise UsageError(f"bad --exclude {pattern!r}: {exc}") from None
            (self._paths if anchored or b"/" in raw else self._names).append((raw, dirs_only))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, parts: Sequence[str], is_dir: bool) -> bool:
        """Whether the entry at ``parts`` (names below the root) is excluded."""
        if not self.patterns:
            return False
        name = os.fsencode(parts[-1])
        if any(fnmatch(name, glob) for glob, dirs in self._names if is_dir or not dirs):
            return True
        if self._paths:
            path = os.fsencode("/".join(parts))
            return any(fnmatch(path, glob) for glob, dirs in self._paths if is_dir or not dirs)
        return False
