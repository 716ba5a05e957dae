"""The recorded process tree: a root pid and its descendants, sampled every interval.

Each interval the tree is walked again from the root (one pass over every
``/proc/PID/stat``, as psutil's ``children()`` does, but reading each file once for
the parent, CPU time, RSS and threads together), so DataLoader workers, torchrun's
ranks and anything they start are picked up as they appear. CPU % is the process's own CPU time over the wall time
between two samples (at its first sample: since it started). The DDP rank is read
once per process from the environment it was started with: ``RANK``/``LOCAL_RANK``
(torchrun, accelerate, deepspeed, Lightning), then the MPI and Slurm vocabulary.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from mltools._procfs import read_environ

# (global rank, local rank) variables, in the order they are believed
RANK_VARIABLES: tuple[tuple[str, str], ...] = (
    ("RANK", "LOCAL_RANK"),  # torchrun / torch.distributed.launch, accelerate, deepspeed
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
    ("PMIX_RANK", "MPI_LOCALRANKID"),  # PMIx (Open MPI 5, srun --mpi=pmix)
    ("PMI_RANK", "MPI_LOCALRANKID"),  # MPICH / Intel MPI
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK"),  # MVAPICH2
    ("SLURM_PROCID", "SLURM_LOCALID"),  # srun's task (a rank when srun starts the ranks)
)


def rank_of(env: dict[str, str] | None) -> tuple[int | None, int | None, str | None]:
    """(rank, local rank, the variable it came from) from a process's environment;
    ``(None, None, None)`` when it has none."""
    if not env:
        return None, None, None
    for global_name, local_name in RANK_VARIABLES:
        rank = _int(env.get(global_name))
        if rank is not None:
            return rank, _int(env.get(local_name)), global_name
    return None, _int(env.get("LOCAL_RANK")), None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class ProcessInfo:
    """What does not change about a process: written once, when it is first seen."""

    pid: int
    ppid: int | None
    name: str | None
    command: str | None
    rank: int | None
    local_rank: int | None
    rank_source: str | None  # the variable the rank came from (RANK, SLURM_PROCID, ...)
    first_seen_seconds: float


@dataclass
class ProcessSample:
    """One process at one sample. ``gpus``: index -> (memory bytes, SM %) filled by the recorder."""

    pid: int
    cpu_percent: float | None
    cpu_seconds: float | None  # user + system since the process started
    rss_bytes: int | None
    read_bytes: int | None
    write_bytes: int | None
    threads: int | None
    gpus: list[dict[str, Any]] = field(default_factory=list)


_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read(path: str, size: int = 4096) -> bytes | None:
    """One ``read`` of a small /proc file; None when it is gone or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass
class _Stat:
    """The fields of ``/proc/PID/stat`` a sample needs (one read per process)."""

    pid: int
    comm: str
    state: str
    ppid: int
    cpu_seconds: float  # utime + stime
    threads: int
    start_ticks: int  # since boot: with the pid, identifies the process
    rss_bytes: int


def _stat(pid: int, raw: bytes) -> _Stat | None:
    close = raw.rfind(b")")
    fields = raw[close + 2 :].split()
    if close < 0 or len(fields) < 22:
        return None
    return _Stat(
        pid=pid,
        comm=raw[raw.find(b"(") + 1 : close].decode("utf-8", "replace"),
        state=fields[0].decode(),
        ppid=int(fields[1]),
        cpu_seconds=(int(fields[11]) + int(fields[12])) / _TICKS,
        threads=int(fields[17]),
        start_ticks=int(fields[19]),
        rss_bytes=int(fields[21]) * _PAGE,
    )


def _statm_rss(pid: int, proc_root: str) -> int | None:
    """Resident bytes from ``/proc/PID/statm``, what ``ps``, ``top`` and psutil show.

    ``stat``'s own RSS field is the kernel's approximate per-CPU counter: on Linux 6.18 it
    read up to 44 pages under ``statm`` for an idle ``sleep``.
    """
    raw = _read(f"{proc_root}/{pid}/statm", 256)
    try:
        return int(raw.split()[1]) * _PAGE if raw else None
    except (ValueError, IndexError):
        return None


def _io(pid: int, proc_root: str) -> tuple[int | None, int | None]:
    """Bytes read and written through the block layer (``/proc/PID/io``; None if unreadable)."""
    raw = _read(f"{proc_root}/{pid}/io")
    if raw is None:
        return None, None
    values = {}
    for line in raw.splitlines():
        key, _, value = line.partition(b":")
        values[key] = value
    try:
        return int(values[b"read_bytes"]), int(values[b"write_bytes"])
    except (KeyError, ValueError):
        return None, None


