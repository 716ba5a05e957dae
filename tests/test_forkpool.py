"""``ForkPool``: results in order, failures named, and a shutdown that never hangs or prints.

The stress part runs the real CLI (``mltools filetype``, whose pool this is) and signals it
the ways a cluster does: SIGTERM to the whole process group (``scancel``, ``kill -- -PGID``),
SIGTERM to the parent alone, SIGHUP, Ctrl-C. Each time, as soon as its workers exist: the
command must exit 128+signal, leave no process behind and print no traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mltools._forkpool import ForkPool, WorkerDied, WorkerFailed
from tests.conftest import mltools_env


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children()}


def test_results_in_order_and_workers_reaped():
    before = _children()
    data = [i * i for i in range(500)]
    with ForkPool(lambda i: (i, data[i], os.getpid()), 3) as pool:
        out = list(pool.imap(len(data)))
    assert [o[1] for o in out] == data
    assert [o[0] for o in out] == list(range(500))
    assert len({o[2] for o in out}) > 1  # spread over several workers
    assert os.getpid() not in {o[2] for o in out}
    assert _children() == before


@pytest.mark.parametrize("count", [0, 1, 2])
def test_fewer_tasks_than_workers(count):
    with ForkPool(lambda i: i + 1, 4) as pool:
        assert list(pool.imap(count)) == list(range(1, count + 1))


def test_a_raising_task_is_worker_failed_and_stops_the_pool():
    before = _children()

    def fn(i: int) -> int:
        if i == 7:
            raise ValueError("bad row 7")
        return i

    with pytest.raises(WorkerFailed) as info, ForkPool(fn, 2) as pool:
        list(pool.imap(50))
    assert isinstance(info.value.cause, ValueError) and "bad row 7" in str(info.value)
    assert _children() == before


def test_a_killed_worker_is_worker_died_with_its_signal():
    before = _children()

    def fn(i: int) -> int:
        if i == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    with pytest.raises(WorkerDied) as info, ForkPool(fn, 2) as pool:
        list(pool.imap(20))
    assert info.value.exit_code == -signal.SIGKILL
    assert _children() == before


def test_a_consumer_that_stops_early_leaves_no_worker():
    before = _children()
    with ForkPool(lambda i: i, 2) as pool:
        for value in pool.imap(1000):
            if value == 5:
                break
    assert _children() == before


def test_a_worker_ignores_ctrl_c_and_dies_quietly_of_sigterm():
    def fn(i: int) -> tuple[object, object]:
        return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    with ForkPool(fn, 1) as pool:
        (got,) = list(pool.imap(1))
    assert got == (signal.SIG_IGN, signal.SIG_DFL)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("forkpool_tree")
    for d in range(40):
        sub = root / f"d{d}"
        sub.mkdir()
        for f in range(150):
            (sub / f"f{f}.txt").write_bytes(b"some text\n" * (f % 7 + 1))
    return root


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("forkpool_apply")
    (root / "in.csv").write_text("a\n" + "".join(f"{i}\n" for i in range(4000)))
    (root / "feats.py").write_text("def spin(x):\n    return sum(range(20000)) + x\n")
    return root


def _command(kind: str, tree: Path, table: Path) -> list[str]:
    if kind == "filetype":
        return ["filetype", "--json", str(tree)]
    backend = kind.removeprefix("apply-")
    return ["apply", str(table / "in.csv"), "-f", f"{table / 'feats.py'}:spin", "-c", "a",
            "-o", str(table / "out.csv"), "--yes", "--backend", backend, "-w", "2"]  # fmt: skip


def _run_and_signal(argv: list[str], sig: int, group: bool) -> tuple[int, str, list[int]]:
    """Start ``mltools ARGV``; once its workers exist, send ``sig``; return the result."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltools", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    parent = psutil.Process(proc.pid)
    workers: list[int] = []
    while proc.poll() is None and len(workers) < 2:  # the event: the pool has started
        try:
            workers = [c.pid for c in parent.children()]
        except psutil.NoSuchProcess:
            break
    if workers:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)  # a hang detector, not a speed limit
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"mltools {argv[0]} hung after {signal.Signals(sig).name}") from None
    # loky's resource trackers leave on their own once the parent is gone: wait for that
    procs = []
    for pid in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _gone, alive = psutil.wait_procs(procs, timeout=60)  # a hang detector again
    left = [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    return proc.returncode, err.decode(errors="replace"), left if workers else [-1]


@pytest.mark.parametrize(
    ("sig", "group"),
    [
        (signal.SIGTERM, True),
        (signal.SIGTERM, False),
        (signal.SIGHUP, True),
        (signal.SIGINT, True),
    ],
    ids=["TERM-group", "TERM-parent", "HUP-group", "INT-group"],
)
@pytest.mark.parametrize("kind", ["filetype", "apply-fork", "apply-loky"])
def test_signalled_pools_exit_cleanly_every_time(tree, table, kind, sig, group):
    outcomes = []
    for _ in range(3):
        code, err, left = _run_and_signal(_command(kind, tree, table), sig, group)
        if left == [-1]:
            continue  # finished before its pool started: nothing to test this round
        outcomes.append(code)
        assert "Traceback" not in err and "ForkPoolWorker" not in err, err[-2000:]
        assert left == [], f"workers left running: {left}"
    assert outcomes, "the pool never started: the tree is too small for this machine"
    want = 130 if sig == signal.SIGINT else 128 + sig
    assert set(outcomes) == {want}


# A SIGTERM that lands while loky starts its workers (they start as the tasks are submitted,
# before run_loky holds the pool): the workers must go down with the call, not idle on for
# minutes holding the caller's stderr open (which read as a hang after SIGTERM).
_LOKY_TERM_AT_START = r"""
import os, signal, psutil
import pandas as pd
from joblib.externals.loky.reusable_executor import _ReusablePoolExecutor
from mltools import _signals, parallel_apply
from mltools.errors import Interrupted

real_submit = _ReusablePoolExecutor.submit

def submit(self, *args, **kwargs):
    future = real_submit(self, *args, **kwargs)
    if not getattr(submit, "sent", False):
        submit.sent = True
        os.kill(os.getpid(), signal.SIGTERM)  # the workers are starting now
    return future

_ReusablePoolExecutor.submit = submit
_signals.install()
frame = pd.DataFrame({"a": range(400)})
try:
    parallel_apply(frame, lambda row: row["a"] + 1, axis=1,
                   parallel=dict(backend="loky", workers=2, chunksize=10, progress=False))
    print("finished")
except Interrupted as exc:
    print("interrupted", exc.signum)
def is_tracker(proc):
    try:
        return "resource_tracker" in " ".join(proc.cmdline())
    except psutil.ZombieProcess:  # a worker that died and waits to be reaped: wait_procs does
        return False
    except psutil.NoSuchProcess:  # already reaped
        return True

workers = [p for p in psutil.Process().children() if not is_tracker(p)]
_gone, alive = psutil.wait_procs(workers, timeout=60)  # a hang detector, not a speed limit
print("left", len(alive))
"""


def test_a_sigterm_while_loky_starts_its_workers_takes_them_down():
    out = subprocess.run(
        [sys.executable, "-c", _LOKY_TERM_AT_START],
        capture_output=True,
        text=True,
        env=mltools_env(),
        timeout=300,
    )
    assert out.stdout.split("\n")[:2] == ["interrupted 15", "left 0"], (
        out.stdout + out.stderr[-2000:]
    )
