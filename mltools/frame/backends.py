"""Where the chunks run: joblib/loky processes, a Dask cluster, or pandarallel.

Every backend returns, per chunk and in chunk order, the list of values the
user's function returned (see ``_ops.run_task``); the caller replays them
through pandas. ``serial`` needs no backend: it is pandas' own apply.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mltools._deps import install_hint
from mltools.errors import UnavailableError, UsageError
from mltools.frame._ops import Op, Task, mark, run_task, show
from mltools.frame.errors import BackendUnavailableError, WorkerDiedError

BACKENDS = ("auto", "serial", "loky", "pandarallel", "dask")

_WORKER_DIED_HINT = (
    "the OS may have killed it for memory (check `dmesg` for the OOM killer); "
    "use fewer workers or a smaller chunksize"
)


def default_workers() -> int:
    """Usable CPUs: joblib's count, which honours CPU affinity and cgroup quotas."""
    try:
        from joblib import cpu_count

        return max(1, int(cpu_count()))
    except ImportError:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


# -- availability ---------------------------------------------------------------------------------
def unavailable_reason(name: str) -> str | None:
    """``None`` when backend ``name`` can run here, else a one-line reason why not."""
    if name == "serial":
        return None
    if name == "loky":
        return _import_reason("joblib")
    if name == "dask":
        return _import_reason("distributed")
    if name == "pandarallel":
        return _pandarallel_reason()
    raise ValueError(f"unknown backend {name!r}")


def available_backends() -> dict[str, str | None]:
    """Every backend with ``None`` (usable) or the reason it is not."""
    return {name: unavailable_reason(name) for name in BACKENDS if name != "auto"}


def _import_reason(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as exc:
        return f"{module} is not installed ({exc})"
    return None


@functools.lru_cache(maxsize=1)
def _pandarallel_reason() -> str | None:
    """Import pandarallel once: 1.6.5 fails on pandas 3.1 (private window classes moved)."""
    try:
        import pandarallel  # noqa: F401
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "pandarallel":
            return "pandarallel is not installed"
        import pandas as pd

        detail = re.sub(r"\s*\(/[^)]*\)$", "", str(exc))
        return f"pandarallel does not import with pandas {pd.__version__} ({detail})"
    return None


def require_backend(name: str) -> None:
    """Raise ``BackendUnavailableError`` (with the reason) unless ``name`` can run."""
    reason = unavailable_reason(name)
    if reason is not None:
        extra = {"loky": "frame", "dask": "dask", "pandarallel": "pandarallel"}[name]
        hint = (
            "use backend='loky' (joblib), which works with every pandas"
            if name == "pandarallel"
            else install_hint(extra)
        )
        raise BackendUnavailableError(f"backend {name!r} is not available: {reason}", hint=hint)


# -- loky (joblib) ----------------------------------------------------------------------------------
def run_loky(tasks: list[Task], workers: int, advance: Callable[[int], None]) -> list[list[Any]]:
    """Run the tasks in joblib's loky process pool, in order.

    ``max_nbytes=None`` turns joblib's memmapping off: each chunk goes to one
    worker once, so pickling it through the pipe costs the same, and nothing is
    written to ``/dev/shm`` (Docker gives it 64 MiB). loky detects a worker
    that died and raises instead of hanging; Ctrl-C aborts and kills the pool.
    """
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import BrokenProcessPool

    parallel = Parallel(
        n_jobs=workers,
        backend="loky",
        return_as="generator",
        batch_size=1,
        max_nbytes=None,
        temp_folder=tempfile.gettempdir(),
    )
    results: list[list[Any]] = []
    try:
        for task, values in zip(tasks, parallel(delayed(run_task)(t) for t in tasks)):
            results.append(values)
            advance(_weight(task))
    except BrokenProcessPool as exc:
        codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(exc))
        detail = f"exit codes {codes.group(1)}" if codes else _first_line(exc)
        raise WorkerDiedError(
            f"a worker process died while running the function ({detail})",
            hint=_WORKER_DIED_HINT,
        ) from exc
    return results


# -- dask -----------------------------------------------------------------------------------------------
@contextmanager
def dask_client(scheduler: Any) -> Iterator[Any]:
    """The ``distributed.Client`` to use: the one given, one for an address, or the active one."""
    require_backend("dask")
    from distributed import Client, get_client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        try:
            client = get_client()
        except ValueError as exc:
            raise UsageError(
                "backend='dask' needs a scheduler: no Dask client is active",
                hint="pass scheduler='tcp://host:8786' or a distributed.Client",
            ) from exc
        yield client
        return
    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise UnavailableError(
            f"cannot reach the Dask scheduler at {scheduler}: {_first_line(exc)}",
            hint="check the address and that `dask scheduler` is running there",
        ) from exc
    try:
        yield client
    finally:
        client.close()


