"""Where the chunks run: joblib/loky processes, a Dask cluster, or pandarallel.

Every backend returns, per chunk and in chunk order, the list of values the
user's function returned (see ``_ops.run_task``); the caller replays them
through pandas. ``serial`` needs no backend: it is pandas' own apply.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from mltools import _signals
from mltools._deps import install_hint
from mltools.errors import UnavailableError, UsageError, first_line
from mltools.frame._carry import ChunkResult, decode
from mltools.frame._ops import Task, run_task
from mltools.frame.errors import BackendUnavailableError, WorkerDiedError

BACKENDS = ("auto", "serial", "fork", "loky", "pandarallel", "dask")

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
    if name == "fork":
        import multiprocessing

        if "fork" not in multiprocessing.get_all_start_methods():
            return "this platform cannot fork processes"
        return None
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
        extra = {"loky": "frame", "fork": "frame", "dask": "dask", "pandarallel": "pandarallel"}[
            name
        ]
        hint = (
            "use Parallel(backend='fork') or Parallel(backend='loky'), which work with every pandas"
            if name == "pandarallel"
            else install_hint(extra)
        )
        raise BackendUnavailableError(f"backend {name!r} is not available: {reason}", hint=hint)


# -- loky (joblib) ----------------------------------------------------------------------------------
def run_loky(tasks: list[Task], workers: int, advance: Callable[[int], None]) -> list[ChunkResult]:
    """Run the tasks in loky's reusable process pool (joblib's); results in order, up to the
    first failure, after which the tasks not started yet are cancelled (the pool stays).

    The pool stays warm between calls. Chunks go through pipes, never through
    ``/dev/shm`` (Docker gives it 64 MiB). loky detects a worker that died and
    raises instead of hanging; Ctrl-C kills the workers.
    """
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import BrokenProcessPool

    _start_resource_trackers()
    executor = None
    results: list[ChunkResult] = []
    try:
        # loky starts its workers while the tasks are submitted: a SIGTERM landing there
        # (before ``executor`` is known) left them running for LOKY_IDLE_S, holding the
        # caller's stderr open; it is held until the pool is known, then stops it below
        with _signals.deferred(), _workers_start_without_sigint():
            executor = get_reusable_executor(max_workers=workers, timeout=LOKY_IDLE_S)
            futures = [executor.submit(run_task, t) for t in tasks]
        for task, future in zip(tasks, futures):
            result = decode(future.result())
            results.append(result)
            advance(_weight(task))
            if result.escaped is not None:
                break  # pandas stops at the first failure: so do we
    except BrokenProcessPool as exc:
        codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(exc))
        detail = f"exit codes {codes.group(1)}" if codes else first_line(exc)
        raise WorkerDiedError(
            f"a worker process died while running the function ({detail})",
            hint=_WORKER_DIED_HINT,
        ) from exc
    except KeyboardInterrupt:
        if executor is not None:
            _quiet_loky_manager()
            executor.shutdown(wait=False, kill_workers=True)
        raise
    for future in futures:  # after a failure: the tasks not started yet (the pool stays)
        future.cancel()
    return results


# -- fork ---------------------------------------------------------------------------------------
def fork_is_safe() -> bool:
    """Forking copies only the calling thread: safe while the process runs no other thread."""
    import threading

    return unavailable_reason("fork") is None and threading.active_count() == 1


def run_fork(tasks: list[Task], workers: int, advance: Callable[[int], None]) -> list[ChunkResult]:
    """Run the tasks in worker processes forked for this call (``mltools._forkpool``).

    A forked worker starts in milliseconds with pandas, mltools and the chunks
    already in memory (copy-on-write): nothing is imported or pickled on the
    way in, only the recorded results come back. Results in order, up to the
    first failure, after which the workers are stopped. No lock is shared with
    the workers, so a worker killed by a signal cannot hang the shutdown.
    """
    from mltools._forkpool import ForkPool, WorkerDied, WorkerFailed

    results: list[ChunkResult] = []
    try:
        with ForkPool(lambda i: run_task(tasks[i]), min(workers, len(tasks))) as pool:
            for task, blob in zip(tasks, pool.imap(len(tasks))):
                result = decode(blob)
                results.append(result)
                advance(_weight(task))
                if result.escaped is not None:
                    pool.kill()  # pandas stops at the first failure: so do we
                    break
    except WorkerDied as exc:
        raise WorkerDiedError(
            f"a worker process died while running the function (exit codes [{exc.exit_code}])",
            hint=_WORKER_DIED_HINT,
        ) from exc
    except WorkerFailed as exc:
        if isinstance(exc.cause, BaseException):
            raise exc.cause from None
        raise
    return results


def _start_resource_trackers() -> None:
    """Start loky's and multiprocessing's resource trackers with SIGHUP blocked.

    They ignore SIGINT and SIGTERM but not SIGHUP, and they share our process group: a
    closed terminal (SIGHUP to the group) killed them, and the shutdown that followed
    relaunched them and printed their KeyError tracebacks. A blocked signal stays blocked
    across exec; they leave by themselves when this process is gone. Blocking (rather than
    ignoring) here only delays a SIGHUP that arrives meanwhile to the end of this call.
    """
    import signal
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_tracker

    with _blocked(signal.SIGHUP):
        loky_tracker.ensure_running()
        resource_tracker.ensure_running()


@contextmanager
def _workers_start_without_sigint() -> Iterator[None]:
    """Block SIGINT in this thread while loky starts its workers (and its manager thread,
    which starts any later ones): a blocked signal stays blocked across fork and exec.

    Ctrl-C reaches the whole process group, and a worker whose interpreter was still
    starting died of it printing "Fatal Python error: init_import_site ... KeyboardInterrupt".
    As the fork backend's workers do, they leave Ctrl-C to this process, which gets it (at
    the latest when this block ends) and kills them. Resource trackers block it already.
    """
    import signal

    with _blocked(signal.SIGINT):
        yield


@contextmanager
def _blocked(signum: int) -> Iterator[None]:
    """``signum`` blocked in this thread (and in what it forks or execs) for the block."""
    import signal

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _quiet_loky_manager() -> None:
    """loky's manager thread can trip over the workers killed under it (a KeyError on
    a finished work id) and print a traceback after Ctrl-C: the pool is going down on
    purpose, so its thread's exception is not shown."""
    import threading

    previous = threading.excepthook

    def hook(args: Any) -> None:
        if args.thread is not None and args.thread.name == "ExecutorManagerThread":
            return
        previous(args)

    threading.excepthook = hook


