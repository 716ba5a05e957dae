"""How one pandas apply is split into chunks, run on a chunk, and put back together.

The trick that keeps results identical to pandas: workers run pandas' own
apply on their chunk with a *recording* function that stores what ``func``
returned for each call (in call order) and hands pandas ``None``. The parent
then runs pandas' apply once more on the whole object with a *replay* function
that returns the recorded values in the same order, so pandas itself builds
the result (index, column order, dtype inference, Series vs DataFrame). Chunks
are cut so that the concatenated call order equals the call order on the whole
object: contiguous rows for ``Series.apply/map`` and ``DataFrame.apply(axis=1)``,
contiguous columns for ``DataFrame.apply(axis=0)`` and ``DataFrame.map``, and
whole groups (in group order) for ``groupby(...).apply``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["series", "rows", "columns", "cells", "groups"]


class Bound:
    """``func`` with its extra positional and keyword arguments bound (picklable)."""

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self, x: Any) -> Any:
        return self.func(x, *self.args, **self.kwargs)


def show(label: Any) -> str:
    """``repr`` of an index label, numpy scalars as plain Python values (``12``, not ``np.int64(12)``)."""
    item = getattr(label, "item", None)
    if callable(item) and type(label).__module__ == "numpy":
        label = item()
    return repr(label)


def mark(exc: BaseException, where: str) -> None:
    """Attach where ``func`` raised to ``exc`` (an attribute and a traceback note)."""
    if getattr(exc, "mltools_location", None) is not None:
        return
    exc.mltools_location = where  # type: ignore[attr-defined]
    note = f"parallel_apply: raised by the function at {where}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10: keep the note where 3.11's traceback would look for it
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]


def failure_location(exc: BaseException) -> str | None:
    """Where the user's function raised (``"row label 3"``, ``"group 'a'"``), if known."""
    return getattr(exc, "mltools_location", None)


@dataclass(frozen=True)
class GroupSpec:
    """What is needed to rebuild ``obj.groupby(...)`` on a chunk of ``obj``."""

    keys: Any
    level: Any
    options: dict[str, Any]
    selection: Any

    def rebuild(self, obj: Any) -> Any:
        gb = obj.groupby(self.keys, level=self.level, **self.options)
        return gb if self.selection is None else gb[self.selection]


