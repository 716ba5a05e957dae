"""backend='dask' against real `dask scheduler` and `dask worker` processes given by address."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from mltools.frame import Parallel, WorkerDiedError, parallel_apply, parallel_map
from tests import _frame_helpers as h

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def address():
    from mltools.frame.backends import close_dask_clients
    from tests.pandas_suite.plugin import DaskCluster

    cluster = DaskCluster(workers=2)
    try:
        yield cluster.start()
    finally:
        close_dask_clients()
        cluster.stop()


def on(address, **kw):
    return Parallel(backend="dask", scheduler=address, progress=False, **kw)


def test_every_op_by_address_equals_pandas(address):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 9, 300),
            "s": rng.choice(["x", "y", "zz"], 300),
            "t": pd.date_range("2024-01-01", periods=300, freq="h"),
            "c": pd.Categorical(rng.choice(["p", "q"], 300)),
        },
        index=rng.integers(0, 50, 300),  # non-unique
    )
    p = on(address, chunksize=40)
    pd.testing.assert_frame_equal(
        parallel_apply(df, h.row_series_varying, axis=1, parallel=p),
        df.apply(h.row_series_varying, axis=1),
    )
    pd.testing.assert_series_equal(
        parallel_map(df["s"], h.val_code, parallel=p), df["s"].map(h.val_code)
    )
    gb = df.groupby("s")
    pd.testing.assert_frame_equal(
        parallel_apply(gb, h.group_stats, parallel=on(address, chunksize=1)),
        gb.apply(h.group_stats),
    )
    pd.testing.assert_series_equal(
        parallel_apply(df, h.col_len_sum, parallel=on(address, chunksize=1)),
        df.apply(h.col_len_sum),
    )
    small = df[["a", "s"]].head(30)
    pd.testing.assert_frame_equal(
        parallel_map(small, h.val_str, parallel=on(address, chunksize=1)), small.map(h.val_str)
    )
    multi = df.set_index(["s", "a"], append=True).head(60)
    pd.testing.assert_series_equal(
        parallel_apply(multi, h.row_scalar, axis=1, parallel=on(address, chunksize=7)),
        multi.apply(h.row_scalar, axis=1),
    )


def test_errors_come_back_with_type_and_label_and_unpicklable_results_do_not_hang(address):
    df = pd.DataFrame({"a": range(60)}, index=[f"r{i}" for i in range(60)])
    p = on(address, chunksize=10)
    with pytest.raises(ValueError, match="bad row r33") as info:
        parallel_apply(df, h.raise_on_label, axis=1, label="r33", parallel=p)
    assert info.value.mltools_location == "row label 'r33'"
    with pytest.raises(TypeError, match=r"cannot be sent back.*row label 'r12'"):
        parallel_apply(df, lambda r: threading.Lock() if r["a"] == 12 else 0, axis=1, parallel=p)
    # the cluster still works afterwards
    pd.testing.assert_series_equal(
        parallel_apply(df, h.row_scalar, axis=1, parallel=p), df.apply(h.row_scalar, axis=1)
    )


def test_timeout_and_no_workers_left(address, monkeypatch):
    import time

    from mltools.frame import backends
    from tests.pandas_suite.plugin import DaskCluster

    df = pd.DataFrame({"a": range(4)})
    with pytest.raises(TimeoutError, match="within 1 s"):
        parallel_apply(
            df, lambda r: time.sleep(30), axis=1, parallel=on(address, chunksize=1, timeout=1)
        )
    empty = DaskCluster(workers=0)
    try:
        monkeypatch.setattr(backends, "NO_WORKER_GRACE_S", 1.0)
        with pytest.raises(WorkerDiedError, match="no Dask worker is left"):
            parallel_apply(df, h.row_scalar, axis=1, parallel=on(empty.start()))
    finally:
        backends.close_dask_clients()
        empty.stop()


def test_a_function_from_a_file_travels_by_value(address, tmp_path, run_mltools):
    """Neither the scheduler nor the workers can import a --func file: it must go by value
    (dask pickles plainly first, which only names the file's module)."""
    from mltools.frame.io import load_function

    (tmp_path / "feats.py").write_text("def double(row):\n    return row['a'] * 2 + 1\n")
    func = load_function(f"{tmp_path / 'feats.py'}:double")
    df = pd.DataFrame({"a": range(50)})
    got = parallel_apply(df, func, axis=1, parallel=on(address, chunksize=7))
    pd.testing.assert_series_equal(got, df["a"] * 2 + 1, check_names=False)

    (tmp_path / "in.csv").write_text("a\n1\n2\n3\n")
    # the file by path, and as a module found in the current directory (module:function):
    # the cluster can import neither by name
    for func in ("feats.py:double", "feats:double"):
        result = run_mltools(
            "apply", "in.csv", "-f", func, "--axis", "1", "--scheduler", address, cwd=tmp_path
        )
        assert result.returncode == 0, (func, result.stderr)
        assert result.stdout.splitlines() == ["a,result", "1,3", "2,5", "3,7"], func


def test_a_scheduler_without_mltools_is_a_one_line_error_naming_it():
    from mltools.errors import UnavailableError
    from mltools.frame import backends
    from tests.pandas_suite.plugin import DaskCluster

    cluster = DaskCluster(workers=1, scheduler_without_mltools=True)
    try:
        address = cluster.start()
        with pytest.raises(UnavailableError) as info:
            parallel_apply(
                pd.DataFrame({"a": range(4)}), h.row_scalar, axis=1, parallel=on(address)
            )
    finally:
        backends.close_dask_clients()
        cluster.stop()
    assert f"the Dask cluster at {address} could not run the tasks" in str(info.value)
    assert "install mltools in the Python of the scheduler" in info.value.hint
    assert "workers" not in info.value.hint  # the workers have it
