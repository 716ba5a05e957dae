"""libmagic's verdicts at a fraction of its work: the magic entries a file cannot match are left out.

libmagic tries every top-level entry of its database (about 3,500 chains, 15,800 entries)
on every file, and a text file twice (once as binary, once as text), so a plain text file
costs it about 0.6 ms. Most entries start with a test that needs particular bytes: ``0
string %PDF-`` needs ``%``, ``P``, ``D`` and ``F`` somewhere in the file, ``0 belong
0xcafebabe`` needs ``0xca``, ``0xfe``, ``0xba`` and ``0xbe``, ``regex ^import.*;$`` needs
``import`` and ``;``. When a file lacks one of those bytes, the entry's first test cannot
succeed, so the entry and its continuation lines can print nothing: libmagic skips a chain
whose first test fails. A database without those chains gives the same MIME type and the
same description, from a fraction of the work.

How that is kept exact:

- only the first test of a chain is judged, and only tests whose success provably needs
  bytes: ``=`` comparisons of integers without a mask, of strings and searches (with the
  case and blank flags honoured conservatively), and the literal characters a POSIX
  regular expression must contain. Anything else keeps its chain;
- the file's bytes are all of the bytes libmagic can look at: the file is read whole (up to
  ``WHOLE_LIMIT``), and byte 0 always counts as present (libmagic pads past the end with
  zeros);
- the text pass looks at the file converted to UTF-8, which for a non-ASCII file can hold
  bytes the file does not: the text entries are judged only when every byte of the file is
  one that libmagic's own ASCII test accepts, so the conversion is the identity;
- the named entries (``name``/``use``) are kept whole, the order of the kept chains is
  libmagic's own, and the entries are copied byte for byte from the compiled database that
  libmagic would load (``magic_getpath``); anything we cannot read exactly (another format
  version, a source magic file with entries, a directory) turns the filter off.

The databases are built lazily per set of bytes present among a few key bytes (the bytes
whose absence rules out the most chains on real files), so files alike share one.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import struct
import threading
import time
from typing import Any

# the compiled database format this module reads (libmagic's VERSIONNO 18: 5.40 and later)
_MAGICNO = 0xF11E041C
_VERSION = 18
_ENTRY = 376  # sizeof(struct magic) in that format
_NAME_MAX = 64  # python-magic raises libmagic's name/use recursion limit to this: so do we
_PARAM_NAME_MAX = 1
_MIME_TYPE = 0x10

# struct magic: cont_level(H) flag(B) factor(B) reln(B) vallen(B) type(B) ... offset 24:
# the mask (numbers) or range and flags (strings), offset 32: the value
_TEXTTEST = 0x40
_NUMERIC = {1: 1, 2: 2, 4: 4, 7: 2, 8: 4, 10: 2, 11: 4, 23: 4, 24: 8, 25: 8, 26: 8}
_STRING, _SEARCH, _REGEX = 5, 20, 17
_WHITESPACE_FLAGS = 0x1 | 0x2  # W, w: blanks in the pattern match any number of blanks
_CASE_FLAGS = 0x4 | 0x8  # c, C

# libmagic's looks_ascii(): BEL BS HT LF VT FF CR, ESC and the printable ASCII range
_ASCII_TEXT = bytes([7, 8, 9, 10, 11, 12, 13, 27, *range(32, 127)])
_ASCII_TEXT_SET = frozenset(_ASCII_TEXT)

# Text files (every byte passes libmagic's ASCII test) are keyed by exactly which text
# bytes they hold, and, where too few files share that, by which of ``COARSE_KEYS`` they
# hold (the others counted as present). Other files are keyed by ``BINARY_KEYS``: little
# of their work can go. Both lists were chosen greedily on 4,200 real files (sources, docs,
# configs, web pages, images, binaries, the bench tree): each byte, in order, rules out the
# most further work, counting a regular expression as 200 plain tests and a search as 20.
TEXT_KEYS = _ASCII_TEXT
COARSE_KEYS = b"(p\x08b:S\\=!vBP@M-%.;u<qxjE_Xz^#U[>"
BINARY_KEYS = b"\x01PMS\rFA0"
WHOLE_LIMIT = 1 << 20  # bytes: bigger files get the whole database
# databases built per process, for text files and for others; past that, one built for a
# superset of the file's bytes, or the whole database. Each costs 4-14 MB once used (its
# entries, and the regular expressions libmagic compiles for each handle).
MAX_TEXT_DATABASES = 6
MAX_BINARY_DATABASES = 2
# a database is built for a key once its files have spent this long in libmagic (building
# one costs about 10 ms): dear files (text) get theirs soon, cheap ones (JSON) late
BUILD_AFTER_S = {True: 0.01, False: 0.02}
# A key is an int with bit 8*i set when keys[i] occurs: ``int.from_bytes`` of the bytes
# ``map(data.__contains__, keys)`` makes it in one C loop.
_KEY_BITS = {
    keys: {b: 1 << (8 * i) for i, b in enumerate(keys)} for keys in (TEXT_KEYS, BINARY_KEYS)
}
_ALL = {keys: sum(bits.values()) for keys, bits in _KEY_BITS.items()}
_ALL_TEXT = _ALL[TEXT_KEYS]
# the key bits of the bytes outside COARSE_KEYS: set in a coarse key (counted as present)
_NOT_COARSE = _ALL_TEXT & ~sum(_KEY_BITS[TEXT_KEYS][b] for b in COARSE_KEYS)
_NEVER = 1 << (8 * len(TEXT_KEYS) + 8)  # a bit no file's key has: a need no text file can meet
# what needing exactly byte b means, for a text file and for another: its key bit; 0 for
# byte 0 (always there) and for a byte outside the keys; _NEVER for a byte no text holds
_SINGLE = {
    True: [0 if b == 0 else _KEY_BITS[TEXT_KEYS].get(b, _NEVER) for b in range(256)],
    False: [_KEY_BITS[BINARY_KEYS].get(b, 0) for b in range(256)],
}


def needs_whole(head: bytes) -> bool:
    """Whether a file that starts with ``head`` could get a filtered database at all.

    Not when the head already fails the ASCII test (so the file is not text) and holds
    every binary key byte: then no key byte can be absent, and the rest is not read.
    """
    return head.isascii() or not all(map(head.__contains__, BINARY_KEYS))


class MagicError(OSError):
    """libmagic could not type a file (its own message)."""


_LIB: list[Any] = []


def _lib() -> Any:
    """libmagic through ctypes: the soname directly (python-magic's loader runs ldconfig
    and gcc to find it, twice per process), else python-magic's own handle on it."""
    if _LIB:
        return _LIB[0]
    try:
        lib = ctypes.CDLL("libmagic.so.1")
    except OSError:
        from mltools._deps import require

        lib = require("magic").libmagic
    if not getattr(lib, "_mltools_typed", False):
        lib.magic_open.restype = ctypes.c_void_p
        lib.magic_open.argtypes = [ctypes.c_int]
        lib.magic_load.restype = ctypes.c_int
        lib.magic_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.magic_descriptor.restype = ctypes.c_char_p
        lib.magic_descriptor.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.magic_buffer.restype = ctypes.c_char_p
        lib.magic_buffer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.magic_error.restype = ctypes.c_char_p
        lib.magic_error.argtypes = [ctypes.c_void_p]
        lib.magic_setparam.restype = ctypes.c_int
        lib.magic_setparam.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.magic_close.argtypes = [ctypes.c_void_p]
        lib.magic_getpath.restype = ctypes.c_char_p
        lib.magic_getpath.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.magic_version.restype = ctypes.c_int
        lib.magic_version.argtypes = []
        if hasattr(lib, "magic_load_buffers"):
            lib.magic_load_buffers.restype = ctypes.c_int
            lib.magic_load_buffers.argtypes = [
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.POINTER(ctypes.c_size_t),
                ctypes.c_size_t,
            ]
        lib._mltools_typed = True
    _LIB.append(lib)
    return lib


