"""parallel_apply equals pandas' own apply/map, for every backend that runs here."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.frame import (
    BackendUnavailableError,
    Parallel,
    WorkerDiedError,
    available_backends,
    failure_location,
    parallel_apply,
    parallel_map,
)
from mltools.frame.apply import which_backend
from tests import _frame_helpers as h
from tests.conftest import mltools_env

PANDARALLEL_REASON = available_backends()["pandarallel"]
BACKENDS = [
    "serial",
    "loky",
    "fork",
    pytest.param(
        "pandarallel",
        marks=pytest.mark.skipif(
            PANDARALLEL_REASON is not None, reason=f"pandarallel: {PANDARALLEL_REASON}"
        ),
    ),
]
PROPERTY = settings(
    max_examples=int(os.environ.get("MLTOOLS_HYPOTHESIS_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def par(backend="loky", workers=2, chunksize=3, **options):
    """parallel_apply's own options; small chunks split even small generated frames."""
    return Parallel(
        backend=backend, workers=workers, chunksize=chunksize, progress=False, **options
    )


def _quiet(call):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()

    return run


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(
    df=h.frames(),
    func=st.sampled_from(h.ROW_FUNCS),
    raw=st.booleans(),
    result_type=st.sampled_from([None, None, "expand", "reduce"]),
)
def test_dataframe_apply_rows_equals_pandas(backend, df, func, raw, result_type):
    if raw and func in (h.row_series, h.row_series_varying, h.row_self, h.row_dict):
        raw = False  # these read .name/.iloc: Series only
    opts = {"axis": 1, "raw": raw, "result_type": result_type}
    expected = h.outcome(_quiet(lambda: df.apply(func, **opts)))
    got = h.outcome(_quiet(lambda: parallel_apply(df, func, **opts, parallel=par(backend))))
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(df=h.frames(), func=st.sampled_from(h.COL_FUNCS))
def test_dataframe_apply_columns_equals_pandas(backend, df, func):
    expected = h.outcome(_quiet(lambda: df.apply(func)))
    got = h.outcome(_quiet(lambda: parallel_apply(df, func, parallel=par(backend))))
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(
    s=h.series(),
    func=st.sampled_from(h.VAL_FUNCS),
    how=st.sampled_from(["apply", "map", "map-ignore"]),
)
def test_series_apply_and_map_equal_pandas(backend, s, func, how):
    if how == "apply":
        expected = h.outcome(_quiet(lambda: s.apply(func)))
        got = h.outcome(_quiet(lambda: parallel_apply(s, func, parallel=par(backend))))
    else:
        na = "ignore" if how == "map-ignore" else None
        expected = h.outcome(_quiet(lambda: s.map(func, na_action=na)))
        got = h.outcome(_quiet(lambda: parallel_map(s, func, na_action=na, parallel=par(backend))))
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(df=h.frames(max_rows=8), func=st.sampled_from([h.val_str, h.val_code]))
def test_dataframe_map_equals_pandas(backend, df, func):
    expected = h.outcome(_quiet(lambda: df.map(func)))
    got = h.outcome(_quiet(lambda: parallel_map(df, func, parallel=par(backend))))
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(data=h.grouped(), func=st.sampled_from(h.GROUP_FUNCS), chunk=st.integers(1, 3))
def test_groupby_apply_equals_pandas(backend, data, func, chunk):
    df, options = data
    gb = df.groupby("k", **options)
    expected = h.outcome(_quiet(lambda: gb.apply(func, include_groups=False)))
    got = h.outcome(
        _quiet(
            lambda: parallel_apply(
                gb,
                func,
                include_groups=False,
                parallel=par(backend, chunksize=chunk),
            )
        )
    )
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_groupby_column_selection_and_level(backend):
    df = pd.DataFrame(
        {"k": list("abcab" * 4), "x": range(20), "y": np.arange(20) / 3},
        index=pd.Index(list(range(10)) * 2, name="i"),
    )
    for gb in (df.groupby("k")[["x"]], df.groupby(level="i"), df.groupby(["k", "i"])):
        expected = gb.apply(h.group_stats)
        got = parallel_apply(gb, h.group_stats, parallel=par(backend))
        pd.testing.assert_frame_equal(got, expected)
    sgb = df.groupby("k")["x"]  # keys outside the Series: runs serially, same result
    got = parallel_apply(sgb, h.group_len, parallel=par(backend))
    pd.testing.assert_series_equal(got, sgb.apply(h.group_len))