# Seconds an idle loky pool waits for the next call before its workers exit.
LOKY_IDLE_S = 300


def _run_blob(blob: bytes) -> bytes:
    """A worker's side (Dask, pandarallel): one pickled task in, one encoded result out."""
    return run_task(pickle.loads(blob))


# -- dask -----------------------------------------------------------------------------------------------
_CLIENTS: dict[str, Any] = {}
# How long the cluster may have no worker at all before the apply gives up.
NO_WORKER_GRACE_S = 20.0


@contextmanager
def dask_client(scheduler: Any) -> Iterator[Any]:
    """The ``distributed.Client`` to use: the one given, or one for the address (kept for
    later calls to the same address), or the active default one."""
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
                hint="pass Parallel(scheduler='tcp://host:8786') or a distributed.Client",
            ) from exc
        yield client
        return
    address = str(scheduler)
    client = _CLIENTS.get(address)
    if client is None or client.status != "running":
        try:
            client = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UnavailableError(
                f"cannot reach the Dask scheduler at {address}: {first_line(exc)}",
                hint="check the address and that `dask scheduler` is running there",
            ) from exc
        _CLIENTS[address] = client
    yield client


def close_dask_clients() -> None:
    """Close the clients made for scheduler addresses (they are reused between calls)."""
    while _CLIENTS:
        _address, client = _CLIENTS.popitem()
        with suppress(Exception):
            client.close(timeout=5)