class ProcessTree:
    """Samples ``root`` and its descendants from ``/proc``: one pass over every process's
    ``stat`` (parents, CPU time, RSS, threads) plus each member's ``io``. A process is
    known by (pid, start time), so a reused pid is a new process."""

    def __init__(self, root: int, proc_root: str = "/proc") -> None:
        self.root, self.proc_root = root, proc_root
        self._root_start: int | None = None
        # pid -> (start ticks, cpu s, when, name, first seen s)
        self._seen: dict[int, tuple[int, float, float, str, float]] = {}
        first = self._scan().get(root)
        if first is None:
            raise ProcessLookupError(root)
        self._root_start = first.start_ticks

    def _scan(self) -> dict[int, _Stat]:
        out: dict[int, _Stat] = {}
        for name in os.listdir(self.proc_root):
            if not name.isdigit():
                continue
            raw = _read(f"{self.proc_root}/{name}/stat", 1024)
            st = _stat(int(name), raw) if raw else None
            if st is not None:
                out[st.pid] = st
        return out

    def alive(self) -> bool:
        raw = _read(f"{self.proc_root}/{self.root}/stat", 1024)
        st = _stat(self.root, raw) if raw else None
        return st is not None and st.state != "Z" and st.start_ticks == self._root_start

    def sample(self, t_seconds: float) -> tuple[list[ProcessSample], list[ProcessInfo]]:
        """The tree now: a sample per live process, and the infos of processes new since last."""
        now = time.monotonic()
        table = self._scan()
        root = table.get(self.root)
        if root is None or root.start_ticks != self._root_start:
            self._seen = {}
            return [], []
        children: dict[int, list[int]] = {}
        for st in table.values():
            children.setdefault(st.ppid, []).append(st.pid)
        members, queue = [], [self.root]
        while queue:
            pid = queue.pop()
            members.append(table[pid])
            queue.extend(children.get(pid, ()))
        uptime = _uptime(self.proc_root)
        samples: list[ProcessSample] = []
        new: list[ProcessInfo] = []
        live: dict[int, tuple[int, float, float, str, float]] = {}
        for st in sorted(members, key=lambda m: m.pid):
            if st.state == "Z":
                continue
            seen = self._seen.get(st.pid)
            if seen is None or seen[0] != st.start_ticks:
                first = t_seconds
                new.append(_info(st, first, self.proc_root))
                wall = uptime - st.start_ticks / _TICKS if uptime is not None else 0.0
                used = st.cpu_seconds
            else:
                wall, used, first = now - seen[2], st.cpu_seconds - seen[1], seen[4]
                if st.comm != seen[3]:
                    # it exec'd or named itself (a DataLoader worker, seen between its fork
                    # and its rename): its info again, as it is now (a later line wins)
                    new.append(_info(st, first, self.proc_root))
            cpu = max(0.0, 100.0 * used / wall) if wall > 0 else None
            live[st.pid] = (st.start_ticks, st.cpu_seconds, now, st.comm, first)
            read, written = _io(st.pid, self.proc_root)
            rss = _statm_rss(st.pid, self.proc_root)
            samples.append(
                ProcessSample(
                    pid=st.pid,
                    cpu_percent=round(cpu, 2) if cpu is not None else None,
                    cpu_seconds=round(st.cpu_seconds, 3),
                    rss_bytes=rss if rss is not None else st.rss_bytes,
                    read_bytes=read,
                    write_bytes=written,
                    threads=st.threads,
                )
            )
        self._seen = live
        return samples, new


def _uptime(proc_root: str) -> float | None:
    raw = _read(f"{proc_root}/uptime", 128)
    try:
        return float(raw.split()[0]) if raw else None
    except (ValueError, IndexError):
        return None


def _info(st: _Stat, t_seconds: float, proc_root: str) -> ProcessInfo:
    raw = _read(f"{proc_root}/{st.pid}/cmdline", 1 << 16) or b""
    argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    name = st.comm
    if len(name) >= 15 and argv:  # the kernel cuts comm at 15 bytes: psutil's rule
        base = os.path.basename(argv[0])
        if base.startswith(name):
            name = base
    rank, local_rank, source = rank_of(read_environ(st.pid, proc_root))
    return ProcessInfo(
        pid=st.pid,
        ppid=st.ppid,
        name=name,
        command=" ".join(argv) if argv else None,
        rank=rank,
        local_rank=local_rank,
        rank_source=source,
        first_seen_seconds=round(t_seconds, 3),
    )


def is_running(pid: int) -> bool:
    """True when ``pid`` exists (and is not a zombie)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
