"""Typed errors of the checkpoint tools (all exit 1 through the CLI's error table)."""

from __future__ import annotations

from mltools.errors import InputError
from mltools.errors import OutputExistsError as _OutputExists


class CheckpointError(InputError):
    """A checkpoint is missing, truncated, corrupt, of an unknown kind, or cannot be used as asked."""


class TruncatedCheckpointError(CheckpointError):
    """A checkpoint ends before what it declares (a copy or a download cut short).

    The kinds of ``CheckpointError`` are told apart by type, never by the words of the
    message: ``TruncatedCheckpointError`` cut short, ``UnsafePickleError`` refused for
    safety, any other ``CheckpointError`` corrupt or unusable.
    """


class UnsafePickleError(CheckpointError):
    """A checkpoint's pickle would import a global that mltools refuses to load.

    ``global_name`` is the offending ``module.name`` (e.g. ``posix.system``).
    """

    def __init__(self, message: str, *, global_name: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.global_name = global_name


class StateDictMismatchError(CheckpointError):
    """``load_state_dict(strict=True)`` found missing or unexpected keys (or shape mismatches)."""

    def __init__(
        self,
        message: str,
        *,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched


class OutputExistsError(CheckpointError, _OutputExists):
    """The output of a conversion exists and overwriting was not allowed."""