def dask_threads(client: Any) -> int:
    """Worker threads on the cluster (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:
        return 1


def run_dask(
    tasks: list[Task],
    client: Any,
    advance: Callable[[int], None],
    timeout: float | None,
) -> list[ChunkResult]:
    """Run the tasks on the Dask cluster behind ``client``; results in order, up to the first
    failure. Raises ``WorkerDiedError`` when a worker dies on a task or when no worker is
    left, ``TimeoutError`` past ``timeout`` seconds, ``UnavailableError`` when the cluster
    cannot unpickle or start a task. The scheduler and the workers must import mltools."""
    import time

    import cloudpickle
    from distributed.scheduler import KilledWorker

    start = time.monotonic()
    # cloudpickle, so that a function loaded from a file (registered by value) travels by
    # value: dask's own pickling tries plain pickle first, which names the file's module,
    # and neither the scheduler nor the workers can import that.
    blobs = [cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL) for task in tasks]
    futures = client.map(_run_blob, blobs, pure=False)
    results: list[ChunkResult] = []
    no_workers_since: float | None = None
    try:
        for task, future in zip(tasks, futures):
            while True:
                try:
                    blob = future.result(timeout=1.0)
                    break
                except KilledWorker as exc:
                    raise WorkerDiedError(
                        f"a Dask worker died while running the function ({first_line(exc)})",
                        hint=_WORKER_DIED_HINT,
                    ) from exc
                except TimeoutError:
                    now = time.monotonic()
                    if timeout is not None and now - start > timeout:
                        raise TimeoutError(
                            f"parallel_apply: the Dask cluster did not finish within {timeout:g} s"
                        ) from None
                    if dask_threads_now(client) == 0:
                        no_workers_since = no_workers_since or now
                        if now - no_workers_since > NO_WORKER_GRACE_S:
                            raise WorkerDiedError(
                                f"no Dask worker is left on {client.scheduler.address} "
                                f"(none for {NO_WORKER_GRACE_S:g} s)",
                                hint="start workers with `dask worker ADDRESS`",
                            ) from None
                    else:
                        no_workers_since = None
                except Exception as exc:
                    # run_task never raises for the function (it encodes what it raised), so
                    # anything else is the cluster failing to carry or run the task itself.
                    raise _cluster_failure(client, exc) from exc
            result = decode(blob)
            results.append(result)
            advance(_weight(task))
            if result.escaped is not None:
                break
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
    return results


def _cluster_failure(client: Any, exc: BaseException) -> UnavailableError:
    """A typed error for a cluster that could not unpickle or start a task, naming the side
    (scheduler or workers) whose Python lacks mltools when a probe can tell."""
    import importlib.util

    address = client.scheduler.address
    missing = []
    try:
        if client.run_on_scheduler(importlib.util.find_spec, "mltools") is None:
            missing.append("the scheduler")
    except Exception:
        missing.append("the scheduler")
    try:
        specs = client.run(importlib.util.find_spec, "mltools", on_error="return")
        if any(spec is None or isinstance(spec, BaseException) for spec in specs.values()):
            missing.append("the workers")
    except Exception:
        pass
    if missing:
        hint = (
            f"install mltools in the Python of {' and '.join(missing)} "
            f"(they unpickle and run mltools' task code)"
        )
    else:
        hint = (
            "the scheduler and the workers need the packages this Python has "
            "(see the scheduler's and workers' logs)"
        )
    return UnavailableError(
        f"the Dask cluster at {address} could not run the tasks: {first_line(exc)}", hint=hint
    )


def dask_threads_now(client: Any) -> int:
    try:
        return sum(client.nthreads().values())
    except Exception:
        return 0


# -- pandarallel --------------------------------------------------------------------------------------


def run_pandarallel(tasks: list[Task], workers: int, progress: bool) -> list[ChunkResult]:
    """Run the tasks in pandarallel's worker processes (one chunk of tasks per worker).

    pandarallel carries the tasks (cloudpickled: lambdas work) and brings back
    the encoded results, which never hold a raw exception, so an exception that
    cannot be re-created never reaches it. pandarallel waits forever on a worker
    that the OS killed; a watchdog notices the death, shuts pandarallel's
    manager down (which wakes it) and raises ``WorkerDiedError``. Its memory file
    system (``/dev/shm``) is off: data goes through pipes.
    """
    require_backend("pandarallel")
    import pandas as pd
    from pandarallel import core, pandarallel

    from mltools.frame._carry import dumps

    blobs = pd.Series([dumps(t) for t in tasks], dtype=object)
    pandarallel.initialize(
        nb_workers=workers,
        progress_bar=progress and sys.stdout.isatty(),
        verbose=0,
        use_memory_fs=False,
    )
    watch = _PoolWatch(core.CONTEXT)
    core.CONTEXT = watch
    try:
        out = blobs.parallel_apply(_run_blob)
    except Exception as exc:
        if watch.died:
            raise WorkerDiedError(
                f"a pandarallel worker process died while running the function "
                f"(exit code {watch.died})",
                hint=_WORKER_DIED_HINT,
            ) from exc
        raise
    finally:
        core.CONTEXT = watch.context
        watch.stop()
    if watch.died:
        raise WorkerDiedError(
            f"a pandarallel worker process died while running the function "
            f"(exit code {watch.died})",
            hint=_WORKER_DIED_HINT,
        )
    results = []
    for blob in out.tolist():
        result = decode(blob)
        results.append(result)
        if result.escaped is not None:
            break
    return results


class _PoolWatch:
    """Stands in for pandarallel's multiprocessing context: records the pool's worker
    processes and the manager, and shuts the manager down when a worker dies."""

    def __init__(self, context: Any) -> None:
        import threading

        self.context = context
        self.died: int | None = None
        self.processes: list[Any] = []
        self.managers: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.context, name)

    def Manager(self) -> Any:
        manager = self.context.Manager()
        self.managers.append(manager)
        return manager

    def Pool(self, *args: Any, **kwargs: Any) -> Any:
        from multiprocessing.pool import Pool

        watch = self

        class WatchedPool(Pool):
            @staticmethod
            def Process(ctx: Any, *a: Any, **k: Any) -> Any:
                process = ctx.Process(*a, **k)
                watch.processes.append(process)
                return process

        pool = WatchedPool(*args, context=self.context, **kwargs)
        self.pool = pool
        return pool

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            for process in list(self.processes):
                code = process.exitcode
                if code is not None and code != 0:
                    self.died = code
                    self._kill()
                    return

    def _kill(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            with suppress(Exception):
                pool.terminate()
        for manager in self.managers:
            with suppress(Exception):
                manager.shutdown()

    def stop(self) -> None:
        self._stop.set()


# -- helpers -----------------------------------------------------------------------------------------
def _weight(task: Task) -> int:
    chunk = task.chunk
    return int(chunk.shape[0] * (chunk.shape[1] if task.op.kind == "cells" else 1))
