"""The one process stopper: signal exactly the processes that were previewed, and no other.

``mltools kill``, ``gpu kill``, ``ddp-doctor`` and ``record`` stop processes through
:func:`stop`. A target is a ``(pid, create_time)`` pair taken at preview time; it is
signalled only if that pid still belongs to the same process (same start time,
exactly: a pid reused since the preview is reported as gone). Never signalled, whatever
the caller asks: pid 1, this process and its ancestors (the shell, tmux, sshd, sudo ...).
Another user's process only as root. With ``tree=True`` the whole process tree of
each target goes: its descendants are all listed first (before any signal, so a dying
parent cannot hide them by re-parenting), then signalled after it.

A terminating signal (TERM, INT, QUIT, HUP) is followed, after ``grace`` seconds, by
SIGKILL for the survivors; any other signal (USR1 ...) is sent once, never escalated.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
PROTECTED_REASON = "refusing to signal mltools, its parents or pid 1"
PERMISSION_REASON = "permission denied"


@dataclass
class StopResult:
    """What happened to one process.

    ``outcome``: "terminated" (ended after the first signal), "killed" (needed SIGKILL),
    "signalled" (a non-terminating signal was delivered), "gone" (had exited, or its pid
    now belongs to another process), "failed" (with ``error``: permission denied,
    protected, still running after SIGKILL).
    """

    pid: int
    outcome: str
    error: str | None = None


def ancestors() -> set[int]:
    """This process and every ancestor (the shell, tmux, sshd ...)."""
    import psutil

    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def protected_pids() -> set[int]:
    """What is never signalled: pid 1, this process and its ancestors."""
    return {1, *ancestors()}


def create_time(pid: int) -> float | None:
    """The start time psutil reports for ``pid`` (what :func:`stop` compares), or None."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _may_signal(proc: Any) -> bool:
    """The kernel's rule, checked up front: root, or our real/effective uid is the
    target's real or saved uid."""
    if os.geteuid() == 0:
        return True
    uids = proc.uids()
    return bool({os.getuid(), os.geteuid()} & {uids.real, uids.saved})


def _ended(proc: Any) -> bool:
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ended(procs: Iterable[Any], timeout: float) -> list[Any]:
    """Wait until each psutil process exited (a zombie counts as exited); the survivors."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    delay = 0.01
    while alive:
        alive = [p for p in alive if not _ended(p)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return alive


def _send(proc: Any, sig: int) -> None:
    if sig == signal.SIGTERM:
        proc.terminate()
    elif sig == signal.SIGKILL:
        proc.kill()
    else:
        proc.send_signal(sig)


def _resolve(
    targets: Sequence[tuple[int, float | None]], tree: bool, results: dict[int, StopResult]
) -> list[Any]:
    """The psutil processes to signal, in order (each target, then its descendants);
    refusals go straight into ``results``."""
    import psutil

    protected = protected_pids()
    procs: list[Any] = []
    for pid, started in targets:
        if pid in results or any(p.pid == pid for p in procs):
            continue
        if pid in protected:
            results[pid] = StopResult(pid, "failed", PROTECTED_REASON)
            continue
        try:
            proc = psutil.Process(pid)
            if started is not None and proc.create_time() != started:
                results[pid] = StopResult(pid, "gone", "pid reused since the preview")
                continue
            if not _may_signal(proc):
                results[pid] = StopResult(pid, "failed", PERMISSION_REASON)
                continue
            family = [proc, *(proc.children(recursive=True) if tree else [])]
        except psutil.NoSuchProcess:
            results[pid] = StopResult(pid, "gone")
            continue
        except psutil.AccessDenied:
            results[pid] = StopResult(pid, "failed", PERMISSION_REASON)
            continue
        known = {p.pid for p in procs}
        procs += [p for p in family if p.pid not in protected and p.pid not in known]
    return procs


def stop(
    targets: Sequence[tuple[int, float | None]],
    *,
    sig: int = signal.SIGTERM,
    grace: float = 5.0,
    tree: bool = False,
    wait: bool = True,
) -> list[StopResult]:
    """Signal each ``(pid, create_time)`` target (``create_time`` None: not checked), and
    with ``tree`` its descendants; escalate to SIGKILL after ``grace`` seconds when ``sig``
    terminates. ``wait=False`` sends ``sig`` once and returns at once, never escalating
    (an interactive caller such as `top`, whose user picked the signal). One result per
    process, targets first, in order."""
    import psutil

    results: dict[int, StopResult] = {}
    sent: list[Any] = []
    for proc in _resolve(targets, tree, results):
        try:
            _send(proc, sig)  # psutil refuses a Process object whose pid was reused
            sent.append(proc)
        except psutil.NoSuchProcess:
            results[proc.pid] = StopResult(proc.pid, "gone")
        except psutil.AccessDenied:
            results[proc.pid] = StopResult(proc.pid, "failed", PERMISSION_REASON)
    if not wait:
        results.update({p.pid: StopResult(p.pid, "signalled") for p in sent})
    elif sig == signal.SIGKILL:
        wait_ended(sent, max(grace, 1.0))
        results.update({p.pid: StopResult(p.pid, "killed") for p in sent})
    elif sig not in TERMINATING:
        results.update({p.pid: StopResult(p.pid, "signalled") for p in sent})
    else:
        survivors = wait_ended(sent, grace)
        left = {p.pid for p in survivors}
        results.update({p.pid: StopResult(p.pid, "terminated") for p in sent if p.pid not in left})
        killed = []
        for proc in survivors:
            try:
                proc.kill()
                killed.append(proc)
                results[proc.pid] = StopResult(proc.pid, "killed")
            except psutil.NoSuchProcess:
                results[proc.pid] = StopResult(proc.pid, "terminated")
            except psutil.AccessDenied:
                results[proc.pid] = StopResult(proc.pid, "failed", "permission denied (SIGKILL)")
        for proc in wait_ended(killed, 5.0):
            results[proc.pid] = StopResult(
                proc.pid, "failed", "still running after SIGKILL (uninterruptible sleep?)"
            )
    order = [pid for pid, _ in targets] + [p.pid for p in sent]
    return [results[pid] for pid in dict.fromkeys(order) if pid in results]


def signal_group_or_pid(pid: int, sig: int) -> None:
    """Send ``sig`` to ``pid``'s process group when it leads one (torchrun's workers do),
    else to it; a process already gone or not ours is ignored."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (one not ours counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def kill_launched_tree(
    agent: subprocess.Popen[Any], pids: Iterable[int], *, wait: float = 10.0
) -> None:
    """SIGKILL a launcher we started (leading its own group) and every process under it.

    Everything is frozen with SIGSTOP first, and listed again until no new process
    appears: a running launcher could otherwise start a worker, in a new session out
    of reach of its group, between the listing and the kill, and that worker would
    outlive us. ``pids``: processes known to belong to it even if re-parented.
    """
    import psutil

    found = set(pids)
    if agent.poll() is None:
        signal_group_or_pid(agent.pid, signal.SIGSTOP)
        stopped: set[int] = set()
        while True:
            with contextlib.suppress(psutil.Error):
                found.update(p.pid for p in psutil.Process(agent.pid).children(recursive=True))
            new = found - stopped
            if not new:
                break
            for pid in new:
                signal_group_or_pid(pid, signal.SIGSTOP)
            stopped |= new
    for pid in found:
        signal_group_or_pid(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(agent.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        agent.wait(timeout=wait)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(alive(p) for p in found):
        time.sleep(0.1)
