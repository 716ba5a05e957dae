"""The one output policy: a temp file in the target folder, then a no-clobber rename.

``write_atomic(dst, write, overwrite=...)``:

- refuses a ``dst`` that exists and is not a regular file (a device, a FIFO,
  ``/dev/null``, a socket, a directory), even with ``overwrite``;
- refuses an existing ``dst`` without ``overwrite`` (``OutputExistsError``, exit 1);
- ``write(tmp)`` fills a temp file created next to ``dst`` (same filesystem), which is
  flushed to disk, given the old file's mode (else ``0o666`` less the umask) and
  renamed into place: with ``renameat2(RENAME_NOREPLACE)`` (or ``link`` + ``unlink``)
  when not overwriting, so two writers racing for one new output cannot both win;
- a failed write (full disk, read-only folder, quota) is one ``OutputError`` naming
  ``dst``, never the temp file; the temp file is removed on every failure, Ctrl-C and
  SIGTERM included (those arrive as ``KeyboardInterrupt``).

``open_output(dst, overwrite=...)`` is for streams written as they come (a log tee):
``O_EXCL`` without ``overwrite``; an existing FIFO or device is refused unless the
caller allows writing into it (``special=True``: nothing is replaced then).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mltools._inputs import kind_of, show_path
from mltools.errors import MltoolsError, OutputExistsError

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1

_HINTS = {
    errno.ENOSPC: "free some space on that filesystem, or write somewhere else",
    errno.EDQUOT: "your disk quota is used up: free some space, or write somewhere else",
    errno.EROFS: "that filesystem is mounted read-only: write somewhere else",
    errno.EACCES: "check the folder's owner and mode, or write somewhere else",
    errno.EPERM: "check the folder's owner and mode, or write somewhere else",
    errno.EFBIG: "the file is larger than this filesystem or `ulimit -f` allows",
}


class OutputError(MltoolsError, OSError):
    """The output could not be written (full disk, read-only, permission, not a file).

    Also an ``OSError`` (with the cause's ``errno``), so scripts catching that still do.
    """


def _error(dst: str | os.PathLike[str], exc: OSError, what: str) -> OutputError:
    reason = exc.strerror or str(exc)
    err = OutputError(
        f"cannot write {what} {show_path(dst)}: {reason}", hint=_HINTS.get(exc.errno or 0)
    )
    err.errno = exc.errno
    return err


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(
    dst: str | os.PathLike[str], *, overwrite: bool, what: str = "output", atomic: bool = True
) -> os.stat_result | None:
    """Refuse ``dst`` early (before long work): not a regular file, or exists without
    ``overwrite``. Returns its ``stat`` (following links) or None when it does not exist.

    ``atomic=False`` (a stream written in place) allows an existing FIFO or device.
    """
    try:
        st = os.stat(dst)
    except FileNotFoundError:
        if os.path.lexists(dst) and not overwrite:  # a dangling symlink
            raise _exists(dst, what) from None
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _error(dst, exc, what) from None
        raise
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{what} is a directory: {show_path(dst)}", hint="name a file")
    if atomic and not stat.S_ISREG(st.st_mode):
        raise OutputError(
            f"{what} {show_path(dst)} is {kind_of(st.st_mode)}, not a regular file; "
            "not writing to it",
            hint="name a regular file (mltools never replaces devices, FIFOs or sockets)",
        )
    if not overwrite:
        raise _exists(dst, what)
    return st


def _exists(dst: str | os.PathLike[str], what: str) -> OutputExistsError:
    return OutputExistsError(
        f"{what} {show_path(dst)} exists; not overwriting it", hint="pass --yes to replace it"
    )


def _rename_noreplace(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists (then ``FileExistsError``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
        renameat2.restype = ctypes.c_int
        rc = renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst)
    # no renameat2 here (old kernel/libc, or a filesystem without it): link, then unlink
    os.link(src, dst)  # FileExistsError when dst exists
    os.unlink(src)


def write_atomic(
    dst: str | os.PathLike[str],
    write: Callable[[Path], Any],
    *,
    overwrite: bool = False,
    what: str = "output",
) -> None:
    """Have ``write(tmp_path)`` fill a temp file, then move it to ``dst`` (see module doc)."""
    target = Path(dst)
    old = check_output(target, overwrite=overwrite, what=what)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _error(target, exc, what) from None
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            mode = stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~current_umask()
            os.chmod(tmp, mode)
        except OSError as exc:
            raise _error(target, exc, what) from None
        if overwrite:
            check_output(target, overwrite=True, what=what)  # still not a device
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise _error(target, exc, what) from None
        else:
            try:
                _rename_noreplace(str(tmp), str(target))
            except FileExistsError:
                raise _exists(target, what) from None
            except OSError as exc:
                raise _error(target, exc, what) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_output(
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "output",
    special: bool = False,
) -> IO[bytes]:
    """Open ``dst`` for writing a stream in place: ``O_EXCL`` unless ``overwrite``.

    A new file gets ``0o666`` less the umask (``open``'s usual mode). An existing FIFO
    or device is refused unless ``special`` (then it is written into, not replaced).
    """
    check_output(dst, overwrite=overwrite, what=what, atomic=not special)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    try:
        fd = os.open(dst, flags, 0o666)  # O_NONBLOCK: a FIFO with no reader fails, not hangs
    except FileExistsError:
        raise _exists(dst, what) from None
    except OSError as exc:
        raise _error(dst, exc, what) from None
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "wb")