def dask_threads(client: Any) -> int:
    """Worker threads on the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def run_dask(
    op: Op,
    func: Callable[[Any], Any],
    obj: Any,
    tasks: list[Task],
    client: Any,
    advance: Callable[[int], None],
) -> list[list[Any]]:
    """Run the tasks on the Dask cluster behind ``client``, in order.

    Row-wise applies (``Series.apply/map``, ``DataFrame.apply(axis=1)``) go
    through ``dask.dataframe``'s ``map_partitions``; column-wise and group-wise
    applies submit one task per chunk, since their chunks are not row
    partitions. The workers must be able to import ``mltools`` and pandas.
    """
    from distributed import as_completed

    if op.kind in ("series", "rows") and _dask_frame_ok(obj):
        return _dask_map_partitions(client, op, func, obj, len(tasks), advance)
    futures = client.map(run_task, tasks, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[list[Any]] = [[] for _ in futures]
    for future in as_completed(futures):
        i = index[future.key]
        results[i] = _dask_result(future)
        advance(_weight(tasks[i]))
    return results


def _dask_map_partitions(
    client: Any,
    op: Op,
    func: Callable[[Any], Any],
    obj: Any,
    n_parts: int,
    advance: Callable[[int], None],
) -> list[list[Any]]:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    # keep the data exactly as pandas has it: no conversion of object columns to Arrow strings
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(obj, npartitions=n_parts, sort=False)
        meta = pd.Series([], dtype=object)
        recorded = ddf.map_partitions(
            _record_partition, op, func, meta=meta, enforce_metadata=False
        )
        future = client.compute(recorded)
    try:
        values = future.result()
    except Exception as exc:
        _raise_dask(exc)
        raise
    advance(len(obj))
    return [list(values)]


def _dask_frame_ok(obj: Any) -> bool:
    """dask.dataframe needs unique column names."""
    columns = getattr(obj, "columns", None)
    return columns is None or columns.is_unique


def _record_partition(part: Any, op: Op, func: Callable[[Any], Any]) -> Any:
    import numpy as np
    import pandas as pd

    values = run_task(Task(op, func, part))
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return pd.Series(out, dtype=object)


def _dask_result(future: Any) -> list[Any]:
    try:
        return future.result()
    except Exception as exc:
        _raise_dask(exc)
        raise


def _raise_dask(exc: Exception) -> None:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        raise WorkerDiedError(
            f"a Dask worker died while running the function ({_first_line(exc)})",
            hint=_WORKER_DIED_HINT,
        ) from exc


# -- pandarallel --------------------------------------------------------------------------------------
class _Box:
    """Wraps a function result so that pandas/pandarallel keep it as one opaque object."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


class _Boxing:
    """``func`` returning ``_Box``es; errors are boxed too and re-raised in the caller."""

    def __init__(self, op: Op, func: Callable[[Any], Any], drop: list[Any] | None = None) -> None:
        self.op, self.func, self.drop = op, func, drop

    def __call__(self, x: Any) -> _Box:
        import pandas as pd

        if self.drop:  # groupby.apply(include_groups=False): the group without its keys
            x = x.drop(columns=[c for c in self.drop if c in x.columns])
        try:
            value = self.func(x)
        except Exception as exc:
            where = f"row label {show(x.name)}" if hasattr(x, "name") else f"value {show(x)}"
            if self.op.kind == "groups":
                where = f"group {show(getattr(x, 'name', None))}"
            elif self.op.kind == "columns":
                where = f"column {show(getattr(x, 'name', None))}"
            mark(exc, where)
            return _Box(error=exc)
        # pandas re-uses one row Series for every row; keep what it held at this call
        return _Box(value.copy(deep=False) if isinstance(value, pd.Series) else value)


def pandarallel_supports(op: Op, obj: Any) -> bool:
    """pandarallel splits ``DataFrame.map`` by rows: fine unless a column is categorical
    (pandas then calls the function per category, which row chunks cannot reproduce)."""
    if op.kind != "cells":
        return True
    import pandas as pd

    return not any(isinstance(t, pd.CategoricalDtype) for t in obj.dtypes)


def run_pandarallel(
    op: Op, func: Callable[[Any], Any], obj: Any, workers: int, progress: bool
) -> list[Any]:
    """Run the apply with pandarallel's ``parallel_apply``; return the calls' values in order.

    pandarallel's memory file system (``/dev/shm``) is turned off so that a
    small ``/dev/shm`` is no problem; data goes through pipes instead.
    """
    require_backend("pandarallel")
    import pandas as pd
    from pandarallel import pandarallel

    pandarallel.initialize(
        nb_workers=workers, progress_bar=progress, verbose=0, use_memory_fs=False
    )
    drop = None
    if op.kind == "groups":
        include = op.apply_options.get("include_groups", _include_groups_default())
        keys = op.group_spec.keys if op.group_spec is not None else None
        if not include and keys is not None:
            drop = keys if isinstance(keys, list) else [keys]
    boxing = _Boxing(op, func, drop)
    if op.kind == "series":
        out = (
            obj.parallel_map(boxing, na_action=op.na_action)
            if op.method == "map"
            else obj.parallel_apply(boxing)
        )
        cells = list(out.to_numpy())
    elif op.kind in ("rows", "columns"):
        axis = 1 if op.kind == "rows" else 0
        out = obj.parallel_apply(boxing, axis=axis, raw=op.raw)
        cells = list(out.to_numpy()) if isinstance(out, pd.Series) else []
    elif op.kind == "cells":
        out = obj.parallel_applymap(boxing, na_action=op.na_action)
        cells = [v for j in range(out.shape[1]) for v in out.iloc[:, j].to_numpy()]
    else:
        out = obj.parallel_apply(boxing)
        cells = list(out.to_numpy()) if isinstance(out, pd.Series) else []
    boxes = [c for c in cells if isinstance(c, _Box)]
    for box in boxes:
        if box.error is not None:
            raise box.error
    return [box.value for box in boxes]


def _include_groups_default() -> bool:
    """``groupby.apply``'s default: grouping columns included before pandas 3, excluded since."""
    import pandas as pd

    return int(pd.__version__.split(".")[0]) < 3


# -- helpers -----------------------------------------------------------------------------------------
def _weight(task: Task) -> int:
    chunk = task.chunk
    return int(chunk.shape[0] * (chunk.shape[1] if task.op.kind == "cells" else 1))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