@dataclass(frozen=True)
class Op:
    """One pandas call: which method, on what kind of object, with which options."""

    kind: Kind
    method: Literal["apply", "map"] = "apply"
    raw: bool = False
    result_type: str | None = None
    na_action: str | None = None
    group_spec: GroupSpec | None = None
    apply_options: dict[str, Any] = field(default_factory=dict)

    # -- running pandas ---------------------------------------------------------------------
    def call(self, obj: Any, f: Callable[[Any], Any]) -> Any:
        """Run the pandas method on ``obj`` (a whole object, a chunk, or a GroupBy) with ``f``."""
        if self.kind == "series":
            if self.method == "map":
                return obj.map(f, na_action=self.na_action)
            return obj.apply(f)
        if self.kind in ("rows", "columns"):
            axis = 1 if self.kind == "rows" else 0
            return obj.apply(f, axis=axis, raw=self.raw, result_type=self.result_type)
        if self.kind == "cells":
            return obj.map(f, na_action=self.na_action)
        # a GroupBy as given (serial, replay), or a chunk of its rows to group again (workers)
        gb = (
            obj
            if self.group_spec is None or hasattr(obj, "ngroups")
            else self.group_spec.rebuild(obj)
        )
        return gb.apply(f, **self.apply_options)

    def describe(self, x: Any, k: int, chunk: Any) -> str:
        """Name the ``k``-th call on ``chunk`` (argument ``x``) for an error message."""
        name = getattr(x, "name", None) if self.kind != "series" else None
        if self.kind == "series":
            if str(chunk.dtype) == "category":  # pandas calls once per category
                return f"category {show(x)}"
            positions = _called_positions(chunk, self.method, self.na_action)
            if k < len(positions):
                return f"row label {show(chunk.index[positions[k]])}"
            return f"value {show(x)}"
        if self.kind == "rows":
            label = name if not self.raw else chunk.index[k]
            return f"row label {show(label)}"
        if self.kind == "columns":
            label = name if not self.raw else chunk.columns[k]
            return f"column {show(label)}"
        if self.kind == "cells":
            return f"value {show(x)}"
        return f"group {show(name)}"

    # -- splitting --------------------------------------------------------------------------
    def units(self, obj: Any) -> int:
        """How many calls (roughly) the apply makes: rows, columns, cells or groups."""
        if self.kind in ("series", "rows"):
            return len(obj)
        if self.kind == "columns":
            return obj.shape[1]
        if self.kind == "cells":
            return obj.shape[0] * obj.shape[1]
        return int(obj.ngroups)

    def split(self, obj: Any, n_chunks: int) -> list[tuple[Any, int]]:
        """Cut ``obj`` into at most ``n_chunks`` pieces whose call orders concatenate in order.

        Returns ``(chunk, weight)`` pairs; weight counts rows for the progress bar.
        """
        import numpy as np

        if self.kind in ("series", "rows"):
            bounds = _bounds(len(obj), n_chunks)
            return [(obj.iloc[a:b], b - a) for a, b in itertools.pairwise(bounds) if b > a]
        if self.kind in ("columns", "cells"):
            bounds = _bounds(obj.shape[1], n_chunks)
            rows = obj.shape[0]
            return [
                (obj.iloc[:, a:b], (b - a) * rows) for a, b in itertools.pairwise(bounds) if b > a
            ]
        # groups: whole groups, in group order, balanced by rows
        assert self.group_spec is not None
        base = obj.obj
        ids = np.asarray(obj.ngroup(), dtype="float64")
        ids = np.where(np.isnan(ids), -1, ids).astype("int64")
        sizes = np.bincount(ids[ids >= 0], minlength=int(obj.ngroups))
        cum = np.cumsum(sizes)
        total = int(cum[-1]) if len(cum) else 0
        edges = [0]
        for j in range(1, n_chunks):
            edge = int(np.searchsorted(cum, total * j / n_chunks, side="left")) + 1
            if edge > edges[-1] and edge < len(sizes):
                edges.append(edge)
        edges.append(len(sizes))
        chunks = []
        for lo, hi in itertools.pairwise(edges):
            rows = (ids >= lo) & (ids < hi)
            chunks.append((base[rows], int(sizes[lo:hi].sum())))
        return chunks

    # -- replaying --------------------------------------------------------------------------
    def replay(self, obj: Any, values: list[Any]) -> Any:
        """Let pandas build the result of the apply on ``obj`` from the recorded ``values``."""
        import numpy as np
        import pandas as pd

        if (
            self.kind == "rows"
            and not self.raw
            and self.result_type is None
            and type(obj) is pd.DataFrame
            and values
            and not _is_sequence(values[0])
        ):
            # pandas' own path for scalar results (apply.FrameApply.wrap_results):
            # a Series from the dict of results, re-indexed like the frame. Doing it
            # directly skips building a row Series per row a second time.
            result = pd.Series(dict(enumerate(values)))
            result.index = obj.index
            return result.__finalize__(obj, method="apply")
        if (
            self.kind == "rows"
            and not self.raw
            and self.result_type != "broadcast"
            and type(obj) is pd.DataFrame
        ):
            # pandas builds a row-wise result from the results and the index alone
            # (wrap_results / infer_to_same_shape), so replay over a one-column frame
            # with the same index: no second pass of row Series over wide or mixed data.
            stand_in = pd.DataFrame({"_": np.zeros(len(obj), dtype="int8")}, index=obj.index)
            stand_in.attrs = obj.attrs
            stand_in.flags.allows_duplicate_labels = obj.flags.allows_duplicate_labels
            obj = stand_in
        feed = _Feed(values)
        result = self.call(obj, feed)
        feed.check_done()
        return result


