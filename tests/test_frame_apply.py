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
    WorkerDiedError,
    available_backends,
    failure_location,
    parallel_apply,
)
from mltools.frame.apply import which_backend
from tests import _frame_helpers as h
from tests.conftest import mltools_env

PANDARALLEL_REASON = available_backends()["pandarallel"]
BACKENDS = [
    "serial",
    "loky",
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
# small chunks so that even small generated frames are split across several tasks
PAR = {"workers": 2, "chunksize": 3, "progress": False}


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
    got = h.outcome(_quiet(lambda: parallel_apply(df, func, backend=backend, **opts, **PAR)))
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(df=h.frames(), func=st.sampled_from(h.COL_FUNCS))
def test_dataframe_apply_columns_equals_pandas(backend, df, func):
    expected = h.outcome(_quiet(lambda: df.apply(func)))
    got = h.outcome(_quiet(lambda: parallel_apply(df, func, backend=backend, **PAR)))
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
        got = h.outcome(_quiet(lambda: parallel_apply(s, func, backend=backend, **PAR)))
    else:
        na = "ignore" if how == "map-ignore" else None
        expected = h.outcome(_quiet(lambda: s.map(func, na_action=na)))
        got = h.outcome(
            _quiet(
                lambda: parallel_apply(s, func, method="map", na_action=na, backend=backend, **PAR)
            )
        )
    h.assert_same(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY
@given(df=h.frames(max_rows=8), func=st.sampled_from([h.val_str, h.val_code]))
def test_dataframe_map_equals_pandas(backend, df, func):
    expected = h.outcome(_quiet(lambda: df.map(func)))
    got = h.outcome(_quiet(lambda: parallel_apply(df, func, method="map", backend=backend, **PAR)))
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
                backend=backend,
                workers=2,
                chunksize=chunk,
                progress=False,
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
        got = parallel_apply(gb, h.group_stats, backend=backend, **PAR)
        pd.testing.assert_frame_equal(got, expected)
    sgb = df.groupby("k")["x"]  # keys outside the Series: runs serially, same result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = parallel_apply(sgb, h.group_len, backend=backend, **PAR)
    pd.testing.assert_series_equal(got, sgb.apply(h.group_len))


@pytest.mark.parametrize("backend", BACKENDS)
def test_extra_args_kwargs_and_result_types(backend):
    df = pd.DataFrame({"a": range(30), "b": np.arange(30) * 0.5})

    def affine(r, scale, shift=0):
        return r["a"] * scale + shift

    def pair(r):
        return [r["a"], r["b"]]

    pd.testing.assert_series_equal(
        parallel_apply(df, affine, axis=1, args=(3,), shift=1, backend=backend, **PAR),
        df.apply(affine, axis=1, args=(3,), shift=1),
    )
    for result_type in ("expand", "reduce", "broadcast"):
        expected = df.apply(pair, axis=1, result_type=result_type)
        got = parallel_apply(df, pair, axis=1, result_type=result_type, backend=backend, **PAR)
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
        got = parallel_apply(df, h.row_scalar, axis=axis, backend="loky", **PAR)
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
                lambda obj=obj, kw=kw, b=backend: parallel_apply(obj, h.val_str, backend=b, **kw)
            )
            h.assert_same(got, expected)


def _pandas(obj, func, axis=0, method="apply"):
    if method == "map":
        return obj.map(func)
    return obj.apply(func, axis=axis) if isinstance(obj, pd.DataFrame) else obj.apply(func)


def test_categorical_series_maps_categories_like_pandas():
    s = pd.Series(pd.Categorical(list("abcab" * 2000)))
    for method in ("apply", "map"):
        expected = getattr(s, method)(str.upper)
        got = parallel_apply(s, str.upper, method=method, backend="auto", workers=2)
        pd.testing.assert_series_equal(got, expected)
        assert isinstance(got.dtype, pd.CategoricalDtype)


def test_ufunc_on_series_is_vectorised_like_pandas():
    s = pd.Series(np.arange(10.0))
    pd.testing.assert_series_equal(parallel_apply(s, np.sqrt, backend="loky"), s.apply(np.sqrt))


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_keeps_type_message_and_names_the_row(backend):
    df = pd.DataFrame({"a": range(40)}, index=[f"r{i}" for i in range(40)])
    with pytest.raises(ValueError, match="bad row r17") as info:
        parallel_apply(df, h.raise_on_label, axis=1, label="r17", backend=backend, **PAR)
    assert failure_location(info.value) == "row label 'r17'"
    assert "row label 'r17'" in "".join(getattr(info.value, "__notes__", []))


def test_exception_names_the_group_and_the_value():
    df = pd.DataFrame({"k": list("aabbc") * 3, "x": range(15)})

    def bad_group(g):
        if g.name == "b":
            raise KeyError("no b")
        return 1

    with pytest.raises(KeyError) as info:
        parallel_apply(df.groupby("k"), bad_group, backend="loky", **PAR)
    assert failure_location(info.value) == "group 'b'"

    s = pd.Series([1, 2, 0, 4], index=[10, 11, 12, 13])
    with pytest.raises(ZeroDivisionError) as info:
        parallel_apply(s, lambda v: 1 / v, backend="loky", workers=2, chunksize=1)
    assert failure_location(info.value) == "row label 12"


def test_killed_worker_raises_a_clear_error():
    df = pd.DataFrame({"a": range(40)})
    with pytest.raises(WorkerDiedError, match=r"worker process died") as info:
        parallel_apply(df, h.kill_self_on, axis=1, label=25, backend="loky", **PAR)
    assert "memory" in info.value.hint
    # the pool recovers for the next call
    got = parallel_apply(df, h.row_scalar, axis=1, backend="loky", **PAR)
    pd.testing.assert_series_equal(got, df.apply(h.row_scalar, axis=1))


def test_auto_backend_is_serial_for_small_inputs():
    small = pd.DataFrame({"a": range(1000)})
    assert which_backend(small, axis=1) == "serial"
    assert which_backend(small, axis=1, workers=1) == "serial"
    big = pd.DataFrame({"a": range(20_000)})
    assert which_backend(big, axis=1, workers=2) == "loky"
    assert which_backend(big, axis=1, workers=1) == "serial"


def test_bad_arguments():
    df = pd.DataFrame({"a": [1]})
    from mltools.errors import UsageError

    with pytest.raises(UsageError, match="unknown backend"):
        parallel_apply(df, len, backend="spark")
    with pytest.raises(UsageError, match="axis"):
        parallel_apply(df, len, axis=2)
    with pytest.raises(UsageError, match="workers"):
        parallel_apply(df, len, workers=0)
    with pytest.raises(TypeError, match="callable"):
        parallel_apply(df, "sum")
    with pytest.raises(TypeError, match="Series, DataFrame or groupby"):
        parallel_apply([1, 2], len)


@pytest.mark.skipif(PANDARALLEL_REASON is None, reason="pandarallel works here")
def test_pandarallel_backend_reports_why_it_is_unavailable():
    df = pd.DataFrame({"a": range(10)})
    with pytest.raises(BackendUnavailableError, match="pandarallel") as info:
        parallel_apply(df, len, axis=1, backend="pandarallel")
    assert "loky" in info.value.hint
    # auto never picks it
    assert which_backend(pd.DataFrame({"a": range(20_000)}), axis=1, workers=2) == "loky"


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
got = parallel_apply(df, lambda c: float(np.sort(c.to_numpy())[-3]), backend="loky",
                     workers=2, progress=False)
pd.testing.assert_series_equal(got, df.apply(lambda c: float(np.sort(c.to_numpy())[-3])))
s = df[0].head(200_000)
got = parallel_apply(s, lambda v: v * 2, backend="loky", workers=2, progress=False)
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
    got = parallel_apply(df, h.row_scalar, axis=1, backend="loky", workers=2, chunksize=10)
    pd.testing.assert_series_equal(got, df.apply(h.row_scalar, axis=1))
    assert "parallel_apply" in err.getvalue()
    quiet = Tty()
    monkeypatch.setattr(sys, "stderr", quiet)
    parallel_apply(df, h.row_scalar, axis=1, backend="loky", workers=2, progress=False)
    assert quiet.getvalue() == ""


def test_without_pandarallel_installed(monkeypatch):
    from mltools.frame import backends

    monkeypatch.setitem(sys.modules, "pandarallel", None)
    backends._pandarallel_reason.cache_clear()
    try:
        assert available_backends()["pandarallel"] == "pandarallel is not installed"
        df = pd.DataFrame({"a": range(20_000)})
        assert which_backend(df, axis=1, workers=2) == "loky"
        with pytest.raises(BackendUnavailableError, match="not installed"):
            parallel_apply(df, len, axis=1, backend="pandarallel")
    finally:
        backends._pandarallel_reason.cache_clear()
