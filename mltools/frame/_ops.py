"""How one pandas apply is split into chunks, run on a chunk, and put back together.

The trick that keeps results identical to pandas: workers run pandas' own
apply on their chunk with a *recording* function that stores what ``func``
returned (or raised) for each call, in call order, and hands it to pandas. The
parent then runs pandas' apply once more on the whole object with a *replay*
function that returns the recorded values in the same order (raising where
``func`` raised, re-emitting the warnings ``func`` gave), so pandas itself
builds the result (index, column order, dtype inference, Series vs DataFrame)
and raises what it would raise. Chunks are cut so that the concatenated call
order equals the call order on the whole object: contiguous rows for
``Series.apply/map`` and ``DataFrame.apply(axis=1)``, contiguous columns for
``DataFrame.apply(axis=0)`` and ``DataFrame.map``, and whole groups (in group
order) for ``groupby(...).apply``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mltools.frame._carry import Carried, ChunkResult, Raised, Warned, encode

Kind = Literal["series", "rows", "columns", "cells", "groups"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def show(label: Any) -> str:
    """``repr`` of an index label, numpy scalars as plain Python values (``12``, not ``np.int64(12)``)."""
    item = getattr(label, "item", None)
    if callable(item) and type(label).__module__ == "numpy":
        with suppress(Exception):
            label = item()
    try:
        return repr(label)
    except Exception:
        return f"<{type(label).__name__}>"


def mark(exc: BaseException, where: str) -> None:
    """Attach where ``func`` raised to ``exc`` (an attribute and a traceback note)."""
    if getattr(exc, "mltools_location", None) is not None:
        return
    try:
        exc.mltools_location = where  # type: ignore[attr-defined]
    except Exception:  # an exception class with __slots__
        return
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
    """One pandas call: which method on what kind of object, with the arguments as given.

    ``pos`` and ``kw`` are passed to the pandas method after the function,
    exactly as the caller gave them (pandas' own options and ``func``'s extra
    arguments alike), so pandas parses them as it always does.
    """

    kind: Kind
    method: Literal["apply", "map"] = "apply"
    pos: tuple[Any, ...] = ()
    kw: dict[str, Any] = field(default_factory=dict)
    raw: bool = False
    result_type: str | None = None
    na_action: str | None = None
    group_spec: GroupSpec | None = None
    raw_dtype: Any = None  # raw=True by columns: the dtype of the whole frame's .values
    pandas_options: tuple[Any, ...] = ()  # (key, value, ...) to set in the workers
    errstate: dict[str, str] | None = None  # the caller's numpy error handling

    # -- running pandas ---------------------------------------------------------------------
    def call(self, obj: Any, f: Callable[..., Any]) -> Any:
        """Run the pandas method on ``obj`` (a whole object, a chunk, or a GroupBy) with ``f``."""
        if self.kind == "groups":
            gb = (
                obj
                if self.group_spec is None or hasattr(obj, "ngroups")
                else self.group_spec.rebuild(obj)
            )
            return gb.apply(f, *self.pos, **self.kw)
        return getattr(obj, self.method)(f, *self.pos, **self.kw)

    def describe(self, x: Any, k: int, chunk: Any) -> str:
        """Name the ``k``-th call on ``chunk`` (argument ``x``) for an error message."""
        if self.kind == "series":
            if str(getattr(chunk, "dtype", "")) == "category":  # pandas calls once per category
                return f"category {show(x)}"
            positions = _called_positions(chunk, self.method, self.na_action)
            if k < len(positions):
                return f"row label {show(chunk.index[positions[k]])}"
            return f"value {show(x)}"
        if self.kind == "rows":
            label = getattr(x, "name", None) if not self.raw else _at(chunk.index, k)
            return f"row label {show(label)}"
        if self.kind == "columns":
            label = getattr(x, "name", None) if not self.raw else _at(chunk.columns, k)
            return f"column {show(label)}"
        if self.kind == "cells":
            return f"value {show(x)}"
        return f"group {show(getattr(x, 'name', None))}"

    def describe_call(self, k: int, chunk: Any) -> str:
        """Name the ``k``-th call on ``chunk`` without its argument (for unpicklable results)."""
        if self.kind == "series":
            positions = _called_positions(chunk, self.method, self.na_action)
            if k < len(positions):
                return f"row label {show(chunk.index[positions[k]])}"
        elif self.kind == "rows" and k < len(chunk):
            return f"row label {show(chunk.index[k])}"
        elif self.kind == "columns" and k < chunk.shape[1]:
            return f"column {show(chunk.columns[k])}"
        elif self.kind == "cells" and chunk.shape[0]:
            j = k // chunk.shape[0]
            if j < chunk.shape[1] and self.na_action is None:
                row = chunk.index[k % chunk.shape[0]]
                return f"row label {show(row)}, column {show(chunk.columns[j])}"
        elif self.kind == "groups" and self.group_spec is not None:
            names = list(self.group_spec.rebuild(chunk).groups)
            if k < len(names):
                return f"group {show(names[k])}"
        return f"call {k} of a chunk"

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
            pieces = []
            for a, b in itertools.pairwise(bounds):
                if b <= a:
                    continue
                chunk = obj.iloc[:, a:b]
                if self.raw_dtype is not None and chunk.iloc[:0].values.dtype != self.raw_dtype:
                    # pandas hands func columns of the whole frame's .values (float64 for
                    # ints next to floats): cast the chunk so that its .values match
                    chunk = chunk.astype(self.raw_dtype)
                pieces.append((chunk, (b - a) * rows))
            return pieces
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
    def replay(
        self, obj: Any, values: list[Any], warned: list[Warned], *, clean: bool = False
    ) -> Any:
        """Let pandas build the result of the apply on ``obj`` from the recorded ``values``.

        ``clean``: no call raised (so the shortcuts below need not look for one)."""
        import numpy as np
        import pandas as pd

        plain_rows = (
            self.kind == "rows"
            and not self.raw
            and type(obj) is pd.DataFrame
            and (clean or not any(type(v) is Raised for v in values))
        )
        if (
            plain_rows
            and self.result_type is None
            and not self.pos
            and values
            and not _is_sequence(values[0])
        ):
            # pandas' own path when the first result is not a sequence
            # (apply.FrameApply.wrap_results looks at results[0] only): a Series from
            # the dict of results, re-indexed like the frame. Doing it directly skips
            # building a row Series per row a second time.
            for w in warned:
                emit_warned(w)
            # Series(dict) takes list(dict.values()) (Series._init_dict): the same values
            result = pd.Series(values)
            result.index = obj.index
            return result.__finalize__(obj, method="apply")
        if plain_rows and self.result_type != "broadcast":
            # pandas builds a row-wise result from the results and the index alone
            # (wrap_results / infer_to_same_shape), so replay over a one-column frame
            # with the same index: no second pass of row Series over wide or mixed data.
            stand_in = pd.DataFrame({"_": np.zeros(len(obj), dtype="int8")}, index=obj.index)
            stand_in.attrs = obj.attrs
            stand_in.flags.allows_duplicate_labels = obj.flags.allows_duplicate_labels
            obj = stand_in
        feed = Feed(values, warned)
        result = self.call(obj, feed)
        feed.check_done()
        return result


class FeedMismatch(RuntimeError):
    """pandas made more (or fewer) calls in the caller than the workers recorded."""


class Feed:
    """Hands recorded results back to pandas, one per call, in order."""

    def __init__(self, values: list[Any], warned: list[Warned]) -> None:
        self._values = values
        self._warned = warned
        self._i = 0
        self._w = 0

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        i = self._i
        if i >= len(self._values):
            raise FeedMismatch(
                f"parallel_apply: pandas made more calls than the workers recorded ({i})"
            )
        self._i = i + 1
        warned = self._warned
        while self._w < len(warned) and warned[self._w].call <= i:
            emit_warned(warned[self._w])
            self._w += 1
        value = self._values[i]
        if type(value) is Raised:
            raise value.error.rebuild()
        return value

    def check_done(self) -> None:
        if self._i != len(self._values):
            raise FeedMismatch(
                f"parallel_apply: pandas made {self._i} calls, the workers recorded "
                f"{len(self._values)}"
            )


@dataclass
class Task:
    """One chunk of work for a worker: run ``op`` on ``chunk`` with ``func``, record results."""

    op: Op
    func: Callable[..., Any]
    chunk: Any


def run_task(task: Task) -> bytes:
    """Worker side: what ``func`` returned (or raised) on ``task.chunk``, in pandas' call order.

    Returns an encoded ``ChunkResult``: never raises for the function's
    exceptions or for unpicklable values, so no backend ever has to pickle them.
    """
    import pandas as pd

    op, func, chunk = task.op, task.func, task.chunk
    recorded: list[Any] = []
    warned: list[Warned] = []
    last: list[BaseException | None] = [None]
    recovered = [False]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def record(x: Any, *args: Any, **kwargs: Any) -> Any:
            if last[0] is not None:
                recovered[0] = True
            before = len(caught)
            try:
                value = func(x, *args, **kwargs)
            except Exception as exc:
                _keep_warnings(caught, before, len(recorded), warned)
                mark(exc, op.describe(x, len(recorded), chunk))
                last[0] = exc
                recorded.append(Raised(Carried.of(exc)))
                raise
            if len(caught) != before:
                _keep_warnings(caught, before, len(recorded), warned)
            # pandas re-uses one row Series for every row; keep what it held at this call
            if isinstance(value, pd.Series):
                value = value.copy(deep=False)
            recorded.append(value)
            return value

        _wraps(record, func)
        escaped = None
        try:
            with _caller_settings(op):
                op.call(chunk, record)
        except Exception as exc:
            escaped = recorded[-1].error if exc is last[0] else Carried.of(exc, role="pandas")
    result = ChunkResult(recorded, warned, escaped, recovered[0])
    return encode(result, lambda k: op.describe_call(k, chunk))


@contextmanager
def _caller_settings(op: Op) -> Iterator[None]:
    """The caller's pandas options and numpy error handling, in the worker."""
    import contextlib

    import numpy as np
    import pandas as pd

    with contextlib.ExitStack() as stack:
        if op.pandas_options:
            stack.enter_context(pd.option_context(*op.pandas_options))
        if op.errstate:
            stack.enter_context(np.errstate(**op.errstate))
        yield