# --- what a chain's first test needs -----------------------------------------------------

_HIGH = frozenset(range(0x80, 0x100))
_BLANKS = frozenset(b" \t\n\v\f\r")


def _needs_byte(c: int, icase: bool) -> frozenset[int] | None:
    """Bytes of which one must be in the file for pattern byte ``c`` to match (None: none)."""
    if c >= 0x80:
        return None  # ctype and locale rules: judge nothing
    if icase and chr(c).isalpha():
        # tolower/toupper: the other case, or (in an 8-bit locale) a byte above 0x7f
        return frozenset((c, ord(chr(c).swapcase()))) | _HIGH
    return frozenset((c,))


def _string_needs(value: bytes, flags: int) -> list[frozenset[int]]:
    """What a string or search compare (libmagic's file_strncmp) needs for ``value``."""
    if not flags & (_WHITESPACE_FLAGS | _CASE_FLAGS):
        return [frozenset((c,)) for c in value]  # a plain memcmp/memmem: every byte as is
    out = []
    for c in value:
        if flags & _WHITESPACE_FLAGS and c in _BLANKS:
            continue
        need = _needs_byte(c, bool(flags & _CASE_FLAGS))
        if need is not None:
            out.append(need)
    return out


def regex_needs(pattern: bytes, icase: bool) -> list[frozenset[int]]:
    """Bytes a POSIX extended regular expression needs in any text it matches.

    Conservative: only the literal characters of the top level that are not optional
    count; brackets, groups, escapes of letters and digits (GNU's ``\\w``, back
    references) count for nothing, and an alternation or anything unexpected at the top
    level makes the whole answer "nothing needed".
    """
    pattern = pattern.split(b"\0", 1)[0]  # regcomp reads a C string
    needs: list[frozenset[int]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        atom: frozenset[int] | None = None
        if c == ord("|"):
            return []
        if c in b"^$.":
            i += 1
        elif c == ord("\\"):
            if i + 1 >= n:
                return []
            e = pattern[i + 1]
            i += 2
            if e < 0x80 and not chr(e).isalnum():
                atom = _needs_byte(e, icase)
        elif c == ord("["):
            end = _bracket_end(pattern, i)
            if end is None:
                return []
            i = end
        elif c == ord("("):
            end = _group_end(pattern, i)
            if end is None:
                return []
            i = end
        elif c in b"*+?{)":
            return []  # a quantifier with nothing before it, or a stray paren: not judged
        else:
            atom = _needs_byte(c, icase)
            i += 1
        least = 1
        while i < n and pattern[i] in b"*+?{":
            q = pattern[i]
            if q == ord("{"):
                close = pattern.find(b"}", i)
                body = pattern[i + 1 : close] if close > 0 else b""
                low = body.split(b",", 1)[0]
                if close < 0 or not low.isdigit():
                    return []
                least *= int(low)
                i = close + 1
            else:
                least *= 0 if q in b"*?" else 1
                i += 1
        if atom is not None and least > 0:
            needs.append(atom)
    return needs


def _bracket_end(p: bytes, i: int) -> int | None:
    """Index just past the bracket expression that starts at ``p[i] == '['``."""
    j = i + 1
    if j < len(p) and p[j] == ord("^"):
        j += 1
    if j < len(p) and p[j] == ord("]"):
        j += 1
    while j < len(p):
        if p[j] == ord("[") and j + 1 < len(p) and p[j + 1] in b":=.":
            close = p.find(bytes([p[j + 1], ord("]")]), j + 2)
            if close < 0:
                return None
            j = close + 2
        elif p[j] == ord("]"):
            return j + 1
        else:
            j += 1
    return None


def _group_end(p: bytes, i: int) -> int | None:
    """Index just past the parenthesised group that starts at ``p[i] == '('``."""
    depth, j = 0, i
    while j < len(p):
        c = p[j]
        if c == ord("\\"):
            j += 2
            continue
        if c == ord("["):
            end = _bracket_end(p, j)
            if end is None:
                return None
            j = end
            continue
        if c == ord("("):
            depth += 1
        elif c == ord(")"):
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return None


def first_test_needs(entry: bytes) -> list[frozenset[int]]:
    """What the first test of a chain (its ``struct magic``) needs in the file to succeed."""
    reln, vallen, kind = entry[4], entry[5], entry[6]
    if reln != ord("="):
        return []
    if kind in _NUMERIC:
        mask, value = struct.unpack_from("<QQ", entry, 24)
        mask_op = entry[9]
        if mask or mask_op & 0x40:  # a mask, or ~: the bytes compared are not the value's
            return []
        return [frozenset((b,)) for b in value.to_bytes(8, "little")[: _NUMERIC[kind]]]
    flags = struct.unpack_from("<I", entry, 28)[0]
    value = entry[32 : 32 + min(vallen, 128)]
    if kind in (_STRING, _SEARCH):
        return _string_needs(value, flags)
    if kind == _REGEX:
        return regex_needs(value, bool(flags & _CASE_FLAGS))
    return []


# --- the index of one compiled database ---------------------------------------------------


class _Database:
    """One compiled magic file, cut into chains with what each chain's first test needs."""

    def __init__(self, raw: bytes) -> None:
        magicno, version, n0, n1 = struct.unpack_from("=4I", raw, 0)
        if magicno != _MAGICNO or version != _VERSION or len(raw) != _ENTRY * (1 + n0 + n1):
            raise ValueError("not a compiled magic file this module reads")
        self.header = raw[:_ENTRY]
        view = memoryview(raw)
        # cont_level (the first uint16 of each entry) of every regular entry, in one slice
        levels = view[_ENTRY : _ENTRY * (1 + n0)].cast("H")[:: _ENTRY // 2]
        tops = [i for i, level in enumerate(levels) if level == 0] + [n0]
        # per chain: its entries, whether it is a text test, and per key set what its first
        # test needs: the key bytes it needs each of (a mask), and the sets of key bytes of
        # which it needs one (case-blind letters)
        self.chains: list[tuple[memoryview, bool, dict[bytes, tuple[int, tuple[int, ...]]]]] = []
        for start, end in itertools.pairwise(tops):
            top = raw[_ENTRY * (1 + start) : _ENTRY * (2 + start)]
            needs = first_test_needs(top)
            chunk = view[_ENTRY * (1 + start) : _ENTRY * (1 + end)]
            by_keys = {
                TEXT_KEYS: _masks(needs, _KEY_BITS[TEXT_KEYS], True),
                BINARY_KEYS: _masks(needs, _KEY_BITS[BINARY_KEYS], False),
            }
            self.chains.append((chunk, bool(top[2] & _TEXTTEST), by_keys))
        # the ``name`` entries, whole, as a database of their own (shared by every handle)
        named = self._with_counts(0, n1) + raw[_ENTRY * (1 + n0) :]
        self.named = ctypes.create_string_buffer(named, len(named))

    def _with_counts(self, n0: int, n1: int) -> bytes:
        return self.header[:8] + struct.pack("=2I", n0, n1) + self.header[16:]

    def without(self, keys: bytes, present: int, text_ok: bool) -> bytes:
        """The regular entries whose first test can succeed on a file with ``present``."""
        absent = ~present
        kept = [
            chunk
            for chunk, text, by_keys in self.chains
            if not (text_ok or not text)
            or not (by_keys[keys][0] & absent or any(not m & present for m in by_keys[keys][1]))
        ]
        return self._with_counts(sum(len(c) for c in kept) // _ENTRY, 0) + b"".join(kept)


def _masks(
    needs: list[frozenset[int]], keys: dict[int, int], text: bool
) -> tuple[int, tuple[int, ...]]:
    """The needs over the key bytes (byte -> its bit): (the bits needed each, the sets of
    bits needed one of). A byte outside the keys counts as present, except, for a text
    file (``text``: every byte of it passes libmagic's ASCII test), the bytes that fail
    that test: those are known to be absent. Byte 0 is always present (the padding).
    """
    single = _SINGLE[text]
    each, one_of = 0, []
    for need in needs:
        if len(need) == 1:  # most are: one table look-up
            for b in need:
                each |= single[b]
            continue
        if 0 in need:
            continue
        if text:
            need = need & _ASCII_TEXT_SET
            if not need:
                each |= _NEVER
                continue
        bits = [keys.get(b) for b in need]
        if None in bits:
            continue
        if len(bits) == 1:
            each |= bits[0]  # type: ignore[operator]
        else:
            one_of.append(sum(bits))  # type: ignore[arg-type]
    return each, tuple(one_of)


def _default_databases() -> list[_Database] | None:
    """The compiled files libmagic loads by default, or None where we cannot mirror them."""
    lib = _lib()
    if not hasattr(lib, "magic_load_buffers") or lib.magic_version() < 540:
        return None
    out = []
    for part in os.fsdecode(lib.magic_getpath(None, 0) or b"").split(":"):
        if not part:
            continue
        compiled = part if part.endswith(".mgc") else part + ".mgc"
        try:
            if os.path.isfile(compiled):
                with open(compiled, "rb") as f:
                    out.append(_Database(f.read()))
                continue
            if os.path.isdir(part):
                return None
            if os.path.exists(part):
                with open(part, "rb") as f:
                    source = f.read(1 << 20)
                if any(
                    line.strip() and not line.lstrip().startswith(b"#")
                    for line in source.splitlines()
                ):
                    return None  # a source magic file with entries: libmagic compiles it
        except (OSError, ValueError, struct.error):
            return None
    return out or None


_INDEX: dict[str, Any] = {}
_INDEX_LOCK = threading.Lock()


def prepare() -> None:
    """Read the default databases once per process (a fork inherits them)."""
    with _INDEX_LOCK:
        if "dbs" in _INDEX:
            return
        try:
            _INDEX["dbs"] = _default_databases()
        except Exception:  # no libmagic symbols we need, an unreadable path: no filter
            _INDEX["dbs"] = None


# --- handles ------------------------------------------------------------------------------


class _Handle:
    """One libmagic cookie, with the buffers it was loaded from kept alive."""

    def __init__(self, flags: int, buffers: list[Any] | None) -> None:
        lib = _lib()
        self.lib = lib
        self.cookie = lib.magic_open(flags)
        if not self.cookie:
            raise MagicError("libmagic: magic_open failed")
        limit = ctypes.c_size_t(_NAME_MAX)
        lib.magic_setparam(self.cookie, _PARAM_NAME_MAX, ctypes.byref(limit))
        self._keep = buffers
        if buffers is None:
            rc = lib.magic_load(self.cookie, None)
        else:
            ptrs = (ctypes.c_void_p * len(buffers))(
                *[ctypes.cast(b, ctypes.c_void_p) for b in buffers]
            )
            sizes = (ctypes.c_size_t * len(buffers))(*[len(b) for b in buffers])
            rc = lib.magic_load_buffers(self.cookie, ptrs, sizes, len(buffers))
        if rc != 0:
            raise MagicError(f"libmagic: {self._error()}")

    def __del__(self) -> None:
        cookie, self.cookie = getattr(self, "cookie", None), None
        if cookie:
            self.lib.magic_close(cookie)

    def _error(self) -> str:
        err = self.lib.magic_error(self.cookie)
        return err.decode("utf-8", "backslashreplace") if err else "unknown error"

    def descriptor(self, fd: int) -> str:
        out = self.lib.magic_descriptor(self.cookie, fd)
        if out is None:
            raise MagicError(self._error())
        return out.decode("utf-8", "backslashreplace")

    def buffer(self, data: bytes) -> str:
        out = self.lib.magic_buffer(self.cookie, data, len(data))
        if out is None:
            raise MagicError(self._error())
        return out.decode("utf-8", "backslashreplace")


Pair = tuple[_Handle, "_Handle | None"]


class Typer:
    """libmagic's MIME type and (when ``describe``) description, per process.

    ``identify(fd, data)`` types an open file; ``data`` is its whole content when the
    caller read it all (then the entries it cannot match are left out), else None.
    """

    def __init__(self, describe: bool) -> None:
        prepare()
        self.describe = describe
        self.dbs: list[_Database] | None = _INDEX["dbs"]
        self.full = self._pair(None)
        self.pairs: dict[tuple[int, bool], Pair] = {}
        self.built = {True: 0, False: 0}
        self.spent: dict[tuple[int, bool], float] = {}  # seconds in libmagic per key
        self.lock = threading.Lock()

    def _pair(self, buffers: list[Any] | None) -> Pair:
        mime = _Handle(_MIME_TYPE, buffers)
        return mime, _Handle(0, buffers) if self.describe else None

    def _for(self, data: bytes) -> tuple[Pair, list[tuple[int, bool]]]:
        """The handles for ``data``, and the keys its time in libmagic is charged to."""
        text_ok = data.isascii() and not data.translate(None, _ASCII_TEXT)
        keys = TEXT_KEYS if text_ok else BINARY_KEYS
        present = int.from_bytes(bytes(map(data.__contains__, keys)), "little")
        if not text_ok and present == _ALL[keys]:  # nothing can be left out
            return self.full, []
        # the exact key, then (text) the coarse one: a database built for either is right
        wanted = [(present, text_ok)]
        if text_ok:
            wanted.append((present | _NOT_COARSE, True))
        pair = self.pairs.get(wanted[0])
        if pair is not None:
            return pair, []
        room = self.built[text_ok] < (MAX_TEXT_DATABASES if text_ok else MAX_BINARY_DATABASES)
        for key in wanted:
            pair = self.pairs.get(key)
            if pair is None and room and self.spent.get(key, 0.0) >= BUILD_AFTER_S[text_ok]:
                pair = self._build(key)
            if pair is not None:
                return pair, [k for k in wanted if k not in self.pairs]
        # one built for a superset of these bytes keeps more entries, never fewer
        for (other, other_text), pair in self.pairs.items():
            if other_text == text_ok and other & present == present:
                return pair, wanted
        return self.full, wanted

    def _build(self, key: tuple[int, bool]) -> Pair:
        assert self.dbs is not None
        present, text_ok = key
        keys = TEXT_KEYS if text_ok else BINARY_KEYS
        buffers: list[Any] = []
        for db in self.dbs:
            without = db.without(keys, present, text_ok)
            buffers += [ctypes.create_string_buffer(without, len(without)), db.named]
        pair = self.pairs[key] = self._pair(buffers)
        self.built[text_ok] += 1
        return pair

    def buffer(self, data: bytes) -> tuple[str, str]:
        """(MIME type, description) of bytes in memory, from the whole database."""
        mime_h, desc_h = self.full
        with self.lock:
            return mime_h.buffer(data), desc_h.buffer(data) if desc_h is not None else ""

    def identify(self, fd: int, data: bytes | None) -> tuple[str, str]:
        """(MIME type, description or "") of the file open on ``fd`` (read from its start)."""
        with self.lock:  # a libmagic handle serves one call at a time
            charge: list[tuple[int, bool]] = []
            if data is None or self.dbs is None:
                mime_h, desc_h = self.full
            else:
                (mime_h, desc_h), charge = self._for(data)
            start = time.perf_counter()
            os.lseek(fd, 0, os.SEEK_SET)
            mime = mime_h.descriptor(fd)
            description = ""
            if desc_h is not None:
                os.lseek(fd, 0, os.SEEK_SET)
                description = desc_h.descriptor(fd)
            if charge:
                spent = time.perf_counter() - start
                for key in charge:
                    self.spent[key] = self.spent.get(key, 0.0) + spent
            return mime, description
