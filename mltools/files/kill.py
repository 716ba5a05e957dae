"""Find processes by their full command line and stop them gracefully: ``mltools kill``.

``find_processes`` matches a substring (or a regex) against each process's
whole command line, never matching the caller, its ancestors or pid 1.
``kill_processes`` sends SIGTERM (or the chosen signal), waits ``grace``
seconds, then SIGKILLs survivors. psutil checks each pid's start time before
signalling, so a pid reused since the preview is not hit.
"""

from __future__ import annotations

import re
import signal as _signal
import time
from dataclasses import dataclass, field

from mltools.errors import UsageError
from mltools.stopper import protected_pids, stop


@dataclass
class ProcInfo:
    pid: int
    user: str
    age_seconds: float
    cmdline: str
    create_time: float
    parent: int | None = None  # set for a descendant listed by ``with_descendants``


@dataclass
class KillResult:
    """What happened to each previewed process."""

    terminated: list[int] = field(default_factory=list)  # ended after the first signal
    killed: list[int] = field(default_factory=list)  # needed SIGKILL after the grace period
    signalled: list[int] = field(default_factory=list)  # got a non-terminating signal
    gone: list[int] = field(default_factory=list)  # had already exited
    failed: list[tuple[int, str]] = field(default_factory=list)  # permission denied, ...


def parse_signal(name: str | int) -> _signal.Signals:
    """``"TERM"``, ``"SIGKILL"``, ``"9"`` -> a ``signal.Signals``."""
    text = str(name).strip().upper()
    try:
        if text.isdigit():
            return _signal.Signals(int(text))
        return _signal.Signals[text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise UsageError(
            f"unknown signal {name!r}", hint="use TERM, INT, HUP, KILL, USR1 ... or a number"
        ) from None


def resolve_user(user: str) -> str:
    """The login name for ``user`` (a name or a numeric uid); ``UsageError`` when unknown."""
    import pwd

    try:
        return pwd.getpwnam(user).pw_name
    except KeyError:
        pass
    if user.isdigit():
        try:
            return pwd.getpwuid(int(user)).pw_name
        except (KeyError, OverflowError):
            pass
    raise UsageError(f"no such user: {user!r}", hint="check the name with: getent passwd")


def find_processes(pattern: str, *, regex: bool = False, user: str | None = None) -> list[ProcInfo]:
    """Processes whose full command line contains ``pattern`` (or matches it as a regex).

    Never returns this process, its ancestors (the shell, sudo, ...) or pid 1;
    kernel threads (empty command lines) never match.
    """
    import psutil

    if not pattern:
        raise UsageError("empty pattern would match every process", hint="give a pattern")
    if user is not None:
        user = resolve_user(user)
    if regex:
        try:
            matcher = re.compile(pattern).search
        except re.error as exc:
            raise UsageError(f"bad regex {pattern!r}: {exc}") from None
    else:

        def matcher(text: str) -> bool:
            return pattern in text

    protected = protected_pids()
    now = time.time()
    found: list[ProcInfo] = []
    for proc in psutil.process_iter(["pid", "cmdline", "username", "create_time"]):
        info = proc.info
        if info["pid"] in protected or not info["cmdline"]:
            continue
        if user is not None and info["username"] != user:
            continue
        cmdline = " ".join(info["cmdline"])
        if not matcher(cmdline):
            continue
        found.append(
            ProcInfo(
                info["pid"],
                info["username"] or "?",
                max(0.0, now - (info["create_time"] or now)),
                cmdline,
                info["create_time"] or 0.0,
            )
        )
    return sorted(found, key=lambda p: p.pid)


def with_descendants(procs: list[ProcInfo]) -> list[ProcInfo]:
    """``procs`` and, after each, every process below it (``kill --tree``: a launcher, its
    ranks and their DataLoader workers), each listed once; never this process, its
    ancestors or pid 1. A descendant's ``parent`` is its direct parent's pid."""
    import psutil

    protected = protected_pids()
    seen = {p.pid for p in procs}
    out: list[ProcInfo] = []
    now = time.time()
    for proc in procs:
        out.append(proc)
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            if child.pid in seen or child.pid in protected:
                continue
            try:
                with child.oneshot():
                    started = child.create_time()
                    info = ProcInfo(
                        child.pid,
                        child.username() or "?",
                        max(0.0, now - started),
                        " ".join(child.cmdline()) or f"[{child.name()}]",
                        started,
                        parent=child.ppid(),
                    )
            except psutil.Error:
                continue
            seen.add(child.pid)
            out.append(info)
    return out


def kill_processes(
    targets: list[ProcInfo],
    *,
    sig: _signal.Signals = _signal.SIGTERM,
    grace: float = 5.0,
    tree: bool = False,
) -> KillResult:
    """Signal each target; after ``grace`` seconds SIGKILL those still alive.

    Escalation happens only for terminating signals (TERM, INT, QUIT, HUP); a
    USR1 stays a USR1. Pids whose start time changed since the preview are
    treated as gone, never signalled (:func:`mltools.stopper.stop`). ``tree``: also
    every descendant each target has by then (a worker started after the preview too).
    """
    result = KillResult()
    chosen = [(t.pid, t.create_time or None) for t in targets]
    for r in stop(chosen, sig=sig, grace=grace, tree=tree):
        if r.outcome == "failed":
            result.failed.append((r.pid, r.error or "failed"))
        else:
            getattr(result, r.outcome).append(r.pid)
    return result