def _keep_warnings(caught: list[Any], start: int, call: int, out: list[Warned]) -> None:
    for w in caught[start:]:
        out.append(Warned(call, w.category, str(w.message), str(w.filename), int(w.lineno or 0)))
    del caught[start:]


def _wraps(wrapper: Any, func: Any) -> None:
    """Copy ``__name__`` and friends (pandas names some results after the function)."""
    for attr in ("__name__", "__qualname__", "__doc__"):
        try:
            value = getattr(func, attr)
        except AttributeError:
            continue
        with suppress(TypeError, AttributeError):
            setattr(wrapper, attr, value)


def run_whole(op: Op, obj: Any, func: Callable[..., Any]) -> Any:
    """Serial: pandas' own apply on ``obj``, with errors labelled like the parallel path."""
    calls = 0
    target = obj.obj if op.kind == "groups" else obj

    def labelled(x: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        try:
            return func(x, *args, **kwargs)
        except Exception as exc:
            mark(exc, op.describe(x, calls, target))
            raise
        finally:
            calls += 1

    _wraps(labelled, func)
    return op.call(obj, labelled)


# -- warnings: re-emitted in the caller, pointing at the caller's line ---------------------------
_REGISTRIES: dict[str, dict[Any, Any]] = {}


@dataclass(frozen=True)
class CallSite:
    """The user's line that called parallel_apply (where pandas' warnings should point)."""

    filename: str
    lineno: int
    module: str
    registry: dict[Any, Any]
    skipped: frozenset[str] = frozenset()


def call_site() -> CallSite | None:
    """The first frame outside mltools.frame (and outside wrappers that ask to be skipped)."""
    import sys

    frame = sys._getframe(1)
    skipped = set()
    while frame is not None:
        g = frame.f_globals
        if not (str(g.get("__name__", "")).startswith("mltools.frame") or g.get("_MLTOOLS_SKIP")):
            registry = g.setdefault("__warningregistry__", {})
            return CallSite(
                frame.f_code.co_filename,
                frame.f_lineno,
                g.get("__name__"),
                registry,
                frozenset(skipped),
            )
        skipped.add(frame.f_code.co_filename)
        frame = frame.f_back
    return None


def emit_warned(w: Warned) -> None:
    """Raise again, here, a warning that ``func`` raised in a worker."""
    category = w.category if isinstance(w.category, type) else UserWarning
    registry = _REGISTRIES.setdefault(w.filename, {})
    warnings.warn_explicit(w.message, category, w.filename, w.lineno, registry=registry)


@contextmanager
def warnings_at(site: CallSite | None) -> Iterator[list[Any]]:
    """Collect the warnings raised inside, then raise them again, pandas' own warnings
    pointing at the caller's line (pandas points them at the first frame outside pandas,
    which is mltools' own code here)."""
    caught: list[Any] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught  # the caller may clear it: a pass whose warnings must not count
    finally:
        for w in caught:
            filename, lineno, module, registry = w.filename, w.lineno, None, None
            if site is not None and (
                str(filename).startswith(_PACKAGE_DIR) or filename in site.skipped
            ):
                filename, lineno, module, registry = (
                    site.filename,
                    site.lineno,
                    site.module,
                    site.registry,
                )
            if registry is None:
                registry = _REGISTRIES.setdefault(str(filename), {})
            extra = {"module": module} if module else {}  # module=None drops it (CPython)
            warnings.warn_explicit(
                w.message, w.category, filename, lineno, registry=registry, **extra
            )


# -- helpers ------------------------------------------------------------------------------------
def _at(index: Any, k: int) -> Any:
    return index[k] if k < len(index) else None


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
    if options.get("observed") is not True:
        try:
            groupings = gb._grouper.groupings
            categorical = any(
                isinstance(getattr(g, "_orig_grouper", g.grouping_vector), pd.Categorical)
                or isinstance(getattr(g.grouping_vector, "dtype", None), pd.CategoricalDtype)
                or getattr(g, "_passed_categorical", False)
                for g in groupings
            )
        except Exception:
            categorical = True
        if categorical:
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
