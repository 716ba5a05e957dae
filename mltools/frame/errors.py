"""Typed errors of ``parallel_apply`` (subclasses of the shared ``mltools.errors``)."""

from __future__ import annotations

from mltools.errors import InputError, MissingDependencyError, MltoolsError


class WorkerDiedError(MltoolsError):
    """A worker process died while running the function (killed by the OS, e.g. out of memory)."""


class BackendUnavailableError(MissingDependencyError):
    """The requested backend cannot run here (not installed, or broken with this pandas)."""


class FunctionError(InputError):
    """The user's function raised; raised by the CLI, which has no caller to re-raise to.

    The library itself re-raises the function's own exception (same type and
    message) with a note naming the row, column or group that raised it.
    """
