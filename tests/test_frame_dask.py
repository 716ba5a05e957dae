"""backend='dask' against a real LocalCluster with worker processes."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mltools.frame import WorkerDiedError, parallel_apply
from tests import _frame_helpers as h

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    # The Nanny of a processes=True cluster writes distributed.nanny.pre-spawn-environ
    # (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ...) into *this*
    # process's os.environ and never takes it back: every later test and its subprocesses
    # would inherit it (GNU `nproc` then prints 1). Put the environment back afterwards.
    saved = dict(os.environ)
    try:
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                worker_dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield cluster, client
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def test_dask_rows_series_groups_and_columns_equal_pandas(cluster):
    local, client = cluster
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
    # by address (a Client made and closed inside), and with the test's own Client
    got = parallel_apply(
        df,
        h.row_series_varying,
        axis=1,
        backend="dask",
        scheduler=local.scheduler_address,
        chunksize=40,
    )
    pd.testing.assert_frame_equal(got, df.apply(h.row_series_varying, axis=1))
    got = parallel_apply(df["s"], h.val_code, method="map", scheduler=client, chunksize=50)
    pd.testing.assert_series_equal(got, df["s"].map(h.val_code))
    gb = df.groupby("s")
    got = parallel_apply(gb, h.group_stats, backend="dask", scheduler=client, chunksize=1)
    pd.testing.assert_frame_equal(got, gb.apply(h.group_stats))
    got = parallel_apply(df, h.col_len_sum, backend="dask", scheduler=client, chunksize=1)
    pd.testing.assert_series_equal(got, df.apply(h.col_len_sum))


def test_dask_errors_keep_type_and_label_and_a_dead_worker_is_reported(cluster):
    _local, client = cluster
    df = pd.DataFrame({"a": range(60)}, index=[f"r{i}" for i in range(60)])
    with pytest.raises(ValueError, match="bad row r33") as info:
        parallel_apply(df, h.raise_on_label, axis=1, label="r33", scheduler=client, chunksize=10)
    assert info.value.mltools_location == "row label 'r33'"
    with pytest.raises(WorkerDiedError, match="Dask worker died"):
        parallel_apply(df, h.kill_self_on, axis=1, label="r7", scheduler=client, chunksize=10)
    client.wait_for_workers(2, timeout=60)
