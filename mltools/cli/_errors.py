"""The one table that maps exceptions to a one-line message, a hint and an exit code."""

from __future__ import annotations

import errno
import os
import sys

from mltools.errors import ExitCode, MltoolsError


def debug_enabled() -> bool:
    return os.environ.get("MLTOOLS_DEBUG", "") not in ("", "0")


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """Return (message, hint, exit code) for ``exc``."""
    if isinstance(exc, MltoolsError):
        return exc.message, exc.hint, int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None, int(ExitCode.INTERRUPTED)
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {exc.filename or exc}", None, int(ExitCode.ERROR)
    if isinstance(exc, PermissionError):
        return (
            f"permission denied: {exc.filename or exc}",
            "check the file's owner and mode, or run as a user who may read it",
            int(ExitCode.ERROR),
        )
    if isinstance(exc, IsADirectoryError):
        return f"is a directory: {exc.filename or exc}", None, int(ExitCode.ERROR)
    if isinstance(exc, NotADirectoryError):
        return f"not a directory: {exc.filename or exc}", None, int(ExitCode.ERROR)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on device: {exc.filename or ''}".rstrip(": "), None, 1
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", None, int(ExitCode.ERROR)
    return (
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug in mltools; re-run with MLTOOLS_DEBUG=1 for the traceback",
        int(ExitCode.ERROR),
    )


def report(exc: BaseException) -> int:
    """Print ``exc`` as ``mltools: error: ...`` (+ ``hint: ...``) on stderr; return the code."""
    from mltools.cli._output import safe_text  # names in messages: control characters escaped

    message, hint, code = describe(exc)
    if code == ExitCode.INTERRUPTED:
        sys.stderr.write("\nmltools: interrupted\n")
    else:
        first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        sys.stderr.write(f"mltools: error: {safe_text(first_line)}\n")
        if hint:
            sys.stderr.write(f"hint: {safe_text(hint)}\n")
    sys.stderr.flush()
    return code


def is_framework_exception(exc: BaseException) -> bool:
    """Typer/Click control-flow exceptions (Exit, Abort, usage errors) pass through untouched."""
    return type(exc).__module__.split(".")[0] in ("typer", "click")