class _Feed:
    """Hands recorded results back to pandas, one per call, in order."""

    def __init__(self, values: list[Any]) -> None:
        self._values: Iterator[Any] = iter(values)
        self._n = len(values)
        self._used = 0

    def __call__(self, _x: Any) -> Any:
        self._used += 1
        try:
            return next(self._values)
        except StopIteration:
            raise RuntimeError(
                f"parallel_apply: pandas made more calls than the workers recorded ({self._n})"
            ) from None

    def check_done(self) -> None:
        if self._used != self._n:
            raise RuntimeError(
                f"parallel_apply: pandas made {self._used} calls, the workers recorded {self._n}"
            )


@dataclass
class Task:
    """One chunk of work for a worker: run ``op`` on ``chunk`` with ``func``, record results."""

    op: Op
    func: Callable[[Any], Any]
    chunk: Any


def run_task(task: Task) -> list[Any]:
    """Worker side: the values ``func`` returned on ``task.chunk``, in pandas' call order."""
    import pandas as pd

    op, func, chunk = task.op, task.func, task.chunk
    recorded: list[Any] = []

    def record(x: Any) -> None:
        try:
            value = func(x)
        except Exception as exc:
            mark(exc, op.describe(x, len(recorded), chunk))
            raise
        # pandas re-uses one row Series for every row; keep what it held at this call
        recorded.append(value.copy(deep=False) if isinstance(value, pd.Series) else value)

    op.call(chunk, record)
    return recorded


def run_whole(op: Op, obj: Any, func: Callable[[Any], Any]) -> Any:
    """Serial: pandas' own apply on ``obj``, with errors labelled like the parallel path."""
    calls = 0
    target = obj.obj if op.kind == "groups" else obj

    def labelled(x: Any) -> Any:
        nonlocal calls
        try:
            return func(x)
        except Exception as exc:
            mark(exc, op.describe(x, calls, target))
            raise
        finally:
            calls += 1

    return op.call(obj, labelled)


# -- helpers ------------------------------------------------------------------------------------
def _bounds(n: int, parts: int) -> list[int]:
    parts = max(1, min(parts, n))
    return [round(n * j / parts) for j in range(parts + 1)]


def _called_positions(chunk: Any, method: str, na_action: str | None) -> Any:
    import numpy as np

    if method == "map" and na_action == "ignore":
        return np.flatnonzero(chunk.notna().to_numpy())
    return np.arange(len(chunk))


def _is_sequence(obj: Any) -> bool:
    """pandas' ``is_sequence``: iterable and sized, but not a string."""
    try:
        iter(obj)
        len(obj)
    except (TypeError, AttributeError):
        return False
    return not isinstance(obj, (str, bytes))


def group_spec_for(gb: Any) -> tuple[GroupSpec | None, str | None]:
    """A ``GroupSpec`` that rebuilds ``gb`` on chunks of ``gb.obj``, or why there is none."""
    import pandas as pd

    obj = gb.obj
    keys, level = gb.keys, gb.level
    key_list = keys if isinstance(keys, list) else [keys]
    if keys is not None:
        for key in key_list:
            if not isinstance(key, Hashable) or isinstance(key, (pd.Grouper, tuple)):
                return None, "grouping by arrays, functions or Grouper objects"
            in_columns = isinstance(obj, pd.DataFrame) and key in obj.columns
            if not in_columns and key not in obj.index.names:
                return None, "grouping keys that are not columns or index levels of the object"
    options = {
        name: getattr(gb, name)
        for name in ("sort", "group_keys", "dropna", "observed", "as_index")
        if hasattr(gb, name)
    }
    if isinstance(obj, pd.Series):
        options.pop("as_index", None)
    if options.get("observed") is False and isinstance(obj, pd.DataFrame):
        for key in key_list:
            if (
                key is not None
                and key in obj.columns
                and isinstance(obj[key].dtype, pd.CategoricalDtype)
            ):
                return None, "categorical keys with observed=False"
    spec = GroupSpec(keys, level, options, getattr(gb, "_selection", None))
    try:
        rebuilt = spec.rebuild(obj)
        same = rebuilt.ngroups == gb.ngroups and type(rebuilt) is type(gb)
    except Exception:
        same = False
    if not same:
        return None, "a groupby that cannot be rebuilt on chunks"
    return spec, None
