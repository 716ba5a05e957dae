"""An adversary for `clean`: a process that swaps two names with renameat2(RENAME_EXCHANGE).

Run as ``python tests/_swapper.py A B``: it exchanges the paths A and B (a real
folder and a symlink to a folder outside the root) as fast as it can, prints
``ready`` after the first exchange (and stops when the pair is deleted), and on SIGTERM prints how many exchanges it
made and exits. The system call goes through libc (``renameat2``, glibc 2.28+),
or ``syscall(SYS_renameat2)`` where libc has no wrapper.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import signal
import sys
import time

AT_FDCWD = -100
RENAME_EXCHANGE = 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


def renameat2_func():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    try:
        func = libc.renameat2
        func.argtypes = (
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        )
        func.restype = ctypes.c_int
        return func
    except AttributeError:
        number = _SYS_RENAMEAT2[platform.machine()]
        syscall = libc.syscall
        syscall.restype = ctypes.c_long

        def func(olddirfd, old, newdirfd, new, flags):
            return syscall(
                ctypes.c_long(number),
                ctypes.c_int(olddirfd),
                ctypes.c_char_p(old),
                ctypes.c_int(newdirfd),
                ctypes.c_char_p(new),
                ctypes.c_uint(flags),
            )

        return func


def exchange(a: str, b: str) -> None:
    """Swap the names ``a`` and ``b`` atomically (raises ``OSError``)."""
    rc = renameat2_func()(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), a)


def main() -> None:
    a, b = (os.fsencode(x) for x in sys.argv[1:3])
    func = renameat2_func()
    count = 0
    stop = gone = False

    def on_term(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop:
        if func(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
            err = ctypes.get_errno()
            if err == errno.ENOENT and count:  # the pair was deleted (inside the root): done
                gone = True
                break
            print(f"error {os.strerror(err)}", flush=True)
            sys.exit(1)
        count += 1
        if count == 1:
            print("ready", flush=True)
    while not stop:  # wait for SIGTERM (a short nap: the handler may already have run)
        time.sleep(0.01)
    # leave the names as they started (an even number of exchanges)
    if count % 2 and not gone:
        func(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
        count += 1
    print(f"swaps {count}", flush=True)


if __name__ == "__main__":
    main()
