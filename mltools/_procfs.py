"""Reading other processes' ``/proc`` entries (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "in uninterruptible I/O (state D)",
    "T": "stopped (state T: SIGSTOP or job control)",
    "t": "stopped by a debugger (state t)",
    "Z": "a zombie (exited, not reaped by its parent)",
    "X": "dead",
    "I": "idle",
}


def read_environ(pid: int, proc_root: str = "/proc") -> dict[str, str] | None:
    """The environment ``pid`` was started with.

    ``None`` where ``/proc/PID/environ`` cannot be read: another user's process
    (without ptrace rights), or one that has exited.
    """
    try:
        with open(f"{proc_root}/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` that tell whether a process moves."""

    pid: int
    comm: str
    state: str  # R S D T t Z X I
    ppid: int
    start_ticks: int  # since boot: with the pid, identifies the process (pids are reused)
    cpu_seconds: float  # utime + stime


def read_stat(pid: int, tid: int | None = None, proc_root: str = "/proc") -> ProcStat | None:
    """``/proc/PID/stat`` (or one thread's, ``/proc/PID/task/TID/stat``); None when gone."""
    path = f"{proc_root}/{pid}/stat" if tid is None else f"{proc_root}/{pid}/task/{tid}/stat"
    try:
        with open(path, "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    head, _, tail = raw.rpartition(")")
    fields = tail.split()
    try:
        return ProcStat(
            pid=pid,
            comm=head.partition("(")[2],
            state=fields[0],
            ppid=int(fields[1]),
            start_ticks=int(fields[19]),
            cpu_seconds=(int(fields[11]) + int(fields[12])) / _TICKS,
        )
    except (IndexError, ValueError):
        return None


def thread_cpu_seconds(pid: int, tid: int | None = None, proc_root: str = "/proc") -> float | None:
    """CPU time of one thread (default: the main thread), to the nanosecond where possible.

    ``/proc/PID/task/TID/schedstat`` counts nanoseconds; ``stat`` counts clock ticks
    (10 ms), too coarse to see a loop that sleeps most of the time.
    """
    tid = pid if tid is None else tid
    try:
        with open(f"{proc_root}/{pid}/task/{tid}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        st = read_stat(pid, tid, proc_root)
        return st.cpu_seconds if st else None


def cgroup_frozen(pid: int, proc_root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> bool:
    """True when ``pid`` sits in a frozen cgroup (v2 ``cgroup.freeze``, v1 freezer FROZEN)."""
    try:
        with open(f"{proc_root}/{pid}/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = ([*line.split(":", 2), "", ""])[:3]
        rel = path.lstrip("/")
        try:
            if controllers == "":
                with open(os.path.join(cgroup_root, rel, "cgroup.events")) as fh:
                    if "frozen 1" in fh.read():
                        return True
            elif "freezer" in controllers.split(","):
                with open(os.path.join(cgroup_root, "freezer", rel, "freezer.state")) as fh:
                    if fh.read().strip() in ("FROZEN", "FREEZING"):
                        return True
        except OSError:
            continue
    return False


def boot_id() -> str | None:
    """This machine's boot id: two host names with the same one are the same machine."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def pid_namespace() -> str | None:
    """This process's PID namespace ('pid:[4026531836]'): pids are unique only within one."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
