"""The one input policy: regular files only, sizes checked first, lines bounded.

Every command that reads a file by name goes through ``open_input`` (or
``check_input`` where another program or library opens it by name: pandas,
rsync's ``--password-file``, ``ssh -F``). A FIFO, a character or block device
(``/dev/zero``), a socket or a directory is refused with one line naming what
it is, before anything blocks or fills memory. Streams that are meant to be
streamed (``-``, a pipe on stdin) are read by their commands in bounded pieces
(``ddp-doctor log`` in chunks, ``ddp-doctor run`` and ``sync --ask-password`` with a
``readline`` limit), so an endless stream never fills memory.

The FIFO check is race-free: ``open_input`` opens with ``O_NONBLOCK`` (so the
open of a FIFO with no writer does not block), checks the opened descriptor
with ``fstat``, then clears ``O_NONBLOCK``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import stat
from typing import IO, Any

from mltools.errors import InputError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def kind_of(mode: int) -> str:
    """``"a regular file"``, ``"a character device"``, ... for an ``st_mode``."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as one printable line: control characters escaped, an empty path as '',
    a very long one shortened in the middle."""
    text = os.fsdecode(os.fspath(path))
    if not text:
        return "''"
    if not text.isprintable():
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    if len(text) > 300:  # a 5000-character name: its ends say enough
        text = f"{text[:160]}...({len(text)} characters)...{text[-100:]}"
    return text


class NotRegularFileError(InputError):
    """An input (or output) is a FIFO, device, socket or directory where a file is needed."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: int,
        what: str = "input",
        hint: str | None = None,
    ) -> None:
        kind = kind_of(mode)
        super().__init__(
            f"{what} is {kind}, not a regular file: {show_path(path)}",
            hint=hint or "give a regular file (devices, FIFOs and sockets are not read)",
        )
        self.path = os.fspath(path)
        self.mode = mode


class InputTooLargeError(InputError):
    """An input is larger than what the command accepts."""


def _check_size(path: str | os.PathLike[str], size: int, max_bytes: int | None, what: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise InputTooLargeError(
            f"{what} is too large: {show_path(path)} ({size} bytes, at most {max_bytes})",
            hint="check that this is the file you meant",
        )


def check_input(
    path: str | os.PathLike[str],
    *,
    what: str = "input",
    allow_dir: bool = False,
    max_bytes: int | None = None,
    hint: str | None = None,
) -> os.stat_result:
    """``stat`` ``path`` (following links) and refuse anything but a regular file (or a dir).

    Raises ``FileNotFoundError``/``PermissionError`` (with the path) as ``os.stat`` does,
    ``NotRegularFileError`` for a FIFO, device or socket, and ``InputTooLargeError``.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode) and allow_dir:
        return st
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        raise NotRegularFileError(path, st.st_mode, what, hint)
    _check_size(path, st.st_size, max_bytes, what)
    return st


def open_input(
    path: str | os.PathLike[str],
    *,
    what: str = "input",
    max_bytes: int | None = None,
    hint: str | None = None,
) -> IO[bytes]:
    """Open a regular file for binary reading, refusing FIFOs, devices, sockets and dirs.

    The open itself never blocks (``O_NONBLOCK``, cleared once the descriptor is known
    to be a regular file).
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:  # a socket cannot be opened at all (ENXIO): say what it is
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    raise NotRegularFileError(path, st.st_mode, what, hint) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
            raise NotRegularFileError(path, st.st_mode, what, hint)
        _check_size(path, st.st_size, max_bytes, what)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return io.BufferedReader(_NamedFileIO(fd, os.fspath(path)))
    except BaseException:
        os.close(fd)
        raise


class _NamedFileIO(io.FileIO):
    """A raw file whose read errors name the file (``/proc/self/mem`` fails on read)."""

    def __init__(self, fd: int, path: str | bytes) -> None:
        super().__init__(fd, "rb", closefd=True)
        self._path = path

    def readinto(self, buffer: Any) -> int | None:
        try:
            return super().readinto(buffer)
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror, self._path) from None

    def readall(self) -> bytes:
        try:
            return super().readall()
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror, self._path) from None


def read_small(path: str | os.PathLike[str], *, max_bytes: int, what: str = "input") -> bytes:
    """The whole of a small regular file (a password, a config): at most ``max_bytes``.

    Read errors carry the path (``/proc/self/mem`` gives EIO on read, not on open).
    """
    with open_input(path, what=what, max_bytes=max_bytes) as f:
        data = f.read(max_bytes + 1)
    # a file that grew (or lied about its size, as /proc files do) past the limit
    _check_size(path, len(data), max_bytes, what)
    return data


_DEV_NULL = os.makedev(1, 3)


def check_stream(stream: IO[bytes], *, what: str = "stdin") -> None:
    """Refuse a stream that can never end: a character device other than ``/dev/null``
    that is not a terminal (``< /dev/zero``, ``< /dev/urandom``). Pipes, sockets and
    files pass; so does anything without a descriptor (a test's BytesIO)."""
    try:
        fd = stream.fileno()
        st = os.fstat(fd)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return
    if stat.S_ISCHR(st.st_mode) and st.st_rdev != _DEV_NULL and not os.isatty(fd):
        raise InputError(
            f"{what} is {kind_of(st.st_mode)}, not a pipe or a file: it would never end",
            hint="pipe the data in, redirect a file (< FILE), or name the file",
        )
