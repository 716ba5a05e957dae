"""Typed errors and the documented exit codes.

The library raises these; it never prints or exits. The CLI maps each to a
one-line message, a hint (what to do next) and ``exit_code``. Domain modules
subclass them (e.g. ``NoGPUError``) so that scripts can catch one family.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every command (the README's table mirrors this)."""

    OK = 0
    ERROR = 1  # the command failed: bad file, corrupt input, permission, ...
    USAGE = 2  # bad option or argument
    NO_GPU = 3  # no NVIDIA driver / NVML not usable on this machine
    UNAVAILABLE = 4  # what was asked for is not there now (too few free GPUs, wait timed out)
    CHECK_FAILED = 5  # a check or diagnosis found a problem (ddp-doctor check FAIL)
    PARTIAL = 6  # some items failed while the rest went on (clean, kill, multi-host)
    MISSING_DEPENDENCY = 7  # an optional extra (torch, pandas, ...) is not installed
    COMMAND_NOT_FOUND = 127  # a command to run does not exist (as a shell reports it)
    INTERRUPTED = 130  # Ctrl-C (SIGTERM 143, SIGHUP 129: 128 + the signal's number)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type name when the message is empty.

    Library errors quote a third-party exception in one line this way (pandas, torch and
    dask messages often run to several lines).
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class MltoolsError(Exception):
    """Base of every error mltools raises on purpose.

    ``message`` is one line saying what went wrong; ``hint`` says what to do.
    ``shown``: the command's own output already says it (a FAIL row, a warning per
    failed item), so the CLI only exits with ``exit_code`` and prints nothing more.
    """

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, shown: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.shown = shown


class UsageError(MltoolsError):
    """The arguments make no sense together (beyond what the parser catches)."""

    exit_code = ExitCode.USAGE


class InputError(MltoolsError):
    """An input file or value is missing, unreadable, corrupt or of the wrong kind."""


class MissingDependencyError(MltoolsError):
    """An optional dependency is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class NoGPUError(MltoolsError):
    """No usable NVIDIA driver / NVML on this machine."""

    exit_code = ExitCode.NO_GPU


class UnavailableError(MltoolsError):
    """The resource asked for is not available now (e.g. fewer free GPUs than requested)."""

    exit_code = ExitCode.UNAVAILABLE


class CheckFailedError(MltoolsError):
    """A check or diagnosis found a problem."""

    exit_code = ExitCode.CHECK_FAILED


class PartialFailureError(MltoolsError):
    """Some items failed while the others were processed."""

    exit_code = ExitCode.PARTIAL


class OutputExistsError(MltoolsError):
    """An output exists and overwriting it was not allowed (no --yes): exit 1 in every command."""


class ChildExit(MltoolsError):
    """A command that ran a child ends with the child's exit status (``ddp-doctor run``,
    ``record -- CMD``): any code, already reported by the command's own output."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the command exited with status {code}", shown=True)
        self.exit_code = code


class CommandNotFoundError(MltoolsError):
    """A command to run (``record -- CMD``) does not exist or cannot be executed: 127, as a shell."""

    exit_code = ExitCode.COMMAND_NOT_FOUND


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt would be, so the same
    cleanup runs; the CLI exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
