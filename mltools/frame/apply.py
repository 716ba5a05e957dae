"""``parallel_apply``: pandas' ``apply``/``map`` on every core, with pandas' exact result."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mltools._deps import require
from mltools.errors import UsageError
from mltools.frame import backends
from mltools.frame._ops import Bound, Op, Task, group_spec_for, run_whole

# Below this many calls (rows, elements, cells) the auto backend stays serial:
# starting or feeding worker processes costs more than a cheap function saves.
AUTO_MIN_CALLS = 5_000
# Chunks per worker: enough for balance and a moving progress bar, few enough to stay cheap.
CHUNKS_PER_WORKER = 4


def parallel_apply(
    obj: Any,
    func: Callable[..., Any],
    axis: int | str = 0,
    *,
    workers: int | None = None,
    progress: bool = True,
    backend: str = "auto",
    chunksize: int | None = None,
    scheduler: Any = None,
    method: str = "apply",
    raw: bool = False,
    result_type: str | None = None,
    na_action: str | None = None,
    args: tuple[Any, ...] = (),
    **kwargs: Any,
) -> Any:
    """Run ``obj.apply(func, ...)`` (or ``.map``) on several cores; return what pandas returns.

    ``obj`` is a ``DataFrame`` (``axis=1``: one call per row; ``axis=0``: per
    column), a ``Series`` (``Series.apply``; ``method="map"`` for
    ``Series.map``), a ``DataFrame`` with ``method="map"`` (element-wise
    ``DataFrame.map``), or a ``groupby(...)`` object (one call per group).
    ``args`` and ``**kwargs`` go to ``func`` as in pandas; ``raw``,
    ``result_type`` and ``na_action`` are pandas' options of the same name.

    The result equals pandas' own (values, index, columns, dtypes): workers
    record what ``func`` returns and pandas builds the result from those
    values in the parent.

    ``backend``: ``"loky"`` (joblib worker processes; lambdas and closures
    work), ``"pandarallel"`` (where it imports with the installed pandas),
    ``"dask"`` (a cluster: ``scheduler="tcp://host:8786"`` or a
    ``distributed.Client``), ``"serial"``, or ``"auto"``: dask when a
    scheduler is given, else loky, and serial when there are fewer than
    ``AUTO_MIN_CALLS`` calls or one worker. ``workers`` defaults to the usable
    CPUs (the cluster's threads for dask); ``chunksize`` is the number of rows
    (columns, groups) per task.

    If ``func`` raises, the same exception (type and message) is raised here,
    with ``exc.mltools_location`` and a note naming the row, column or group.
    A worker killed by the OS raises ``WorkerDiedError``; Ctrl-C stops the
    workers. A progress bar shows on stderr when it is a terminal.
    """
    pd = require("pandas")
    if backend not in backends.BACKENDS:
        raise UsageError(
            f"unknown backend {backend!r}",
            hint=f"choose one of: {', '.join(backends.BACKENDS)}",
        )
    if method not in ("apply", "map"):
        raise UsageError(f"unknown method {method!r}", hint="use 'apply' or 'map'")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    if chunksize is not None and chunksize < 1:
        raise UsageError(f"chunksize must be at least 1, not {chunksize}")
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    op, target = _make_op(pd, obj, axis, method, raw, result_type, na_action, kwargs)

    import numpy as np

    if op.kind == "series" and op.method == "apply" and isinstance(func, np.ufunc):
        return target.apply(func, args=args, **kwargs)  # pandas vectorises ufuncs: no per-row calls
    f = Bound(func, args, kwargs) if (args or kwargs) else func

    op, chosen = _plan(pd, op, target, backend, scheduler, workers)
    if chosen == "serial":
        return run_whole(op, target, f)

    if chosen == "pandarallel":
        n = workers or backends.default_workers()
        values = backends.run_pandarallel(op, f, target, n, progress and sys.stdout.isatty())
        return op.replay(target, values)

    with _client_for(chosen, scheduler) as client:
        if workers is None:
            workers = (
                backends.dask_threads(client) if client is not None else backends.default_workers()
            )
        units = op.units(target)
        n_chunks = math.ceil(units / chunksize) if chunksize else workers * CHUNKS_PER_WORKER
        pieces = op.split(target, max(1, min(n_chunks, units)))
        tasks = [Task(op, f, chunk) for chunk, _ in pieces]
        total = sum(weight for _, weight in pieces)
        with _progress_bar(total, progress) as advance:
            if client is not None:
                per_chunk = backends.run_dask(op, f, target, tasks, client, advance)
            else:
                per_chunk = backends.run_loky(tasks, workers, advance)
    values = [value for chunk_values in per_chunk for value in chunk_values]
    return op.replay(target, values)


def which_backend(
    obj: Any,
    axis: int | str = 0,
    *,
    backend: str = "auto",
    workers: int | None = None,
    scheduler: Any = None,
    method: str = "apply",
) -> str:
    """The backend ``parallel_apply`` would use for these arguments (``"serial"``, ``"loky"``...)."""
    pd = require("pandas")
    if backend not in backends.BACKENDS:
        raise UsageError(f"unknown backend {backend!r}")
    op, target = _make_op(pd, obj, axis, method, False, None, None, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _plan(pd, op, target, backend, scheduler, workers)[1]


def _plan(
    pd: Any, op: Op, target: Any, backend: str, scheduler: Any, workers: int | None
) -> tuple[Op, str]:
    """The op to run (with its groupby rebuild spec) and the backend that will run it."""
    serial_reason = _serial_reason(pd, op, target)
    if op.kind == "groups" and serial_reason is None:
        spec, why = group_spec_for(target)
        if spec is None:
            serial_reason = why
        else:
            op = Op("groups", group_spec=spec, apply_options=op.apply_options)
    return op, _choose_backend(backend, scheduler, workers, op, target, serial_reason)


def _make_op(
    pd: Any,
    obj: Any,
    axis: int | str,
    method: str,
    raw: bool,
    result_type: str | None,
    na_action: str | None,
    kwargs: dict[str, Any],
) -> tuple[Op, Any]:
    from pandas.api.typing import DataFrameGroupBy, SeriesGroupBy

    if na_action not in (None, "ignore"):
        raise UsageError(f"na_action must be None or 'ignore', not {na_action!r}")
    if isinstance(obj, (DataFrameGroupBy, SeriesGroupBy)):
        if method != "apply":
            raise UsageError("groupby objects support method='apply' only")
        options = {}
        if "include_groups" in kwargs:
            options["include_groups"] = kwargs.pop("include_groups")
        return Op("groups", apply_options=options), obj
    if isinstance(obj, pd.Series):
        if method == "apply" and na_action is not None:
            raise UsageError("na_action goes with method='map'")
        return Op("series", method=method, na_action=na_action), obj  # type: ignore[arg-type]
    if isinstance(obj, pd.DataFrame):
        if method == "map":
            return Op("cells", method="map", na_action=na_action), obj
        axis_number = {0: 0, 1: 1, "index": 0, "rows": 0, "columns": 1}.get(axis)  # type: ignore[call-overload]
        if axis_number is None:
            raise UsageError(f"axis must be 0 or 1, not {axis!r}")
        if result_type not in (None, "expand", "reduce", "broadcast"):
            raise UsageError(f"unknown result_type {result_type!r}")
        kind = "rows" if axis_number == 1 else "columns"
        return Op(kind, raw=raw, result_type=result_type), obj
    raise TypeError(
        f"parallel_apply needs a pandas Series, DataFrame or groupby object, not {type(obj).__name__}"
    )


def _serial_reason(pd: Any, op: Op, target: Any) -> str | None:
    """Why this apply must run serially (pandas' call pattern cannot be split), if it must."""
    frame = target.obj if op.kind == "groups" else target
    if 0 in getattr(frame, "shape", (len(frame),)) or op.units(target) == 0:
        return "the input is empty"
    if op.kind == "series" and isinstance(target.dtype, pd.CategoricalDtype):
        return "pandas calls the function once per category of a categorical Series"
    return None


def _choose_backend(
    backend: str,
    scheduler: Any,
    workers: int | None,
    op: Op,
    target: Any,
    serial_reason: str | None,
) -> str:
    if backend == "serial":
        return "serial"
    if serial_reason is not None:
        if backend != "auto" and serial_reason != "the input is empty":
            warnings.warn(
                f"parallel_apply runs serially here: {serial_reason}", RuntimeWarning, stacklevel=4
            )
        return "serial"
    if backend == "auto":
        if scheduler is not None:
            backends.require_backend("dask")
            return "dask"
        calls = op.units(target) if op.kind != "groups" else len(target.obj)
        if workers == 1 or calls < AUTO_MIN_CALLS:
            return "serial"
        if backends.default_workers() < 2 and workers is None:
            return "serial"
        for name in ("loky", "pandarallel"):
            if backends.unavailable_reason(name) is None:
                return name
        return "serial"
    backends.require_backend(backend)
    if backend == "pandarallel" and not backends.pandarallel_supports(op, target):
        warnings.warn(
            "parallel_apply runs with loky: pandarallel splits DataFrame.map by rows "
            "and cannot keep pandas' result for categorical columns",
            RuntimeWarning,
            stacklevel=4,
        )
        return "loky"
    return backend


@contextmanager
def _client_for(chosen: str, scheduler: Any) -> Iterator[Any]:
    if chosen != "dask":
        yield None
        return
    with backends.dask_client(scheduler) as client:
        yield client


@contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A transient rich bar over rows on stderr, only when stderr is a terminal.

    None with NO_COLOR or TERM=dumb: a bar is redrawn with escape codes.
    """
    import os

    plain = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    if not (enabled and sys.stderr.isatty()) or plain:
        yield lambda n: None
        return

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
    with Progress(
        TextColumn("parallel_apply"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("apply", total=total)
        yield lambda n: bar.advance(task, n)
