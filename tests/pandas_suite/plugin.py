"""pandas' own tests as the judge of ``parallel_apply``.

A pytest plugin, loaded into a run of the test files that ship inside the
installed pandas (``pandas/tests/apply/``, ``pandas/tests/groupby/test_apply.py``
and the ``map`` tests). Every user-level ``DataFrame.apply``, ``Series.apply``,
``Series.map``, ``DataFrame.map`` and ``groupby(...).apply`` that a test makes
goes through ``parallel_apply``/``parallel_map`` with the parallel path forced
(an explicit backend, 2 workers, several chunks); pandas' internal calls (from
``agg``, ``transform``...) and the calls parallel_apply itself makes stay as
they are. Run it as the README says::

    python -m pytest -p tests.pandas_suite.plugin --mltools-backend loky \\
        --junitxml=/tmp/pandas-suite.xml $(python -m tests.pandas_suite.paths)

(pandas' own pytest config, shipped inside the package, writes ``test-data.xml``
into the working directory unless ``--junitxml`` says where.)

``--mltools-backend dask`` starts a real ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 for the session (stopped after) and passes the
scheduler's address, as a user would. Tests that can only pass in one process
are in ``ONE_PROCESS_ONLY`` with the reason; any other failure is a bug.
"""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

_MLTOOLS_SKIP = True  # warnings raised by pandas point at the test, not at these wrappers

REPO = Path(__file__).resolve().parents[2]

# Tests that can only pass in one process: what they check is a side effect of func
# in the calling process (a counter, a list it appends to, an object it mutates), which
# stays in the worker process. Matched against the test's node id (function name and,
# where given, parameters); the reason is printed with the xfail.
_SEEN = "func records the values it was called with in a list/set/dict of the caller"
_COUNTS = "func counts its calls in a variable of the caller"
ONE_PROCESS_ONLY: dict[str, str] = {
    "test_frame_apply.py::test_apply_function_runs_once": _COUNTS,
    "test_frame_apply.py::test_apply_raw_function_runs_once": _COUNTS,
    "test_series_apply.py::test_map_apply_masked_element_types": _SEEN,
    "test_map.py::test_map_datetime_series_passes_scalar_timestamps": _SEEN,
    "groupby/test_apply.py::test_apply_func_that_appends_group_to_list_without_copy": _SEEN,
    "groupby/test_apply.py::test_group_apply_once_per_group": _COUNTS,
    "groupby/test_apply.py::test_groupby_apply_store_copy": _SEEN,
    "frame/methods/test_map.py::test_map_function_runs_once": _SEEN,
    # pandas 2.2 without copy-on-write: the row func mutates is a view of the caller's frame
    "test_frame_apply.py::test_apply_mutating": "func mutates the caller's DataFrame in place",
}


class _State:
    parallel: Any = None
    routed = 0
    tests_routed: ClassVar[set[str]] = set()
    current: str = ""
    local = threading.local()


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("mltools")
    group.addoption(
        "--mltools-backend",
        default="loky",
        choices=["loky", "fork", "dask", "pandarallel", "serial"],
        help="the parallel_apply backend every apply/map goes through",
    )
    group.addoption(
        "--mltools-scheduler",
        default=None,
        help="dask: an existing scheduler address (default: start one with two workers)",
    )


def pytest_configure(config: Any) -> None:
    import pandas as pd
    from pandas.core.groupby.generic import DataFrameGroupBy, SeriesGroupBy

    from mltools.frame import parallel_apply, parallel_map

    backend = config.getoption("--mltools-backend")
    config._mltools_cluster = None
    scheduler = None
    if backend == "dask":
        scheduler = config.getoption("--mltools-scheduler")
        if scheduler is None:
            config._mltools_cluster = DaskCluster()
            scheduler = config._mltools_cluster.start()
    from mltools.frame import Parallel

    _State.parallel = Parallel(backend=backend, workers=2, scheduler=scheduler, progress=False)
    targets = [
        (pd.DataFrame, "apply", parallel_apply),
        (pd.DataFrame, "map", parallel_map),
        (pd.Series, "apply", parallel_apply),
        (pd.Series, "map", parallel_map),
        (DataFrameGroupBy, "apply", parallel_apply),
        (SeriesGroupBy, "apply", parallel_apply),
    ]
    config._mltools_saved = []
    for cls, name, runner in targets:
        original = getattr(cls, name)
        config._mltools_saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, _routed(original, runner))


