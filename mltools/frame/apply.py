"""``parallel_apply`` / ``parallel_map``: pandas' ``apply``/``map`` on every core, with pandas'
exact result.

The arguments after the object are pandas' own, parsed by pandas' own signature
(``axis``, ``raw``, ``result_type``, ``args``, ``na_action``, ``include_groups``,
and every other keyword goes to ``func`` as in pandas); how to run in parallel
is one separate, keyword-only ``parallel=`` argument, so no keyword of ``func``
is ever swallowed.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from mltools._deps import require
from mltools.frame import backends
from mltools.frame._carry import ChunkResult, Warned
from mltools.frame._ops import (
    CallSite,
    FeedMismatch,
    Op,
    Task,
    call_site,
    group_spec_for,
    run_whole,
    warnings_at,
)

# Below this many calls (rows, elements, cells) the auto backend stays serial:
# starting or feeding worker processes costs more than a cheap function saves.
AUTO_MIN_CALLS = 5_000
# Chunks per worker: enough for balance and a moving progress bar, few enough to stay cheap.
CHUNKS_PER_WORKER = 4


@dataclass(frozen=True)
class Parallel:
    """How ``parallel_apply`` runs: passed as ``parallel=Parallel(...)`` (or a dict of these).

    ``backend``: ``"fork"`` (worker processes forked for the call: they start
    in milliseconds with the data already in memory), ``"loky"`` (joblib's
    reusable worker processes; lambdas and closures work), ``"pandarallel"`` (pandarallel's worker processes, where it imports
    with the installed pandas), ``"dask"`` (a cluster: ``scheduler=
    "tcp://host:8786"`` or a ``distributed.Client``), ``"serial"``, or
    ``"auto"``: dask when a scheduler is given, else fork (loky when the
    process runs other threads, where forking is unsafe), and serial when
    there are fewer than ``AUTO_MIN_CALLS`` calls or one worker.
    ``workers`` defaults to the usable CPUs (the cluster's threads for dask);
    ``chunksize`` is the number of rows (columns, groups) per task;
    ``timeout`` (seconds, dask) bounds the whole apply; ``progress`` shows a
    bar on stderr when it is a terminal.
    """

    backend: str = "auto"
    workers: int | None = None
    chunksize: int | None = None
    scheduler: Any = None
    progress: bool = True
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.backend not in backends.BACKENDS:
            raise ValueError(
                f"unknown backend {self.backend!r}: choose one of {', '.join(backends.BACKENDS)}"
            )
        for name in ("workers", "chunksize"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
        if self.timeout is not None and not (
            isinstance(self.timeout, (int, float)) and 0 < self.timeout < math.inf
        ):
            raise ValueError(f"timeout must be a positive number of seconds, not {self.timeout!r}")


def parallel_apply(
    obj: Any,
    func: Any,
    /,
    *args: Any,
    parallel: Parallel | dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``obj.apply(func, *args, **kwargs)`` on several cores; returns what pandas returns.

    ``obj`` is a ``DataFrame`` (``axis=1``: one call per row; ``axis=0``: per
    column), a ``Series``, or a ``groupby(...)`` object (one call per group).
    Everything after ``func`` means what it means to pandas' ``apply`` of that
    object, on the installed pandas; ``parallel=Parallel(...)`` says how to run.

    The result equals pandas' own (values, index, columns, dtypes, warnings,
    exceptions): workers record what ``func`` returns and pandas builds the
    result from those values in the caller. What cannot be split (a string or
    list of functions, ``by_row=False``, ``engine="numba"``, a ufunc pandas
    vectorises) goes to pandas as it is.

    If ``func`` raises, the same exception (type and message) is raised here,
    with ``exc.mltools_location`` and a note naming the row, column or group;
    an exception that cannot be pickled comes back as a stand-in of the same
    type name and message. A worker killed by the OS raises ``WorkerDiedError``.
    """
    return _run(obj, "apply", func, args, kwargs, parallel, call_site())


def parallel_map(
    obj: Any,
    func: Any,
    /,
    *args: Any,
    parallel: Parallel | dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``obj.map(func, *args, **kwargs)`` (``Series.map``, element-wise ``DataFrame.map``)
    on several cores; see ``parallel_apply``."""
    return _run(obj, "map", func, args, kwargs, parallel, call_site())


def which_backend(
    obj: Any,
    method: str = "apply",
    *,
    parallel: Parallel | dict[str, Any] | None = None,
    **pandas_kwargs: Any,
) -> str:
    """The backend ``parallel_apply`` (``method="map"``: ``parallel_map``) would use here."""
    pd = require("pandas")
    options = _options(parallel)
    plan = _plan(pd, obj, method, _probe_func, (), pandas_kwargs)
    if plan is None:
        return "serial"
    op, target, reason = plan
    return _choose_backend(options, op, target, reason)


def apply_to_frame(
    df: Any,
    func: Callable[..., Any],
    *,
    column: str | None = None,
    into: str | None = None,
    parallel: Parallel | None = None,
) -> tuple[list[Any], str]:
    """Call ``func`` on each value of ``df[column]`` (map), or on each row (``column=None``:
    apply with axis=1), and write the result into ``df`` in place: ``into`` (default: the
    column itself, or "result" for rows), or every column when ``func`` returns a Series
    per row. Returns (the columns written, the backend used). What ``mltools apply`` runs.
    """
    from mltools.errors import UsageError

    if column is not None:
        if column not in df.columns:
            shown = ", ".join(map(str, list(df.columns)[:10]))
            raise UsageError(f"no column {column!r} in the input", hint=f"columns: {shown}")
        target, method, pandas_kwargs = df[column], "map", {}
    else:
        target, method, pandas_kwargs = df, "apply", {"axis": 1}
    used = which_backend(target, method, parallel=parallel, **pandas_kwargs)
    run = parallel_map if method == "map" else parallel_apply
    result = run(target, func, parallel=parallel, **pandas_kwargs)
    pd = require("pandas")
    if isinstance(result, pd.DataFrame):
        for name in result.columns:
            df[name] = result[name]
        return list(result.columns), used
    name = into or (column if column is not None else "result")
    df[name] = result
    return [name], used


def _probe_func(x: Any) -> Any:  # stands for func in which_backend
    return x


# -- the run ---------------------------------------------------------------------------------------
def _run(
    obj: Any,
    method: str,
    func: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parallel: Any,
    site: CallSite | None,
) -> Any:
    pd = require("pandas")
    options = _options(parallel)
    plan = _plan(pd, obj, method, func, args, kwargs)
    if plan is None:  # pandas as it is: what cannot be split, or arguments pandas refuses
        with warnings_at(site):
            return getattr(obj, method)(func, *args, **kwargs)
    op, target, serial_reason = plan
    func = _pandas_swaps(pd, op, target, func, site)
    chosen = _choose_backend(options, op, target, serial_reason)
    if chosen == "serial":
        with warnings_at(site):
            return run_whole(op, target, func)
    import numpy as np

    op = replace(op, pandas_options=_pandas_options(), errstate=np.geterr())
    with _client_for(chosen, options) as client:
        workers = options.workers
        if workers is None:
            workers = (
                backends.dask_threads(client) if client is not None else backends.default_workers()
            )
        units = op.units(target)
        if options.chunksize:
            n_chunks = math.ceil(units / options.chunksize)
        elif chosen == "pandarallel":
            n_chunks = workers  # as pandarallel does: one chunk per worker
        else:
            n_chunks = workers * CHUNKS_PER_WORKER
        pieces = op.split(target, max(1, min(n_chunks, units)))
        tasks = [Task(op, func, chunk) for chunk, _ in pieces]
        total = sum(weight for _, weight in pieces)
        with _progress_bar(total, options.progress and chosen != "pandarallel") as advance:
            if client is not None:
                results = backends.run_dask(tasks, client, advance, options.timeout)
            elif chosen == "pandarallel":
                results = backends.run_pandarallel(tasks, workers, options.progress)
            elif chosen == "fork":
                results = backends.run_fork(tasks, workers, advance)
            else:
                results = backends.run_loky(tasks, workers, advance)
    return _finish(op, target, func, results, site)


def _finish(
    op: Op, target: Any, func: Any, results: list[ChunkResult], site: CallSite | None
) -> Any:
    """Replay the recorded calls through pandas; fall back to pandas itself when they don't fit."""
    values: list[Any] = []
    warned: list[Warned] = []
    if any(chunk.recovered for chunk in results):
        # pandas caught an exception of func and tried again another way (2.2's
        # groupby.apply without the grouping columns): a call pattern that chunks
        # cannot rebuild, so pandas runs it as it is
        with warnings_at(site):
            return run_whole(op, target, func)
    for chunk in results:
        offset = len(values)
        values.extend(chunk.values)
        warned.extend(
            Warned(w.call + offset, w.category, w.message, w.filename, w.lineno)
            for w in chunk.warned
        )
        if chunk.escaped is not None:
            if chunk.escaped.role == "transport":
                raise chunk.escaped.rebuild()
            break  # pandas stopped there: the replay stops at the same call
    clean = all(chunk.escaped is None for chunk in results)
    with warnings_at(site) as caught:
        try:
            return op.replay(target, values, warned, clean=clean)
        except FeedMismatch:
            # pandas took another path in the caller than on the chunks (a fallback
            # after an error, a chunk-local failure): let pandas run it as it is
            caught.clear()
    with warnings_at(site):
        return run_whole(op, target, func)


# -- planning -------------------------------------------------------------------------------------
def _options(parallel: Any) -> Parallel:
    if parallel is None:
        return Parallel()
    if isinstance(parallel, Parallel):
        return parallel
    if isinstance(parallel, dict):
        try:
            return Parallel(**parallel)
        except TypeError as exc:
            raise TypeError(f"parallel=: {exc}") from None
    raise TypeError(
        f"parallel= takes parallel_apply's own options (a mltools.frame.Parallel or a dict), "
        f"not {type(parallel).__name__}; to pass a keyword named 'parallel' to func, "
        f"bind it with functools.partial"
    )


@functools.lru_cache(maxsize=64)
def _signature(cls: type, method: str) -> inspect.Signature | None:
    try:
        return inspect.signature(getattr(cls, method))
    except (TypeError, ValueError, AttributeError):
        return None


def _plan(
    pd: Any, obj: Any, method: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Op, Any, str | None] | None:
    """The op to run, the object it runs on, and why it must run serially (if it must);
    ``None`` when pandas should get the call as it is."""
    from pandas.api.typing import DataFrameGroupBy, SeriesGroupBy

    is_groups = isinstance(obj, (DataFrameGroupBy, SeriesGroupBy))
    if not (is_groups or isinstance(obj, (pd.Series, pd.DataFrame))):
        raise TypeError(
            f"parallel_{method} needs a pandas Series, DataFrame or groupby object, "
            f"not {type(obj).__name__}"
        )
    if is_groups and method != "apply":
        return None
    sig = _signature(type(obj), method)
    if sig is None:
        return None
    try:
        bound = sig.bind(obj, func, *args, **kwargs)
    except TypeError:
        return None  # pandas raises its own TypeError
    params = list(sig.parameters.values())
    pos: tuple[Any, ...] = ()
    kw: dict[str, Any] = {}
    for param in params[2:]:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            pos = tuple(value)
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            kw.update(value)
        else:
            kw[param.name] = value
    if not callable(func) or _pandas_only(pd, obj, method, func, kw, is_groups):
        return None
    if is_groups:
        op = Op("groups", pos=pos, kw=kw)
        reason = _serial_reason(pd, op, obj)
        if reason is None:
            spec, reason = group_spec_for(obj)
            if spec is not None:
                op = replace(op, group_spec=spec)
        return op, obj, reason
    if isinstance(obj, pd.Series):
        op = Op("series", method=method, kw=kw, na_action=kw.get("na_action"))  # type: ignore[arg-type]
        return op, obj, _serial_reason(pd, op, obj)
    if method == "map":
        op = Op("cells", method="map", kw=kw, na_action=kw.get("na_action"))
        return op, obj, _serial_reason(pd, op, obj)
    axis = obj._get_axis_number(kw.get("axis", 0))  # pandas' own check and ValueError
    raw = bool(kw.get("raw", False))
    kind = "rows" if axis == 1 else "columns"
    raw_dtype = None
    if raw and kind == "columns":
        raw_dtype = obj.iloc[:0].values.dtype
    op = Op(kind, kw=kw, raw=raw, result_type=kw.get("result_type"), raw_dtype=raw_dtype)
    return op, obj, _serial_reason(pd, op, obj)


def _pandas_only(
    pd: Any, obj: Any, method: str, func: Any, kw: dict[str, Any], is_groups: bool
) -> bool:
    """Calls that pandas does not make once per row/column/group: left to pandas."""
    import numpy as np

    if kw.get("by_row", "compat") != "compat":
        return True
    if kw.get("engine") not in (None, "python") or kw.get("engine_kwargs") is not None:
        return True
    # pandas applies a ufunc to the whole object
    return not is_groups and method == "apply" and isinstance(func, np.ufunc)


def _serial_reason(pd: Any, op: Op, target: Any) -> str | None:
    """Why this apply must run serially (pandas' call pattern cannot be split), if it must."""
    frame = target.obj if op.kind == "groups" else target
    if 0 in getattr(frame, "shape", (len(frame),)) or op.units(target) == 0:
        return "the input is empty"
    if op.kind == "series" and isinstance(target.dtype, (pd.CategoricalDtype, pd.SparseDtype)):
        return "pandas calls the function once per category (or sparse fill value)"
    if (
        op.kind == "columns"
        and op.raw
        and isinstance(op.raw_dtype, pd.api.extensions.ExtensionDtype)
    ):
        return "raw values of an extension dtype"
    return None


def _pandas_swaps(pd: Any, op: Op, target: Any, func: Any, site: CallSite | None) -> Any:
    """What pandas itself does to ``func`` before calling it (pandas 2.2's groupby.apply
    swaps the builtins sum/max/min for numpy's, with a FutureWarning)."""
    if op.kind != "groups" or int(pd.__version__.split(".")[0]) >= 3:
        return func
    try:
        from pandas.core import common as com
        from pandas.core.apply import warn_alias_replacement
    except ImportError:
        return func
    swapped = com.is_builtin_func(func)
    if swapped is not func:
        with warnings_at(site):
            warn_alias_replacement(target, func, com._builtin_table_alias[func])
    return swapped


def _pandas_options() -> tuple[Any, ...]:
    """The caller's pandas options that differ from the defaults, as (key, value, ...)."""
    try:
        from pandas._config import config as c

        out: list[Any] = []
        for key, registered in c._registered_options.items():
            if key in c._deprecated_options:
                continue
            root, leaf = c._get_root(key)
            value = root.get(leaf, registered.defval)
            try:
                same = bool(value == registered.defval)
            except Exception:
                same = False
            if not same:
                out.extend((key, value))
        return tuple(out)
    except Exception:
        return ()


def _choose_backend(options: Parallel, op: Op, target: Any, serial_reason: str | None) -> str:
    backend = options.backend
    if backend == "serial" or serial_reason is not None:
        return "serial"
    if backend == "auto":
        if options.scheduler is not None:
            backends.require_backend("dask")
            return "dask"
        calls = op.units(target) if op.kind != "groups" else len(target.obj)
        if options.workers == 1 or calls < AUTO_MIN_CALLS:
            return "serial"
        if backends.default_workers() < 2 and options.workers is None:
            return "serial"
        if backends.fork_is_safe():
            return "fork"
        for name in ("loky", "pandarallel"):
            if backends.unavailable_reason(name) is None:
                return name
        return "serial"
    backends.require_backend(backend)
    return backend


@contextmanager
def _client_for(chosen: str, options: Parallel) -> Iterator[Any]:
    if chosen != "dask":
        yield None
        return
    with backends.dask_client(options.scheduler) as client:
        yield client


@contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A transient rich bar over rows on stderr, only when stderr is a terminal.

    None with NO_COLOR or TERM=dumb: a bar is redrawn with escape codes.
    """
    from mltools.terminal import console, rich_stderr

    if not (enabled and rich_stderr()):
        yield lambda n: None
        return

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("parallel_apply"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("apply", total=total)
        yield lambda n: bar.advance(task, n)
