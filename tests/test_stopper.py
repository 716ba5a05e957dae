"""mltools.stopper.stop: exactly the previewed processes, never pid 1 or our ancestors,
a reused pid refused, optional whole tree; real child processes, no fakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from mltools import stopper
from mltools.stopper import PROTECTED_REASON, StopResult, create_time, stop
from tests import _gpu_fixtures

spawn = _gpu_fixtures.spawn


def test_terminates_a_previewed_process(spawn):
    child = spawn()
    assert stop([(child.pid, create_time(child.pid))], grace=30) == [
        StopResult(child.pid, "terminated")
    ]
    assert child.wait(timeout=30) == -signal.SIGTERM


def test_a_reused_pid_is_never_signalled(spawn):
    child = spawn()
    started = create_time(child.pid)
    assert started is not None
    # exact: even a start time 10 ms off (what one of the old killers tolerated) is another process
    for off in (-100.0, 0.01):
        assert stop([(child.pid, started + off)], grace=0.1) == [
            StopResult(child.pid, "gone", "pid reused since the preview")
        ]
    assert child.poll() is None


def test_never_pid_1_ourselves_or_our_ancestors():
    mine = psutil.Process()
    pids = [1, mine.pid, *(p.pid for p in mine.parents())]
    results = stop([(pid, None) for pid in pids], sig=signal.SIGUSR1)
    assert {r.pid for r in results} == set(pids)
    assert all(r == StopResult(r.pid, "failed", PROTECTED_REASON) for r in results)
    assert stopper.protected_pids() >= set(pids)


def test_another_users_process_only_as_root(monkeypatch, spawn):
    child = spawn()
    monkeypatch.setattr(os, "geteuid", lambda: 12345)  # as if we were an unprivileged other user
    monkeypatch.setattr(os, "getuid", lambda: 12345)
    assert stop([(child.pid, None)], grace=0.1) == [
        StopResult(child.pid, "failed", "permission denied")
    ]
    assert child.poll() is None


def test_gone_and_stubborn_and_non_terminating(spawn, tmp_path: Path):
    gone = spawn("true")
    gone.wait(timeout=30)
    stubborn = spawn(sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(300)", stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert stubborn.stdout.readline() == "ready\n"
    usr1 = spawn()
    results = stop([(gone.pid, None), (stubborn.pid, None)], grace=0.2)
    assert results == [StopResult(gone.pid, "gone"), StopResult(stubborn.pid, "killed")]
    assert stubborn.wait(timeout=30) == -signal.SIGKILL
    assert stop([(usr1.pid, None)], sig=signal.SIGCONT) == [StopResult(usr1.pid, "signalled")]
    assert usr1.poll() is None


TREE = textwrap.dedent("""
    import subprocess, sys, time
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"]) for _ in range(2)]
    print(" ".join(str(k.pid) for k in kids), flush=True)
    time.sleep(300)
""")


@pytest.mark.parametrize("tree", [True, False])
def test_tree_takes_the_descendants_too(spawn, tree):
    parent = spawn(sys.executable, "-c", TREE, stdout=subprocess.PIPE, text=True)
    kids = [int(p) for p in parent.stdout.readline().split()]
    try:
        results = stop([(parent.pid, create_time(parent.pid))], grace=30, tree=tree)
        assert results[0] == StopResult(parent.pid, "terminated")
        if tree:
            assert sorted(r.pid for r in results[1:]) == sorted(kids)
            assert all(r.outcome == "terminated" for r in results)
            assert not any(stopper.alive(k) for k in kids)
        else:
            assert len(results) == 1
            assert all(stopper.alive(k) for k in kids)  # orphaned, still running
    finally:
        for k in kids:
            if stopper.alive(k):
                os.kill(k, signal.SIGKILL)
