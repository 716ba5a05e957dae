"""Shell globs exactly as ``find -name`` matches them: the C library's ``fnmatch(3)``.

Python's ``fnmatch`` module is a different dialect (``[^a]`` takes ``^``
literally, no backslash escapes, no ``[[:digit:]]`` classes), so a user's
``find`` habits would select other files. GNU find calls
``fnmatch(pattern, name, 0)`` on the base name; so do we, through ctypes, on the
raw bytes of both (undecodable names included), in the same locale (Python
sets ``LC_CTYPE`` from the environment at start-up, as find does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache

FNM_NOMATCH = 1


@lru_cache(maxsize=1)
def _libc_fnmatch():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = libc.fnmatch
    func.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
    func.restype = ctypes.c_int
    return func


class GlobError(ValueError):
    """``fnmatch(3)`` reported an error (not a match, not a non-match) for a pattern."""


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else os.fsencode(text)


def fnmatch(name: str | bytes, pattern: str | bytes) -> bool:
    """True when ``name`` matches ``pattern`` as ``find -name PATTERN`` would match it."""
    rc = _libc_fnmatch()(_bytes(pattern), _bytes(name), 0)
    if rc == 0:
        return True
    if rc == FNM_NOMATCH:
        return False
    raise GlobError(f"fnmatch failed on pattern {os.fsdecode(_bytes(pattern))!r}")


def check_pattern(pattern: str | bytes) -> None:
    """Raise ``GlobError`` for a pattern no name can be matched against (empty, NUL)."""
    raw = _bytes(pattern)
    if not raw:
        raise GlobError("empty glob")
    if b"\0" in raw:
        raise GlobError("a glob cannot contain a NUL byte")
    if b"/" in raw:
        raise GlobError(f"a glob matches one name, it cannot hold '/': {os.fsdecode(raw)!r}")
    fnmatch(b"x", raw)  # an error from libc shows up here
