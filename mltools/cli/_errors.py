"""The one table that maps exceptions to a one-line message, a hint and an exit code."""

from __future__ import annotations

import errno
import os
import sys

from mltools.errors import ExitCode, MltoolsError


def debug_enabled() -> bool:
    return os.environ.get("MLTOOLS_DEBUG", "") not in ("", "0")


def _where(exc: OSError) -> str:
    """The path an OSError is about, printable on one line ('' shown as '')."""
    from mltools._inputs import show_path

    if exc.filename is None:
        return ""
    where = show_path(exc.filename)
    if exc.filename2 is not None:
        where += f" -> {show_path(exc.filename2)}"
    return where


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """Return (message, hint, exit code) for ``exc``."""
    if isinstance(exc, MltoolsError):
        return exc.message, exc.hint, int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        signum = getattr(exc, "signum", None)
        if signum is None:
            return "interrupted", None, int(ExitCode.INTERRUPTED)
        import signal

        return f"terminated by {signal.Signals(signum).name}", None, 128 + int(signum)
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is None:
        return f"{type(exc).__name__}: {exc}", None, int(ExitCode.ERROR)
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {_where(exc)}", None, int(ExitCode.ERROR)
    if isinstance(exc, PermissionError):
        return (
            f"permission denied: {_where(exc)}",
            "check the owner and mode of the file (and of its folder), "
            "or run as a user who may use it",
            int(ExitCode.ERROR),
        )
    if isinstance(exc, IsADirectoryError):
        return f"is a directory: {_where(exc)}", None, int(ExitCode.ERROR)
    if isinstance(exc, NotADirectoryError):
        return f"not a directory: {_where(exc)}", None, int(ExitCode.ERROR)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = _where(exc)
        return f"no space left on device{': ' + where if where else ''}", None, 1
    if isinstance(exc, OSError):
        where = _where(exc)
        reason = exc.strerror or str(exc)
        return f"{reason}{': ' + where if where else ''}", None, int(ExitCode.ERROR)
    return (
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug in mltools; re-run with MLTOOLS_DEBUG=1 for the traceback",
        int(ExitCode.ERROR),
    )


def report(exc: BaseException) -> int:
    """Print ``exc`` as ``mltools: error: ...`` (+ ``hint: ...``) on stderr; return the code."""
    from mltools.cli._output import safe_text  # names in messages: control characters escaped

    message, hint, code = describe(exc)
    if isinstance(exc, MltoolsError) and exc.shown:
        return code  # the command's output already said it
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write(f"\nmltools: {message}\n")
    else:
        # one line whatever the message holds: a newline in a file name is shown as \n,
        # not cut there; control characters escaped (safe_text)
        line = safe_text(message.strip()) or type(exc).__name__
        sys.stderr.write(f"mltools: error: {line}\n")
        if hint:
            sys.stderr.write(f"hint: {safe_text(hint.strip())}\n")
    sys.stderr.flush()
    return code


def is_framework_exception(exc: BaseException) -> bool:
    """Typer/Click control-flow exceptions (Exit, Abort, usage errors) pass through untouched."""
    return type(exc).__module__.split(".")[0] in ("typer", "click")