@pytest.mark.parametrize("backend", BACKENDS)
def test_extra_args_kwargs_and_result_types(backend):
    df = pd.DataFrame({"a": range(30), "b": np.arange(30) * 0.5})

    def affine(r, scale, shift=0):
        return r["a"] * scale + shift

    def pair(r):
        return [r["a"], r["b"]]

    pd.testing.assert_series_equal(
        parallel_apply(df, affine, axis=1, args=(3,), shift=1, parallel=par(backend)),
        df.apply(affine, axis=1, args=(3,), shift=1),
    )
    for result_type in ("expand", "reduce", "broadcast"):
        expected = df.apply(pair, axis=1, result_type=result_type)
        got = parallel_apply(df, pair, axis=1, result_type=result_type, parallel=par(backend))
        assert type(got) is type(expected)
        (
            pd.testing.assert_frame_equal
            if isinstance(expected, pd.DataFrame)
            else pd.testing.assert_series_equal
        )(got, expected)


def test_duplicate_columns_and_attrs_are_kept():
    df = pd.DataFrame(np.arange(12).reshape(4, 3), columns=["a", "a", "b"])
    df.attrs["source"] = "test"
    for axis in (0, 1):
        got = parallel_apply(df, h.row_scalar, axis=axis, parallel=par())
        expected = df.apply(h.row_scalar, axis=axis)
        pd.testing.assert_series_equal(got, expected)
        assert got.attrs == expected.attrs


def test_empty_inputs_equal_pandas():
    cases = [
        (pd.DataFrame(), {"axis": 1}),
        (pd.DataFrame(columns=["a", "b"]), {"axis": 1}),
        (pd.DataFrame(index=[1, 2]), {"axis": 1}),
        (pd.DataFrame(columns=["a"]), {"axis": 0}),
        (pd.Series([], dtype="float64"), {}),
        (pd.Series([], dtype="float64"), {"method": "map"}),
    ]
    for obj, kw in cases:
        for backend in ("auto", "loky"):
            expected = h.outcome(lambda obj=obj, kw=kw: _pandas(obj, h.val_str, **kw))
            got = h.outcome(
                lambda obj=obj, kw=kw, b=backend: _ours(obj, h.val_str, parallel=par(b), **kw)
            )
            h.assert_same(got, expected)


def _ours(obj, func, method="apply", **kw):
    return (parallel_map if method == "map" else parallel_apply)(obj, func, **kw)


def _pandas(obj, func, axis=0, method="apply"):
    if method == "map":
        return obj.map(func)
    return obj.apply(func, axis=axis) if isinstance(obj, pd.DataFrame) else obj.apply(func)


def test_categorical_series_maps_categories_like_pandas():
    s = pd.Series(pd.Categorical(list("abcab" * 2000)))
    for method in ("apply", "map"):
        expected = getattr(s, method)(str.upper)
        got = _ours(s, str.upper, method=method, parallel=Parallel(workers=2))
        pd.testing.assert_series_equal(got, expected)
        assert isinstance(got.dtype, pd.CategoricalDtype)


