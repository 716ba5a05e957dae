"""DataFrame apply on every core: ``parallel_apply`` and the table I/O behind ``mltools apply``.

Importing this package is cheap: pandas, joblib and dask load when a function runs.
"""

from __future__ import annotations

from mltools.frame._ops import failure_location
from mltools.frame.apply import (
    Parallel,
    apply_to_frame,
    parallel_apply,
    parallel_map,
    which_backend,
)
from mltools.frame.backends import available_backends
from mltools.frame.errors import BackendUnavailableError, FunctionError, WorkerDiedError

__all__ = [
    "BackendUnavailableError",
    "FunctionError",
    "Parallel",
    "WorkerDiedError",
    "apply_to_frame",
    "available_backends",
    "failure_location",
    "parallel_apply",
    "parallel_map",
    "which_backend",
]