def pytest_unconfigure(config: Any) -> None:
    for cls, name, original in getattr(config, "_mltools_saved", []):
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    from mltools.frame.backends import close_dask_clients

    close_dask_clients()
    cluster = getattr(config, "_mltools_cluster", None)
    if cluster is not None:
        cluster.stop()


def _routed(original: Any, runner: Any) -> Any:
    from mltools.frame._ops import call_site, warnings_at

    sig = inspect.signature(original)
    func_name = list(sig.parameters)[1]

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if getattr(_State.local, "busy", False) or not caller.startswith("pandas.tests"):
            return original(self, *args, **kwargs)
        if not args:
            if func_name not in kwargs:  # e.g. the deprecated name `arg=`: pandas as it is
                with warnings_at(call_site()):
                    return original(self, *args, **kwargs)
            args = (kwargs.pop(func_name),)
        _State.routed += 1
        _State.tests_routed.add(_State.current)
        _State.local.busy = True
        try:
            return runner(self, *args, parallel=_State.parallel, **kwargs)
        finally:
            _State.local.busy = False

    return method


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        for pattern, reason in ONE_PROCESS_ONLY.items():
            if pattern in item.nodeid:
                item.add_marker(
                    pytest.mark.xfail(reason=f"one process only: {reason}", strict=False)
                )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: Any) -> Any:
    _State.current = item.nodeid
    yield


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    import pandas as pd

    terminalreporter.write_line(
        f"mltools pandas-suite: pandas {pd.__version__}, backend "
        f"{config.getoption('--mltools-backend')}: {_State.routed} calls routed through "
        f"parallel_apply in {len(_State.tests_routed)} tests"
    )


class DaskCluster:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, as a user starts them."""

    def __init__(self, workers: int = 2, *, scheduler_without_mltools: bool = False) -> None:
        self.workers = workers
        # A scheduler whose Python cannot import mltools (a cluster set up without it).
        self.scheduler_without_mltools = scheduler_without_mltools
        self.processes: list[subprocess.Popen[bytes]] = []
        self.folder = tempfile.mkdtemp(prefix="mltools-dask-")

    def start(self) -> str:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).strip(
            os.pathsep
        )
        env.setdefault("DASK_DISTRIBUTED__WORKER__DAEMON", "False")
        file = Path(self.folder, "scheduler.json")
        log = self.log = open(Path(self.folder, "dask.log"), "wb")  # noqa: SIM115
        dask = [sys.executable, "-m", "dask"]
        scheduler = dask
        if self.scheduler_without_mltools:
            hide = (
                "import sys; sys.modules['mltools'] = None; from dask.cli import run_cli; run_cli()"
            )
            scheduler = [sys.executable, "-c", hide]
        self.processes.append(
            subprocess.Popen(
                [
                    *scheduler,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(file),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        )
        deadline = time.monotonic() + 60
        while not file.exists():
            if time.monotonic() > deadline or self.processes[0].poll() is not None:
                self.stop()
                raise RuntimeError(f"dask scheduler did not start; see {log.name}")
            time.sleep(0.1)
        for _ in range(self.workers):
            self.processes.append(
                subprocess.Popen(
                    [
                        *dask,
                        "worker",
                        "--scheduler-file",
                        str(file),
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                        "--memory-limit",
                        "2GiB",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                )
            )
        import json

        from distributed import Client

        address = json.loads(file.read_text())["address"]
        if self.workers:
            with Client(address, timeout="30s") as client:
                client.wait_for_workers(self.workers, timeout=120)
        self.address = address
        return address

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log = getattr(self, "log", None)
        if log is not None:
            log.close()
