"""Frames, functions and comparisons shared by the parallel_apply tests."""

from __future__ import annotations

import os
import signal
import zlib
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

# -- generated frames -----------------------------------------------------------------------


def _column(draw: Any, kind: str, n: int) -> pd.Series:
    if kind == "int":
        return pd.Series(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)), dtype="int64")
    if kind == "float":
        values = st.one_of(st.floats(-10, 10, allow_nan=False), st.just(float("nan")))
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype="float64")
    if kind == "str":
        return pd.Series(draw(st.lists(st.text("abc", max_size=3), min_size=n, max_size=n)))
    if kind == "cat":
        values = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(values, categories=["x", "y", "z", "w"]))
    if kind == "dt":
        secs = draw(st.lists(st.one_of(st.integers(0, 10**6), st.none()), min_size=n, max_size=n))
        return pd.Series(pd.to_datetime(secs, unit="s"))
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    values = st.one_of(st.integers(0, 3), st.text("xy", max_size=2), st.none())
    return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object)


KINDS = ["int", "float", "str", "cat", "dt", "bool", "obj"]


def _index(draw: Any, n: int) -> pd.Index:
    style = draw(st.sampled_from(["range", "dup", "str", "shifted"]))
    if style == "range":
        return pd.RangeIndex(n)
    if style == "dup":
        return pd.Index(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype="int64")
    if style == "str":
        return pd.Index([f"r{i}" for i in range(n)][::-1])
    return pd.Index(np.arange(n, dtype="int64") * 3 + 100)


@st.composite
def frames(draw: Any, max_rows: int = 14, kinds: list[str] | None = None) -> pd.DataFrame:
    n = draw(st.integers(0, max_rows))
    chosen = draw(st.lists(st.sampled_from(kinds or KINDS), min_size=1, max_size=4))
    data = {f"c{i}_{kind}": _column(draw, kind, n).to_numpy() for i, kind in enumerate(chosen)}
    df = pd.DataFrame(
        {name: _column_from(values, kind) for (name, values), kind in zip(data.items(), chosen)}
    )
    df.index = _index(draw, n)
    return df


def _column_from(values: Any, kind: str) -> Any:
    if kind == "cat":
        return pd.Categorical(values, categories=["x", "y", "z", "w"])
    return values


@st.composite
def series(draw: Any, max_rows: int = 20) -> pd.Series:
    n = draw(st.integers(0, max_rows))
    kind = draw(st.sampled_from(KINDS))
    s = _column(draw, kind, n)
    s.index = _index(draw, n)
    s.name = draw(st.sampled_from([None, "v"]))
    return s


@st.composite
def grouped(draw: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    df = draw(frames(max_rows=16, kinds=["int", "float", "str", "dt"]))
    n = len(df)
    keys = st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.none())
    df["k"] = pd.Series(draw(st.lists(keys, min_size=n, max_size=n)), index=df.index, dtype=object)
    options = {"sort": draw(st.booleans()), "dropna": draw(st.booleans())}
    return df, options


# -- functions (module level: picklable by reference in worker processes) ----------------------


def _code(x: Any) -> int:
    return zlib.crc32(repr(x).encode())


def row_scalar(r: pd.Series) -> int:
    return _code(list(r)) % 7


def row_maybe_none(r: pd.Series) -> Any:
    c = _code(list(r))
    return None if c % 3 == 0 else (c % 5) / 2


def row_series(r: pd.Series) -> pd.Series:
    return pd.Series({"n": len(r), "first": str(r.iloc[0])})


def row_series_varying(r: pd.Series) -> pd.Series:
    c = _code(list(r))
    return pd.Series({f"k{c % 3}": c % 11, "n": len(r)})


def row_dict(r: pd.Series) -> dict[str, Any]:
    return {"name": str(r.name), "n": len(r)}


def row_self(r: pd.Series) -> pd.Series:
    return r


def row_list(r: pd.Series) -> list[int]:
    return [len(r), _code(list(r)) % 3]


ROW_FUNCS = [
    row_scalar,
    row_maybe_none,
    row_series,
    row_series_varying,
    row_dict,
    row_self,
    row_list,
]


def col_len_sum(c: pd.Series) -> int:
    return int(c.astype(str).str.len().sum())


def col_head(c: pd.Series) -> pd.Series:
    return c.head(2)


def col_self(c: pd.Series) -> pd.Series:
    return c


def col_nulls(c: pd.Series) -> dict[str, int]:
    return {"nulls": int(c.isna().sum())}


COL_FUNCS = [col_len_sum, col_head, col_self, col_nulls]


def val_str(v: Any) -> str:
    return str(v)


def val_identity(v: Any) -> Any:
    return v


def val_code(v: Any) -> Any:
    c = _code(v)
    return None if c % 4 == 0 else c % 9


def val_series(v: Any) -> pd.Series:
    return pd.Series({"s": str(v), "n": _code(v) % 5})


VAL_FUNCS = [val_str, val_identity, val_code, val_series]


def group_len(g: Any) -> int:
    return len(g)


def group_head(g: Any) -> Any:
    return g.head(1)


def group_stats(g: Any) -> pd.Series:
    return pd.Series({"n": len(g), "code": _code(list(g.index)) % 13})


def group_self(g: Any) -> Any:
    return g


GROUP_FUNCS = [group_len, group_head, group_stats, group_self]


def raise_on_label(x: Any, label: Any) -> int:
    if x.name == label:
        raise ValueError(f"bad row {label}")
    return 1


def kill_self_on(x: Any, label: Any) -> int:
    if x.name == label:
        os.kill(os.getpid(), signal.SIGKILL)
    return 1


# -- comparing ----------------------------------------------------------------------------------


def outcome(call: Any) -> tuple[str, Any]:
    """('ok', result) or ('error', (type, message)) of ``call()``."""
    try:
        return "ok", call()
    except Exception as exc:
        return "error", (type(exc), str(exc))


def assert_same(got: tuple[str, Any], expected: tuple[str, Any]) -> None:
    assert got[0] == expected[0], (got, expected)
    if got[0] == "error":
        assert got[1] == expected[1]
        return
    a, b = got[1], expected[1]
    assert type(a) is type(b)
    if isinstance(b, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(b, pd.Series) and _holds_pandas_objects(b):
        # pandas' own asserter fails even on s.map(f) against itself when the object
        # values are Series next to NaT (it indexes the inner Series positionally):
        # compare the outer Series' labels, then each value with this function.
        pd.testing.assert_index_equal(a.index, b.index, exact=True)
        assert (a.dtype, a.name) == (b.dtype, b.name)
        for x, y in zip(a, b, strict=True):
            assert_same(("ok", x), ("ok", y))
    elif isinstance(b, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    elif pd.api.types.is_scalar(b) and pd.isna(b):
        assert pd.isna(a)
    else:
        assert a == b


def _holds_pandas_objects(s: pd.Series) -> bool:
    return s.dtype == object and any(isinstance(v, (pd.Series, pd.DataFrame)) for v in s)