def test_ufunc_on_series_is_vectorised_like_pandas():
    s = pd.Series(np.arange(10.0))
    pd.testing.assert_series_equal(parallel_apply(s, np.sqrt, parallel=par()), s.apply(np.sqrt))


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_keeps_type_message_and_names_the_row(backend):
    df = pd.DataFrame({"a": range(40)}, index=[f"r{i}" for i in range(40)])
    with pytest.raises(ValueError, match="bad row r17") as info:
        parallel_apply(df, h.raise_on_label, axis=1, label="r17", parallel=par(backend))
    assert failure_location(info.value) == "row label 'r17'"
    assert "row label 'r17'" in "".join(getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_groups_have_their_name(backend):
    df = pd.DataFrame({"k": list("aabbc") * 3, "x": range(15)})
    gb = df.groupby("k")
    got = parallel_apply(gb, lambda g: g.name * len(g), parallel=par(backend, chunksize=1))
    pd.testing.assert_series_equal(got, gb.apply(lambda g: g.name * len(g)))


def test_exception_names_the_group_and_the_value():
    df = pd.DataFrame({"k": list("aabbc") * 3, "x": range(15)})

    def bad_group(g):
        if g.name == "b":
            raise KeyError("no b")
        return 1

    with pytest.raises(KeyError) as info:
        parallel_apply(df.groupby("k"), bad_group, parallel=par())
    assert failure_location(info.value) == "group 'b'"

    s = pd.Series([1, 2, 0, 4], index=[10, 11, 12, 13])
    with pytest.raises(ZeroDivisionError) as info:
        parallel_apply(s, lambda v: 1 / v, parallel=par(chunksize=1))
    assert failure_location(info.value) == "row label 12"


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_killed_worker_raises_a_clear_error(backend):
    df = pd.DataFrame({"a": range(40)})
    with pytest.raises(WorkerDiedError, match=r"worker process died") as info:
        parallel_apply(df, h.kill_self_on, axis=1, label=25, parallel=par(backend))
    assert "memory" in info.value.hint
    # the pool recovers for the next call
    got = parallel_apply(df, h.row_scalar, axis=1, parallel=par())
    pd.testing.assert_series_equal(got, df.apply(h.row_scalar, axis=1))


def test_auto_backend_is_serial_for_small_inputs():
    small = pd.DataFrame({"a": range(1000)})
    assert which_backend(small, axis=1) == "serial"
    assert which_backend(small, axis=1, parallel={"workers": 1}) == "serial"
    big = pd.DataFrame({"a": range(20_000)})
    assert which_backend(big, axis=1, parallel={"workers": 2}) == "loky"
    assert which_backend(big, axis=1, parallel={"workers": 1}) == "serial"


def test_bad_arguments_raise_what_pandas_raises():
    df = pd.DataFrame({"a": [1, 2]})
    for bad in ({"axis": 2}, {"axis": "rows2"}, {"result_type": "wide"}, {"raw": True, "axis": 7}):
        expected = h.outcome(lambda bad=bad: df.apply(len, **bad))
        got = h.outcome(lambda bad=bad: parallel_apply(df, len, **bad, parallel=par()))
        assert expected[0] == "error"
        h.assert_same(got, expected)
    s = df["a"]
    expected = h.outcome(lambda: s.map(str, na_action="always"))
    h.assert_same(
        h.outcome(lambda: parallel_map(s, str, na_action="always", parallel=par())), expected
    )
    expected = h.outcome(lambda: df.apply(len, nonsense=1))  # goes to func, which refuses it
    h.assert_same(h.outcome(lambda: parallel_apply(df, len, nonsense=1, parallel=par())), expected)
    with pytest.raises(ValueError, match="unknown backend"):
        Parallel(backend="spark")
    with pytest.raises(ValueError, match="workers"):
        Parallel(workers=0)
    with pytest.raises(TypeError, match="parallel="):
        parallel_apply(df, len, parallel=3)
    with pytest.raises(TypeError, match="Series, DataFrame or groupby"):
        parallel_apply([1, 2], len)


def test_what_cannot_be_split_goes_to_pandas_as_it_is():
    df = pd.DataFrame({"a": range(6), "b": np.arange(6) * 0.5})
    s = df["a"]
    cases = [
        (lambda: df.apply("sum"), lambda: parallel_apply(df, "sum", parallel=par())),
        (
            lambda: df.apply(["sum", "max"]),
            lambda: parallel_apply(df, ["sum", "max"], parallel=par()),
        ),
        (
            lambda: s.map({0: "x", 3: "y"}),
            lambda: parallel_map(s, {0: "x", 3: "y"}, parallel=par()),
        ),
        (
            lambda: s.apply(len, by_row=False),
            lambda: parallel_apply(s, len, by_row=False, parallel=par()),
        ),
        (lambda: df.apply(np.sqrt), lambda: parallel_apply(df, np.sqrt, parallel=par())),
    ]
    for expected, got in cases:
        h.assert_same(h.outcome(got), h.outcome(expected))


def test_func_keywords_are_never_swallowed():
    df = pd.DataFrame({"g": [1, 1, 2, 2, 3, 3], "x": range(6)})

    def f(r, workers, backend="b", chunksize=None):
        return (r["x"], workers, backend, chunksize)

    got = parallel_apply(df, f, axis=1, workers=5, backend="x", chunksize=3, parallel=par())
    pd.testing.assert_series_equal(got, df.apply(f, axis=1, workers=5, backend="x", chunksize=3))
    gb = df.groupby("g")[["x"]]
    # groupby.apply has no axis: pandas hands axis=0 to func (np.sum here)
    pd.testing.assert_frame_equal(
        parallel_apply(gb, np.sum, axis=0, parallel=par(chunksize=1)), gb.apply(np.sum, axis=0)
    )


def test_raw_columns_get_the_dtype_pandas_gives():
    df = pd.DataFrame({"i": [1, 2, 3], "f": [0.5, 1.5, 2.5], "j": [4, 5, 6]})
    got = parallel_apply(df, lambda v: str(v.dtype), raw=True, parallel=par(chunksize=1))
    pd.testing.assert_series_equal(got, df.apply(lambda v: str(v.dtype), raw=True))
    assert set(got) == {"float64"}


def test_broadcast_sparse_and_unobserved_categories_equal_pandas():
    df = pd.DataFrame({"a": list("xyzxyz"), "b": range(6)})
    pick = lambda r: [r.iloc[1], r.iloc[1]]  # noqa: E731
    expected = df.apply(pick, axis=1, result_type="broadcast")
    pd.testing.assert_frame_equal(
        parallel_apply(df, pick, axis=1, result_type="broadcast", parallel=par(chunksize=2)),
        expected,
    )
    sparse = pd.Series(pd.arrays.SparseArray([0, 0, 1, 0, 2, 0]))
    pd.testing.assert_series_equal(
        parallel_map(sparse, lambda v: v * 2, parallel=par(chunksize=2)),
        sparse.map(lambda v: v * 2),
    )
    idx = pd.CategoricalIndex(list("aab"), categories=list("abc"), name="k")
    frame = pd.DataFrame({"v": [1, 2, 3]}, index=idx)
    gb = frame.groupby(level="k", observed=False)
    pd.testing.assert_series_equal(
        parallel_apply(gb, lambda g: g["v"].sum(), parallel=par(chunksize=1)),
        gb.apply(lambda g: g["v"].sum()),
    )


class TwoArgError(Exception):
    def __init__(self, code, detail):
        super().__init__(f"code {code}: {detail}")
        self.code = code


def raise_two_arg(r):
    if r["a"] == 7:
        raise TwoArgError(7, "seven")
    return r["a"]


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_an_exception_that_does_not_unpickle_comes_back_faithfully(backend):
    df = pd.DataFrame({"a": range(20)}, index=[f"r{i}" for i in range(20)])
    with pytest.raises(TwoArgError, match="code 7: seven") as info:
        parallel_apply(df, raise_two_arg, axis=1, parallel=par(backend))
    assert failure_location(info.value) == "row label 'r7'"
    assert info.value.code == 7

    def local_class_raises(r):
        class Local(KeyError):
            def __init__(self, a, b):
                super().__init__(a)

        if r["a"] == 3:
            raise Local("missing", 2)
        return 1

    with pytest.raises(KeyError) as info:
        parallel_apply(df, local_class_raises, axis=1, parallel=par(backend))
    assert type(info.value).__name__ == "Local"
    assert str(info.value) == "'missing'"
    assert failure_location(info.value) == "row label 'r3'"


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_an_unpicklable_result_is_a_one_line_error_naming_the_row(backend):
    import threading

    df = pd.DataFrame({"a": range(12)}, index=[f"r{i}" for i in range(12)])
    with pytest.raises(TypeError, match=r"cannot be sent back.*row label 'r4'") as info:
        parallel_apply(
            df, lambda r: threading.Lock() if r["a"] == 4 else 1, axis=1, parallel=par(backend)
        )
    assert "\n" not in str(info.value)


# The worker processes each backend runs the function in (multiprocessing's process name):
# a backend that quietly fell back to another would still give pandas' answer. The fork
# backend's pool (mltools._forkpool) forks the interpreter itself, so its workers keep the
# parent's name; their pids (never the parent's) tell them from the serial backend.
WORKER_NAMES = {"serial": "MainProcess", "loky": "LokyProcess", "fork": "MainProcess"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_runs_the_function_in_its_own_workers(backend):
    import multiprocessing

    main = os.getpid()
    s = pd.Series(range(24))
    got = parallel_map(
        s, lambda v: (multiprocessing.current_process().name, os.getpid()), parallel=par(backend)
    )
    names = {name.rstrip("0123456789-") for name, _ in got}
    pids = {pid for _, pid in got}
    if backend == "serial":
        assert (names, pids) == ({"MainProcess"}, {main})
    elif backend == "pandarallel":
        assert main not in pids and "LokyProcess" not in names
    else:
        assert names == {WORKER_NAMES[backend]}
        assert main not in pids


def test_warnings_options_and_errstate_reach_like_in_pandas():
    s = pd.Series([1.0, -1.0, 4.0] * 4)

    def warn(v):
        warnings.warn(f"saw {v}", UserWarning, stacklevel=1)
        return v

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_map(s, warn, parallel=par())
    assert [str(w.message) for w in caught] == [f"saw {v}" for v in s]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_map(s, np.sqrt, parallel=par())  # no RuntimeWarning: the caller ignores them
    with pd.option_context("display.max_rows", 7):
        got = parallel_map(s, lambda v: pd.get_option("display.max_rows"), parallel=par())
    assert set(got) == {7}


@pytest.mark.skipif(PANDARALLEL_REASON is None, reason="pandarallel works here")
def test_pandarallel_backend_reports_why_it_is_unavailable():
    df = pd.DataFrame({"a": range(10)})
    with pytest.raises(BackendUnavailableError, match="pandarallel") as info:
        parallel_apply(df, len, axis=1, parallel=par("pandarallel"))
    assert "loky" in info.value.hint
    # auto never picks it
    big = pd.DataFrame({"a": range(20_000)})
    assert which_backend(big, axis=1, parallel={"workers": 2}) == "loky"


def test_import_is_cheap():
    code = (
        "import sys, mltools.frame, mltools.cli.apply;"
        "print(sorted({'pandas','numpy','joblib','dask','rich'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stdout.strip() == "[]", out.stderr


SMALL_SHM_SCRIPT = r"""
import os, sys
import numpy as np, pandas as pd
from mltools import parallel_apply
shm = os.statvfs("/dev/shm")
assert shm.f_blocks * shm.f_frsize == 64 * 2**20, "not a 64 MiB /dev/shm"
df = pd.DataFrame(np.random.default_rng(0).random((1_000_000, 12)))  # 96 MB
got = parallel_apply(df, lambda c: float(np.sort(c.to_numpy())[-3]),
                     parallel=dict(backend="loky", workers=2, progress=False))
pd.testing.assert_series_equal(got, df.apply(lambda c: float(np.sort(c.to_numpy())[-3])))
s = df[0].head(200_000)
got = parallel_apply(s, lambda v: v * 2, parallel=dict(backend="loky", workers=2, progress=False))
pd.testing.assert_series_equal(got, s.apply(lambda v: v * 2))
used = (shm.f_blocks - os.statvfs("/dev/shm").f_bfree) * shm.f_frsize
print("ok", used)
"""


def test_works_with_a_64_mib_dev_shm():
    """Docker's default /dev/shm: a private 64 MiB tmpfs in a mount namespace."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a mount namespace here (unshare -m) for a small /dev/shm")
    script = (
        "mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "
        f"{sys.executable} -c '{SMALL_SHM_SCRIPT}'"
    )
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=mltools_env(),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    status, used = out.stdout.split()
    assert status == "ok"
    assert int(used) < 4 * 2**20  # nothing big went through /dev/shm


def test_progress_bar_on_a_terminal(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    df = pd.DataFrame({"a": range(50)})
    got = parallel_apply(
        df, h.row_scalar, axis=1, parallel=Parallel(backend="loky", workers=2, chunksize=10)
    )
    pd.testing.assert_series_equal(got, df.apply(h.row_scalar, axis=1))
    assert "parallel_apply" in err.getvalue()
    quiet = Tty()
    monkeypatch.setattr(sys, "stderr", quiet)
    parallel_apply(df, h.row_scalar, axis=1, parallel=par(chunksize=None))
    assert quiet.getvalue() == ""


def test_without_pandarallel_installed(monkeypatch):
    from mltools.frame import backends

    monkeypatch.setitem(sys.modules, "pandarallel", None)
    backends._pandarallel_reason.cache_clear()
    try:
        assert available_backends()["pandarallel"] == "pandarallel is not installed"
        df = pd.DataFrame({"a": range(20_000)})
        assert which_backend(df, axis=1, parallel={"workers": 2}) == "loky"
        with pytest.raises(BackendUnavailableError, match="not installed"):
            parallel_apply(df, len, axis=1, parallel=par("pandarallel"))
    finally:
        backends._pandarallel_reason.cache_clear()
