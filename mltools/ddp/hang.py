"""Name the rank that hangs a DDP job: find every rank, watch it, compare.

The method people use by hand is ``py-spy dump`` on every rank and staring at
the stacks until the odd one out shows up. ``analyze_hang`` does the staring,
and first asks whether anything is stuck at all:

* **Every expected rank is accounted for.** The ranks are the processes that
  descend from the job's launcher (torchrun, or Slurm's ``slurmstepd``) with
  ``RANK``/``LOCAL_RANK`` in their environment; the expected local and world
  sizes come from their ``LOCAL_WORLD_SIZE``/``WORLD_SIZE``. A local rank missing
  from the launcher's children (it exited), a zombie, a stopped (state T) or
  frozen rank and one that cannot be read are named as such, and are the
  suspects. A forked helper that inherited ``RANK`` but no longer descends from
  the launcher (an orphan) is listed as ignored, never taken for the rank.
* **Progress before verdict.** Each rank is sampled repeatedly: its main
  thread's Python stack (py-spy, with its idle/active flag), the main thread's
  CPU time (``/proc/PID/task/PID/schedstat``, nanoseconds) and its process
  state. A rank *progresses* when its stack changes or its main thread burns
  CPU; it is *stuck* only after ``window`` seconds without either. Sampling is
  adaptive: it stops as soon as every rank is decided (progressing twice, or
  still for a whole window) and the verdict is the same twice, or at
  ``max_window``.
* **The verdict states its evidence**: "rank 1 is stuck at train.py:9
  (slow_loader) (same frame for 6.2 s, 0.000 s CPU, idle) while rank 0 waits
  in all_reduce ...".

Each rank's main thread is reduced to a signature (the collective or blocking
call it sits in and the first frame of user code above it); ranks with the same
signature form a group. With ``native=True`` the C frames are kept as detail;
the signature is still computed from the Python frames. Flight-recorder dumps,
when present, add each rank's last enqueued/completed collective and where the
sequences diverge; with no live rank they are analysed on their own.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools import _procfs
from mltools._procfs import read_environ
from mltools.ddp import flight_recorder as fr
from mltools.ddp import pyspy
from mltools.errors import MltoolsError

COLLECTIVES = frozenset(
    {
        "all_reduce",
        "all_reduce_coalesced",
        "all_gather",
        "all_gather_into_tensor",
        "all_gather_object",
        "all_gather_coalesced",
        "reduce_scatter",
        "reduce_scatter_tensor",
        "broadcast",
        "broadcast_object_list",
        "reduce",
        "gather",
        "gather_object",
        "scatter",
        "scatter_object_list",
        "all_to_all",
        "all_to_all_single",
        "barrier",
        "monitored_barrier",
        "send",
        "recv",
        "isend",
        "irecv",
        "batch_isend_irecv",
        "init_process_group",
        "new_group",
        "_store_based_barrier",
    }
)
_LIBRARY = re.compile(r"(/lib(64)?/python3\.\d+/|site-packages/|dist-packages/|^<frozen )")
# The smoke test's own rank code plays the part of user code in its stacks.
_USER_EVEN_IF_INSTALLED = re.compile(r"mltools/ddp/smoke(_rank)?\.py$")
# Stuck in autograd's backward under DDP means waiting for the gradient all_reduce.
_BACKWARD = frozenset({"backward", "_engine_run_backward", "run_backward"})
_LAUNCHERS = ("torchrun", "torch.distributed.run", "torch.distributed.launch")
_RANK_KEYS = ("RANK", "LOCAL_RANK")
# Main-thread CPU that counts as work, summed since the last sign of progress: py-spy's
# own attach costs the target ~25 us a sample, a loop iteration costs milliseconds.
CPU_PROGRESS_SECONDS = 0.002
# A stack that stays put while the main thread burns this share of the wall time is busy
# in a long C call (compute), not waiting.
_BUSY_SHARE = 0.25

KINDS = (
    "progressing",
    "odd_rank_stuck",
    "odd_rank_slow",
    "mismatch",
    "exited",
    "stopped",
    "unreadable",
    "all_waiting",
    "all_stuck",
    "diverged",
    "ended",
    "unknown",
    "flight_recorder",
)


class HangError(MltoolsError):
    """No rank processes could be found or named, or they belong to several jobs."""


# ---------------------------------------------------------------- discovery


@dataclass
class RankProcess:
    """A rank found on this host (or one that should be there and is not)."""

    pid: int | None
    rank: int | None
    local_rank: int | None = None
    world_size: int | None = None
    source: str = "pid"  # how it was found: environ, torchrun, slurm, nvml, pid
    agent_pid: int | None = None  # the launcher it descends from
    job: str | None = None
    fr_prefix: str | None = None  # where the job writes flight-recorder dumps, if set
    local_world_size: int | None = None
    group_rank: int | None = None
    # live | missing (not among the launcher's children) | zombie | stopped | frozen | unreadable
    status: str = "live"
    detail: str | None = None
    start_ticks: int | None = None  # with the pid, identifies the process (pids are reused)


@dataclass
class Ignored:
    """A process that carries a rank's environment but is not counted as a rank."""

    pid: int
    rank: int | None
    reason: str


@dataclass
class Discovery:
    """The ranks of one job on this host, and what was set aside."""

    ranks: list[RankProcess]
    ignored: list[Ignored] = field(default_factory=list)
    world_size: int | None = None
    local_world_size: int | None = None
    job: str | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _is_python(pid: int) -> bool:
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        exe = ""
    argv0 = os.path.basename((_cmdline(pid) or [""])[0])
    return "python" in exe or "python" in argv0


def _is_launcher(pid: int) -> bool:
    cmd = " ".join(_cmdline(pid)[:3])
    return any(token in cmd for token in _LAUNCHERS)


def _job_key(env: Mapping[str, str]) -> str:
    return "|".join(env.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT"))


def job_label(job: str | None) -> str:
    """'MASTER_PORT=29500 (run id x)' from a job key."""
    if not job:
        return "an unnamed job"
    run_id, addr, port = ([*job.split("|"), "", "", ""])[:3]
    text = f"MASTER_ADDR={addr or '?'} MASTER_PORT={port or '?'}"
    return text + (f" run id {run_id}" if run_id and run_id != "none" else "")


def _from_env(pid: int, env: Mapping[str, str], source: str) -> RankProcess:
    rank = _int(env.get("RANK")) if "RANK" in env else _int(env.get("SLURM_PROCID"))
    local = _int(env.get("LOCAL_RANK")) if "LOCAL_RANK" in env else _int(env.get("SLURM_LOCALID"))
    return RankProcess(
        pid=pid,
        rank=rank,
        local_rank=local,
        world_size=_int(env.get("WORLD_SIZE")) or _int(env.get("SLURM_NTASKS")),
        source=source,
        job=_job_key(env),
        fr_prefix=next((env[k] for k in fr.ENV_NAMES if env.get(k)), None),
        local_world_size=_int(env.get("LOCAL_WORLD_SIZE")),
        group_rank=_int(env.get("GROUP_RANK"))
        if "GROUP_RANK" in env
        else _int(env.get("SLURM_NODEID")),
    )


def _is_rank_env(env: Mapping[str, str] | None) -> bool:
    if not env:
        return False
    return any(k in env for k in _RANK_KEYS) or ("SLURM_PROCID" in env and "SLURM_STEP_ID" in env)


def _gpu_pids() -> list[int]:
    from mltools.gpu.nvml import gpu_pids  # every GPU and MIG instance; never raises

    return gpu_pids()


class _Table:
    """One reading of the process table: stats and children, by pid."""

    def __init__(self) -> None:
        self.stats: dict[int, _procfs.ProcStat] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _procfs.read_stat(int(name))
                if st is not None:
                    self.stats[st.pid] = st
        self.children: dict[int, list[int]] = {}
        for st in self.stats.values():
            self.children.setdefault(st.ppid, []).append(st.pid)

    def ancestors(self, pid: int) -> list[int]:
        out, seen = [], {pid}
        st = self.stats.get(pid)
        while st is not None and st.ppid > 0 and st.ppid not in seen:
            out.append(st.ppid)
            seen.add(st.ppid)
            st = self.stats.get(st.ppid)
        return out

    def launcher_of(self, pid: int) -> int | None:
        """The nearest ancestor that is torchrun/torch.distributed.run or slurmstepd."""
        for a in self.ancestors(pid):
            st = self.stats.get(a)
            if st is not None and (st.comm == "slurmstepd" or _is_launcher(a)):
                return a
        return None


def _expected_local(agent: int, members: list[RankProcess]) -> int | None:
    sizes = {r.local_world_size for r in members if r.local_world_size}
    if len(sizes) == 1:
        return sizes.pop()
    argv = _cmdline(agent)
    for i, a in enumerate(argv):
        for opt in ("--nproc-per-node", "--nproc_per_node"):
            if a == opt and i + 1 < len(argv):
                return _int(argv[i + 1])
            if a.startswith(opt + "="):
                return _int(a.split("=", 1)[1])
    return None


def _account(table: _Table, agent: int, members: list[RankProcess]) -> list[RankProcess]:
    """The launcher's local ranks that are not live among ``members``: zombies, unreadable, missing."""
    expected = _expected_local(agent, members)
    have = {r.local_rank for r in members if r.local_rank is not None}
    known = {r.pid for r in members}
    out: list[RankProcess] = []
    template = members[0] if members else RankProcess(pid=None, rank=None)
    for child in table.children.get(agent, []):
        if child in known:
            continue
        st = table.stats.get(child)
        env = read_environ(child)
        if st is not None and st.state in ("Z", "X"):
            out.append(
                RankProcess(
                    pid=child, rank=None, source="torchrun", agent_pid=agent, job=template.job,
                    world_size=template.world_size, status="zombie", start_ticks=st.start_ticks,
                    detail="a zombie: it exited and its launcher has not reaped it",
                )
            )  # fmt: skip
        elif env is None and st is not None:
            out.append(
                RankProcess(
                    pid=child, rank=None, source="torchrun", agent_pid=agent, job=template.job,
                    world_size=template.world_size, status="unreadable", start_ticks=st.start_ticks,
                    detail="its environment cannot be read (another user's process?)",
                )
            )  # fmt: skip
    if expected is None:
        return out
    bases = {
        r.rank - r.local_rank for r in members if r.rank is not None and r.local_rank is not None
    }
    base = bases.pop() if len(bases) == 1 else None
    if base is None and template.group_rank is not None:
        base = template.group_rank * expected
    missing = [lr for lr in range(expected) if lr not in have]
    unnamed = [r for r in out if r.local_rank is None]
    if len(missing) == len(unnamed) == 1:  # the one local rank left is that child
        unnamed[0].local_rank = missing[0]
        unnamed[0].rank = None if base is None else base + missing[0]
        missing = []
    for lr in missing if not unnamed else []:
        out.append(
            RankProcess(
                pid=None, rank=None if base is None else base + lr, local_rank=lr,
                world_size=template.world_size, source="torchrun", agent_pid=agent,
                job=template.job, local_world_size=expected, group_rank=template.group_rank,
                status="missing",
                detail=f"local rank {lr} of {expected} is not among launcher {agent}'s children "
                "(it exited)",
            )
        )  # fmt: skip
    return out


def _mark_state(r: RankProcess, st: _procfs.ProcStat | None) -> None:
    if st is None:
        r.status, r.detail = "missing", "exited while being looked at"
        return
    r.start_ticks = st.start_ticks
    if st.state in ("T", "t"):
        r.status, r.detail = "stopped", _procfs.STATE_NAMES[st.state]
    elif st.state in ("Z", "X"):
        r.status, r.detail = "zombie", _procfs.STATE_NAMES["Z"]
    elif r.pid is not None and _procfs.cgroup_frozen(r.pid):
        r.status, r.detail = "frozen", "in a frozen cgroup (cgroup freezer)"


def discover(pids: Iterable[int] = ()) -> Discovery:
    """The ranks of one job on this host, every expected local rank accounted for.

    With ``pids``: those processes (a launcher pid expands to its workers); pids of
    two jobs (different MASTER_ADDR/MASTER_PORT/run id) raise ``HangError``.
    Without: every Python process with ``RANK``/``LOCAL_RANK`` in its environment
    (or a Slurm task's ``SLURM_PROCID``), plus processes holding GPUs when NVML is
    available; several jobs at once raise ``HangError`` listing them.
    """
    me = os.getpid()
    table = _Table()
    skip = {me, *table.ancestors(me)}
    wanted = list(pids)
    candidates: list[RankProcess] = []
    agents: set[int] = set()
    plain: list[RankProcess] = []
    for pid in wanted:
        if pid not in table.stats:
            raise HangError(f"no process with pid {pid}", hint="list them with `ps -ef`")
    if wanted:
        for pid in wanted:
            env = read_environ(pid) or {}
            if _is_launcher(pid) and not _is_rank_env(env):
                agents.add(pid)
                for child in table.children.get(pid, []):
                    cenv = read_environ(child)
                    if _is_rank_env(cenv) and _is_python(child):
                        candidates.append(_from_env(child, cenv or {}, "torchrun"))
            elif _is_rank_env(env):
                if _is_python(pid):  # a shell wrapper carries the environment too
                    candidates.append(_from_env(pid, env, "pid"))
            else:
                plain.append(RankProcess(pid=pid, rank=None, source="pid"))
    else:
        for pid in table.stats:
            if pid in skip:
                continue
            env = read_environ(pid)
            if _is_rank_env(env) and _is_python(pid):
                candidates.append(_from_env(pid, env or {}, "environ"))
        known = {r.pid for r in candidates}
        for pid in _gpu_pids():
            if pid not in known and pid not in skip and pid in table.stats:
                env = read_environ(pid) or {}
                candidates.append(
                    _from_env(pid, env, "nvml") if env else RankProcess(pid, None, source="nvml")
                )
    ignored: list[Ignored] = []
    # children that inherited a rank's environment (DataLoader workers, shell wrappers' kids)
    cand_pids = {r.pid for r in candidates}
    kept = []
    for r in candidates:
        assert r.pid is not None
        if any(a in cand_pids for a in table.ancestors(r.pid)):
            continue
        kept.append(r)
    for r in kept:
        assert r.pid is not None
        agent = table.launcher_of(r.pid)
        if agent is not None:
            r.agent_pid = agent
            st = table.stats.get(agent)
            r.source = "slurm" if st is not None and st.comm == "slurmstepd" else "torchrun"
    # only the processes under the job's launcher count, when the job has one
    by_job: dict[str | None, list[RankProcess]] = {}
    for r in kept:
        by_job.setdefault(r.job, []).append(r)
    ranks: list[RankProcess] = []
    for _job, members in by_job.items():
        launched = [r for r in members if r.agent_pid is not None]
        for r in members:
            assert r.pid is not None
            st = table.stats.get(r.pid)
            if launched and r.agent_pid is None:
                ppid = st.ppid if st else "?"
                ignored.append(
                    Ignored(
                        r.pid,
                        r.rank,
                        f"pid {r.pid} has RANK={r.rank} but does not descend from the job's "
                        f"launcher (parent pid {ppid}): an orphaned or forked helper, not the rank",
                    )
                )
                continue
            _mark_state(r, st)
            ranks.append(r)
    jobs = sorted({r.job for r in ranks if r.job is not None})
    if len(jobs) > 1:
        listing = "; ".join(
            f"{job_label(j)}: pids {', '.join(str(r.pid) for r in ranks if r.job == j)}"
            for j in jobs
        )
        how = "pass the pids of one job" if wanted else "pick one with --pid"
        raise HangError(
            f"{'the pids belong to' if wanted else 'found'} {len(jobs)} distributed jobs"
            f"{'' if wanted else ' on this host'} ({listing})",
            hint=f"{how} (a torchrun pid selects all its ranks)",
        )
    # every expected local rank of every launcher
    for agent in sorted(agents | {r.agent_pid for r in ranks if r.agent_pid is not None}):
        members = [r for r in ranks if r.agent_pid == agent]
        ranks.extend(_account(table, agent, members))
    ranks.extend(plain)
    # two processes claiming one rank: keep both, say so
    seen: dict[tuple[str | None, int], RankProcess] = {}
    for r in ranks:
        if r.rank is None or r.pid is None:
            continue
        other = seen.setdefault((r.job, r.rank), r)
        if other is not r:
            r.detail = (
                r.detail + "; " if r.detail else ""
            ) + f"rank {r.rank} is also pid {other.pid}"
    if not ranks:
        if wanted:
            raise HangError(
                f"pid(s) {', '.join(map(str, wanted))} have no rank processes under them",
                hint="pass the pids of the training processes (or of torchrun)",
            )
        why = (
            f" ({len(ignored)} orphaned process(es) with a rank's environment were ignored)"
            if ignored
            else ""
        )
        raise HangError(
            "no DDP rank processes found (no process has RANK/LOCAL_RANK in its environment)" + why,
            hint="pass the training processes with --pid (a torchrun pid selects its ranks)",
        )
    ranks.sort(key=lambda r: (r.rank is None, r.rank or 0, r.pid or 0))
    worlds = {r.world_size for r in ranks if r.world_size}
    locals_ = {r.local_world_size for r in ranks if r.local_world_size}
    return Discovery(
        ranks=ranks,
        ignored=ignored,
        world_size=max(worlds) if worlds else None,
        local_world_size=max(locals_) if locals_ else None,
        job=jobs[0] if jobs else None,
    )


def discover_ranks(pids: Iterable[int] = ()) -> list[RankProcess]:
    """The live rank processes of :func:`discover` (missing and zombie ranks left out)."""
    return [r for r in discover(pids).ranks if r.pid is not None and r.status != "zombie"]


# ---------------------------------------------------------------- signatures


def is_library_file(filename: str) -> bool:
    """True for the standard library, installed packages and frozen modules."""
    return bool(_LIBRARY.search(filename)) and not _USER_EVEN_IF_INSTALLED.search(filename)


def _fmt(f: pyspy.Frame) -> str:
    return f"{f.where} ({f.name})"


def signature(frames: list[pyspy.Frame]) -> tuple[str | None, str | None, str | None]:
    """(collective, call, user frame) for a stack given innermost first (Python frames only)."""
    frames = [f for f in frames if not f.native]
    user_idx = next((i for i, f in enumerate(frames) if not is_library_file(f.filename)), None)
    library = frames if user_idx is None else frames[:user_idx]
    collective = None
    for f in reversed(library):  # outermost library frame first: what the user called
        if f.name in COLLECTIVES and "distributed" in f.filename:
            collective = f.name
            break
        if f.name in _BACKWARD and "torch" in f.filename:
            collective = "backward (gradient all_reduce)"
            break
    call = None
    if collective:
        call = collective
    elif library:
        entry = library[-1]
        call = f"{entry.name} ({Path(entry.filename).name})"
    frame = _fmt(frames[user_idx]) if user_idx is not None else None
    return collective, call, frame


# ---------------------------------------------------------------- sampling


@dataclass
class Evidence:
    """What the samples of one rank showed."""

    samples: int = 0  # stacks read
    window_seconds: float = 0.0  # first to last sample
    still_seconds: float = 0.0  # since the stack or the main thread's CPU last moved
    cpu_seconds: float | None = None  # main thread, over the window
    process_cpu_seconds: float | None = None  # all threads, over the window
    distinct_stacks: int = 0
    progress_events: int = 0  # samples where the stack changed or CPU had accumulated
    active_samples: int = 0  # py-spy saw the main thread running (not idle)
    states: list[str] = field(default_factory=list)  # process states seen (R, S, D, T...)
    flight_recorder_completed: int | None = None  # advance of the last completed collective

    def text(self) -> str:
        """'same frame for 6.1 s, 0.000 s CPU, idle' or '5 distinct stacks, 1.2 s CPU in 3 s'."""
        cpu = "? s CPU" if self.cpu_seconds is None else f"{self.cpu_seconds:.3f} s CPU"
        if self.samples <= 1:
            return f"1 sample, {cpu}"
        if self.distinct_stacks <= 1 and not self.progress_events:
            idle = (
                "idle"
                if self.active_samples == 0
                else f"active in {self.active_samples}/{self.samples} samples"
            )
            return f"same frame for {self.still_seconds:.1f} s, {cpu}, {idle}"
        stacks = (
            "same frame" if self.distinct_stacks <= 1 else f"{self.distinct_stacks} distinct stacks"
        )
        return f"{stacks}, {cpu} in {self.window_seconds:.1f} s"


@dataclass
class RankState:
    """One rank over the samples: its state, where it sits, and the evidence."""

    rank: int | None
    pid: int | None
    # progressing | busy | stuck | exited | zombie | missing | stopped | frozen | unreadable | error
    # (--hosts: unseen = on no host that answered; offline: dump)
    state: str
    collective: str | None  # the collective it sits in, if any
    call: str | None  # the library call below user code (collective, __next__, backward...)
    frame: str | None  # first user frame: file:line (function)
    stack: list[str] = field(default_factory=list)  # main thread, innermost first, last sample
    error: str | None = None
    local_rank: int | None = None
    host: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    native: list[str] = field(default_factory=list)  # C frames of the last sample (--native)
    detail: str | None = None
    world_size: int | None = None
    job: str | None = None

    @property
    def label(self) -> str:
        base = f"rank {self.rank}" if self.rank is not None else f"pid {self.pid}"
        return f"{base} on {self.host}" if self.host else base

    @property
    def where(self) -> str:
        what = self.collective or self.call
        if what and self.frame:
            return f"{what} at {self.frame}"
        return what or self.frame or "an unknown place"

    @property
    def live(self) -> bool:
        return self.state in ("progressing", "busy", "stuck", "still")


_GONE = ("exited", "zombie", "missing")
_SUSPECT = ("stopped", "frozen", "unreadable")


class _Tracker:
    """Per-rank progress bookkeeping across samples."""

    def __init__(self, r: RankProcess) -> None:
        self.r = r
        self.first: float | None = None
        self.last: float | None = None
        self.last_progress: float | None = None
        self.prev_key: tuple[Any, ...] | None = None
        self.keys: set[tuple[Any, ...]] = set()
        self.cpu0: float | None = None
        self.cpu_last: float | None = None
        self.cpu_at_progress: float | None = None
        self.pcpu0: float | None = None
        self.pcpu_last: float | None = None
        self.events = 0
        self.samples = 0
        self.active = 0
        self.states: list[str] = []
        self.threads: list[pyspy.ThreadStack] | None = None
        self.main: pyspy.ThreadStack | None = None
        self.error: str | None = None
        self.gone_at: float | None = None
        self.failures = 0
        self.status = r.status

    def decided(self, now: float, window: float) -> bool:
        if self.status != "live" or self.gone_at is not None:
            return True
        if self.samples == 0:
            return self.failures >= 3  # py-spy keeps failing: unreadable, no need to wait
        since = self.last_progress if self.last_progress is not None else self.first
        still = now - (since if since is not None else now)
        return still >= window or (self.events >= 2 and still < window)

    def observe(self, now: float, stat: _procfs.ProcStat | None, cpu: float | None,
                threads: list[pyspy.ThreadStack] | Exception | None) -> None:  # fmt: skip
        r = self.r
        assert r.pid is not None
        if stat is None or (r.start_ticks is not None and stat.start_ticks != r.start_ticks):
            self.gone_at = self.gone_at or now
            self.status = "exited"
            return
        self.states.append(stat.state)
        if stat.state in ("Z", "X"):
            self.gone_at = self.gone_at or now
            self.status = "zombie"
            return
        if stat.state in ("T", "t"):
            self.status = "stopped"
        if self.pcpu0 is None:
            self.pcpu0 = stat.cpu_seconds
        self.pcpu_last = stat.cpu_seconds
        if isinstance(threads, Exception) or threads is None:
            if threads is not None:
                self.error = getattr(threads, "message", str(threads))
                self.failures += 1
            return
        main = pyspy.main_thread(threads, r.pid)
        if main is None:
            return
        self.threads, self.main = threads, main
        key = tuple((f.name, f.filename, f.line) for f in main.python_frames)
        self.samples += 1
        self.active += bool(main.active)
        if self.first is None:
            self.first = now
            self.cpu0 = self.cpu_at_progress = cpu
            self.last_progress = None
        else:
            moved = key != self.prev_key
            burnt = (
                cpu is not None
                and self.cpu_at_progress is not None
                and cpu - self.cpu_at_progress >= CPU_PROGRESS_SECONDS
            )
            if moved or burnt:
                self.events += 1
                self.last_progress = now
                self.cpu_at_progress = cpu
        self.last = now
        self.cpu_last = cpu
        self.prev_key = key
        self.keys.add(key)

    def state(self, window: float, native: bool) -> RankState:
        r = self.r
        ev = Evidence(
            samples=self.samples,
            window_seconds=(self.last - self.first)
            if self.first is not None and self.last
            else 0.0,
            distinct_stacks=len(self.keys),
            progress_events=self.events,
            active_samples=self.active,
            states=sorted(set(self.states)),
        )
        if self.cpu0 is not None and self.cpu_last is not None:
            ev.cpu_seconds = max(0.0, self.cpu_last - self.cpu0)
        if self.pcpu0 is not None and self.pcpu_last is not None:
            ev.process_cpu_seconds = max(0.0, self.pcpu_last - self.pcpu0)
        if self.last is not None:
            since = self.last_progress if self.last_progress is not None else self.first
            ev.still_seconds = self.last - (since if since is not None else self.last)
        base = dict(
            rank=r.rank, pid=r.pid, local_rank=r.local_rank, evidence=ev, detail=r.detail,
            world_size=r.world_size, job=r.job,
        )  # fmt: skip
        collective = call = frame = None
        stack: list[str] = []
        natives: list[str] = []
        if self.main is not None:
            collective, call, frame = signature(self.main.frames)
            stack = [_fmt(f) for f in self.main.python_frames]
            if native:
                natives = [
                    f"{_short(f.name)} ({Path(f.filename).name})" for f in self.main.native_frames
                ]
        where = dict(collective=collective, call=call, frame=frame, stack=stack, native=natives)
        if self.status in ("exited", "zombie") and self.gone_at is not None:
            detail = r.detail or (
                "exited while being sampled"
                if self.status == "exited"
                else _procfs.STATE_NAMES["Z"]
            )
            base["detail"] = detail
            return RankState(state=self.status, error=self.error, **where, **base)  # type: ignore[arg-type]
        if self.status != "live":
            return RankState(state=self.status, error=self.error, **where, **base)  # type: ignore[arg-type]
        if self.samples == 0:
            err = self.error or "no stack could be read"
            state = "unreadable" if "permission" in err or "attach" in err else "error"
            return RankState(state=state, error=err, **where, **base)  # type: ignore[arg-type]
        if ev.still_seconds >= window:
            state = "stuck"
        elif self.events or self.samples == 1:
            state = "progressing"
        else:
            state = "still"  # not moving, but not for a whole window yet
        wall = max(ev.window_seconds, 1e-9)
        if (
            ev.distinct_stacks <= 1
            and ev.samples > 1
            and ev.cpu_seconds is not None
            and ev.cpu_seconds >= _BUSY_SHARE * wall
        ):
            state = "busy"  # one long C call, burning CPU: computing (or spinning)
        return RankState(state=state, error=self.error, **where, **base)  # type: ignore[arg-type]


def _short(name: str, limit: int = 100) -> str:
    """A C++ symbol without its template arguments, cut to ``limit`` characters."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
            if depth == 1:
                out.append("<...>")
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _sample_one(t: _Tracker, native: bool) -> tuple[Any, float | None, Any]:
    pid = t.r.pid
    assert pid is not None
    stat = _procfs.read_stat(pid)
    cpu = _procfs.thread_cpu_seconds(pid)
    if stat is None:
        return None, None, None
    if stat.state in ("T", "t") or t.status in ("stopped", "frozen"):
        if t.samples:  # a stopped rank does not move: one stack is enough
            return stat, cpu, None
        try:
            return stat, cpu, pyspy.dump_stacks(pid, native=native, timeout=10, nonblocking=True)
        except pyspy.AttachError as exc:
            return stat, cpu, exc
    try:
        return stat, cpu, pyspy.dump_stacks(pid, native=native, timeout=15)
    except pyspy.AttachError as exc:
        return stat, cpu, exc


def sample_stacks(
    ranks: list[RankProcess],
    *,
    samples: int = 3,
    interval: float = 0.5,
    window: float = 6.0,
    max_window: float = 20.0,
    native: bool = False,
    flight: fr.FlightRecorderReport | None = None,
) -> list[RankState]:
    """Sample every rank (in parallel) until each is decided, then reduce each rank.

    A rank is decided when it has shown progress twice (a changed stack, or
    main-thread CPU) and not stood still for ``window`` seconds since, or has stood
    still for ``window``. Sampling stops when every rank is decided, at least
    ``samples`` samples were taken and the verdict did not change from the last
    sample (a progressing verdict is taken at once), or after ``max_window``.
    """
    trackers = [_Tracker(r) for r in ranks]
    sampled = [
        t for t in trackers if t.r.pid is not None and t.r.status in ("live", "stopped", "frozen")
    ]
    start = time.monotonic()
    previous: tuple[str, list[int | None]] | None = None
    n = 0
    from mltools._children import stopped_on_interrupt

    # Ctrl-C/SIGTERM: the py-spy children are stopped first, so the threads end at once
    with (
        ThreadPoolExecutor(max_workers=max(1, min(len(sampled), 16))) as pool,
        stopped_on_interrupt(),
    ):
        while True:
            tick = time.monotonic()
            todo = [t for t in sampled if t.gone_at is None]
            results = list(pool.map(lambda t: _sample_one(t, native), todo))
            now = time.monotonic()
            for t, (stat, cpu, threads) in zip(todo, results):
                t.observe(now, stat, cpu, threads)
            n += 1
            if all(t.gone_at is not None for t in sampled):
                break
            elapsed = now - start
            if elapsed >= max_window:
                break
            if n >= samples and all(t.decided(now, window) for t in trackers):
                states = [t.state(window, native) for t in trackers]
                _, kind, culprits = verdict(states, flight)
                if kind in ("progressing", "exited", "stopped", "unreadable", "ended"):
                    break
                if previous == (kind, culprits):
                    break
                previous = (kind, culprits)
            elif (
                n >= samples and any(t.status in _SUSPECT or t.gone_at for t in trackers) and n >= 3
            ):
                break  # a rank that is gone or stopped decides the verdict; no need to wait
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))
    states = [t.state(window, native) for t in trackers]
    errors = [s for s in states if s.state in ("error", "unreadable")]
    if errors and len(errors) == len(states):
        first = errors[0].error or "unknown error"
        hint = pyspy.PTRACE_FIX if "permission" in first or "attach" in first else None
        raise pyspy.AttachError(f"could not read any rank's stack: {first}", hint=hint)
    return states


# ---------------------------------------------------------------- verdict


def _ranks_text(states: list[RankState]) -> str:
    ranks = [s.rank for s in states]
    hosts = {s.host for s in states}
    if all(r is not None for r in ranks) and len(hosts) == 1:
        nums = sorted(r for r in ranks if r is not None)
        parts: list[str] = []
        start = prev = nums[0]
        for n in [*nums[1:], None]:  # type: ignore[list-item]
            if n is not None and n == prev + 1:
                prev = n
                continue
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            if n is not None:
                start = prev = n
        host = next(iter(hosts))
        text = ("rank " if len(nums) == 1 else "ranks ") + ", ".join(parts)
        return f"{text} on {host}" if host else text
    return ", ".join(s.label for s in states)


def _evidence(members: list[RankState]) -> str:
    ev = [m.evidence for m in members if m.evidence.samples]
    if not ev:
        return ""
    if len(ev) == 1:
        return f" ({ev[0].text()})"
    cpu = [e.cpu_seconds for e in ev if e.cpu_seconds is not None]
    if all(e.distinct_stacks <= 1 and not e.progress_events for e in ev):
        still = min(e.still_seconds for e in ev)
        return f" (same frame for {still:.1f} s or more, at most {max(cpu or [0]):.3f} s CPU each)"
    top = max(e.distinct_stacks for e in ev)
    return f" (up to {top} distinct stacks, {min(cpu or [0]):.3f}-{max(cpu or [0]):.3f} s CPU each)"


def _desc(members: list[RankState]) -> str:
    s = members[0]
    what = _ranks_text(members)
    plural = len(members) > 1
    if s.state == "still":
        return f"{what} {'have' if plural else 'has'} not moved at {s.where}{_evidence(members)}"
    if s.state in ("progressing", "busy") and not all(m.state == "stuck" for m in members):
        verb = "progress" if plural else "progresses"
        if all(m.state == "busy" for m in members):
            verb = "are busy" if plural else "is busy"
        return f"{what} {verb} at {s.where}{_evidence(members)}"
    if s.collective:
        return f"{what} {'wait' if plural else 'waits'} in {s.where}{_evidence(members)}"
    place = f"in {s.call} at {s.frame}" if s.call and s.frame else f"at {s.where}"
    return f"{what} {'are' if plural else 'is'} stuck {place}{_evidence(members)}"


def _classes(states: list[RankState]) -> list[list[RankState]]:
    by_sig: dict[tuple[Any, ...], list[RankState]] = {}
    for s in states:
        by_sig.setdefault((s.state, s.collective, s.call, s.frame), []).append(s)
    return sorted(by_sig.values(), key=len, reverse=True)


def _gone_text(s: RankState) -> str:
    if s.state == "missing":
        why = s.detail or "not found"
        return f"{s.label} is missing ({why})"
    if s.state == "zombie":
        return f"{s.label} (pid {s.pid}) exited: a zombie its launcher has not reaped"
    return f"{s.label} (pid {s.pid}) exited" + (f" ({s.detail})" if s.detail else "")


def verdict(
    states: list[RankState], flight: fr.FlightRecorderReport | None = None
) -> tuple[str, str, list[int | None]]:
    """(sentence, kind, culprit ranks) from the reduced states (and flight recorder)."""
    unseen = [s for s in states if s.state == "unseen"]
    if unseen:
        sentence, kind, culprits = verdict([s for s in states if s.state != "unseen"], flight)
        hosts = unseen[0].detail or "the hosts given"
        return (
            f"{sentence}; {_ranks_text(unseen)} {'are' if len(unseen) > 1 else 'is'} {hosts}: "
            "add their hosts to see them",
            kind,
            culprits,
        )
    gone = [s for s in states if s.state in _GONE]
    suspects = [s for s in states if s.state in _SUSPECT]
    live = [s for s in states if s.live]
    classes = _classes(live)
    rest = "; ".join(_desc(c) for c in classes)
    if gone:
        if not live and not suspects and all(s.state == "exited" for s in gone):
            return "every rank exited while being sampled: the job ended", "ended", []
        sentence = "; ".join(_gone_text(s) for s in gone)
        sentence += f" while {rest}" if rest else ""
        return sentence, "exited", [s.rank for s in gone]
    if suspects:
        parts = []
        for s in suspects:
            if s.state == "stopped":
                parts.append(
                    f"{s.label} (pid {s.pid}) is {s.detail or 'stopped (state T)'}: "
                    f"`kill -CONT {s.pid}` resumes it"
                )
            elif s.state == "frozen":
                parts.append(f"{s.label} (pid {s.pid}) is frozen ({s.detail or 'cgroup freezer'})")
            else:
                parts.append(f"{s.label} (pid {s.pid}) cannot be read ({s.error or s.detail})")
        kind = (
            "stopped" if any(s.state in ("stopped", "frozen") for s in suspects) else "unreadable"
        )
        sentence = "; ".join(parts) + (f" while {rest}" if rest else "")
        return sentence, kind, [s.rank for s in suspects]
    if not live:
        return "no rank could be sampled", "unknown", []
    stuck = [s for s in live if s.state == "stuck"]
    moving = [s for s in live if s.state != "stuck"]
    if not stuck:
        return f"no hang: every rank makes progress; {rest}", "progressing", []
    waiting = [c for c in _classes(stuck) if c[0].collective]
    blocked = [c for c in _classes(stuck) if not c[0].collective]
    if blocked and (waiting or moving):
        culprits = [s for c in blocked for s in c]
        others = [c for c in classes if not (c[0].state == "stuck" and not c[0].collective)]
        sentence = (
            "; ".join(_desc(c) for c in blocked) + " while " + "; ".join(_desc(c) for c in others)
        )
        return sentence, "odd_rank_stuck", [s.rank for s in culprits]
    if waiting and moving:
        busy = _classes(moving)
        sentence = (
            "; ".join(_desc(c) for c in busy)
            + " (never reaching the collective) while "
            + "; ".join(_desc(c) for c in waiting)
        )
        return sentence, "odd_rank_slow", [s.rank for s in moving]
    if waiting:
        world = max((s.world_size or 0 for s in states), default=0)
        if len(waiting) == 1:
            c = waiting[0]
            if flight and flight.behind_ranks:
                return (
                    f"all ranks here wait in {c[0].where}{_evidence(c)}; "
                    f"the flight recorder says {flight.divergence}",
                    "all_waiting",
                    list(flight.behind_ranks),
                )
            hosts = sorted({s.host for s in states if s.host})
            here = f"on {', '.join(hosts)}" if hosts else "on this host"
            elsewhere = ""
            if world > len(states):
                elsewhere = (
                    f"; {world - len(states)} of the {world} ranks run elsewhere: run "
                    "`mltools ddp-doctor hang --hosts ...` (or --slurm-job) to see them all"
                )
            return (
                f"all {len(c)} ranks {here} wait in {c[0].where}{_evidence(c)}: no odd rank "
                f"here; suspect a rank on another node, a dead peer, or the network{elsewhere}",
                "all_waiting",
                [],
            )
        sizes = [len(c) for c in waiting]
        minority = [c for c in waiting if len(c) < max(sizes)] if len(set(sizes)) > 1 else []
        culprits = [s.rank for c in minority for s in c]
        if not culprits and flight and flight.behind_ranks:
            culprits = list(flight.behind_ranks)
        same_op = len({c[0].collective for c in waiting}) == 1
        what = (
            "call the same collective from different places"
            if same_op
            else "disagree on the collective"
        )
        return f"ranks {what}: " + "; ".join(_desc(c) for c in waiting), "mismatch", culprits
    if len(blocked) == 1:
        return (
            f"{_desc(blocked[0])}: a deadlock or a blocking call in user code",
            "all_stuck",
            [],
        )
    return rest, "diverged", [s.rank for c in blocked[1:] for s in c]


# ---------------------------------------------------------------- report


@dataclass
class HangReport:
    """The verdict first, then the evidence."""

    verdict: str
    kind: str  # see KINDS
    culprits: list[int | None]
    ranks: list[RankState]
    groups: list[Group]
    samples: int
    interval_seconds: float
    duration_seconds: float
    flight_recorder: fr.FlightRecorderReport | None = None
    window_seconds: float = 6.0
    ignored: list[Ignored] = field(default_factory=list)
    world_size: int | None = None
    job: str | None = None
    hosts: list[dict[str, Any]] = field(default_factory=list)  # --hosts: each host's outcome


@dataclass
class Group:
    """Ranks sharing one signature."""

    ranks: list[int | None]
    pids: list[int | None]
    state: str
    collective: str | None
    call: str | None
    frame: str | None


def group_states(states: list[RankState]) -> list[Group]:
    """Group live ranks by (state, collective/call, user frame); biggest group first."""
    out = [
        Group(
            ranks=[m.rank for m in members],
            pids=[m.pid for m in members],
            state="stuck" if all(m.state == "stuck" for m in members) else members[0].state,
            collective=members[0].collective,
            call=members[0].call,
            frame=members[0].frame,
        )
        for members in _classes([s for s in states if s.live])
    ]
    return sorted(out, key=lambda g: (-len(g.ranks), g.collective is None))


def _started(ranks: list[RankProcess]) -> float | None:
    """When the earliest rank process started (epoch seconds)."""
    import contextlib

    import psutil

    times = []
    for r in ranks:
        if r.pid is not None:
            with contextlib.suppress(psutil.Error):
                times.append(psutil.Process(r.pid).create_time())
    return min(times) if times else None


def _check_options(samples: int, interval: float, window: float, max_window: float) -> None:
    if samples < 1:
        raise HangError("--samples must be at least 1")
    for name, value in (
        ("--interval", interval),
        ("--window", window),
        ("--max-window", max_window),
    ):
        if not (value >= 0 and value < float("inf")):
            raise HangError(f"{name} must be a finite number of seconds, not {value}")


def analyze_hang(
    pids: Iterable[int] = (),
    *,
    samples: int = 3,
    interval: float = 0.5,
    window: float = 6.0,
    max_window: float = 20.0,
    native: bool = False,
    flight_recorder: Iterable[str | Path] | None = None,
    env: Mapping[str, str] | None = None,
    offline: bool = False,
) -> HangReport:
    """Find the ranks (or use ``pids``), watch them and name the odd one(s) out.

    ``window``: seconds a rank must stand still (same stack, no CPU) before it is
    called stuck; ``max_window`` bounds the whole sampling. ``flight_recorder``:
    dump files/directories/prefixes to read; None reads the dumps written since
    the ranks started at the job's ``TORCH_FR_DUMP_TEMP_FILE`` (read from the
    ranks' environment). When no rank is running and dumps are named (or the
    configured dump path has some), or with ``offline``, the dumps are analysed on
    their own.
    """
    _check_options(samples, interval, window, max_window)
    start = time.monotonic()
    paths = list(flight_recorder) if flight_recorder is not None else None
    if offline:
        return analyze_flight_recorder(paths or [fr.default_prefix(env)], env)
    pyspy.pyspy_path()
    try:
        found = discover(pids)
    except HangError:
        if list(pids):
            raise
        offline = paths or (
            [fr.default_prefix(env)] if any(k in (env or os.environ) for k in fr.ENV_NAMES) else []
        )
        if offline:
            return analyze_flight_recorder(offline, env)
        raise
    ranks = found.ranks

    def read_flight() -> fr.FlightRecorderReport | None:
        if paths is None:
            prefixes = sorted({r.fr_prefix for r in ranks if r.fr_prefix})
            if not prefixes:
                return None
            return fr.read_flight_recorder(prefixes, env, newer_than=_started(ranks))
        return fr.read_flight_recorder(paths, env) if paths else None

    flight = read_flight()
    states = sample_stacks(
        ranks, samples=samples, interval=interval, window=window, max_window=max_window,
        native=native, flight=flight,
    )  # fmt: skip
    # dumps written while sampling (a rank's watchdog, a timeout) count too
    flight = read_flight() or flight
    return _report(states, flight, found, samples, interval, window, time.monotonic() - start)


def _report(
    states: list[RankState],
    flight: fr.FlightRecorderReport | None,
    found: Discovery | None,
    samples: int,
    interval: float,
    window: float,
    duration: float,
    hosts: list[dict[str, Any]] | None = None,
) -> HangReport:
    sentence, kind, culprits = verdict(states, flight)
    if flight is not None and flight.divergence and flight.divergence not in sentence:
        sentence += f" (flight recorder: {flight.divergence})"
    if found is not None and found.ignored:
        sentence += "; ignored: " + "; ".join(i.reason for i in found.ignored)
    taken = max((s.evidence.samples for s in states), default=0)
    return HangReport(
        verdict=sentence,
        kind=kind,
        culprits=culprits,
        ranks=states,
        groups=group_states(states),
        samples=taken or samples,
        interval_seconds=interval,
        duration_seconds=duration,
        flight_recorder=flight,
        window_seconds=window,
        ignored=found.ignored if found else [],
        world_size=found.world_size if found else None,
        job=found.job if found else None,
        hosts=hosts or [],
    )


def analyze_flight_recorder(
    paths: Iterable[str | Path], env: Mapping[str, str] | None = None
) -> HangReport:
    """The dumps of a job that is gone, analysed on their own (no rank is running)."""
    start = time.monotonic()
    flight = fr.read_flight_recorder(list(paths), env, require_consistent=True)
    if flight is None:
        raise HangError(
            "no DDP rank processes found, and no flight-recorder dumps at "
            + ", ".join(map(str, paths)),
            hint="pass the running job with --pid, or the dumps with --flight-recorder DIR|PREFIX",
        )
    states = [
        RankState(
            rank=t.rank, pid=None, state="dump", collective=t.last_enqueued_op, call=None,
            frame=t.frame, detail=f"last enqueued #{t.last_enqueued}, last completed "
            f"#{t.last_completed} ({t.path})",
        )
        for t in flight.ranks
    ]  # fmt: skip
    missing = flight.missing_ranks
    if flight.divergence:
        sentence = f"from the flight-recorder dumps (no rank is running): {flight.divergence}"
        culprits: list[int | None] = list(flight.behind_ranks)
        if not culprits and flight.divergence_seq is not None:
            ops: dict[str, list[int]] = {}
            for t in flight.ranks:
                op = t.ops.get(flight.divergence_seq)
                if op is not None:
                    ops.setdefault(op, []).append(t.rank)
            if len(ops) > 1:
                sizes = sorted(len(v) for v in ops.values())
                if sizes[0] < sizes[-1]:
                    culprits = [r for v in ops.values() if len(v) == sizes[0] for r in v]
    else:
        last = {t.last_enqueued for t in flight.ranks}
        sentence = (
            "from the flight-recorder dumps (no rank is running): every rank enqueued the same "
            f"collectives (last #{', '.join(str(x) for x in sorted(last, key=lambda v: v or -1))})"
        )
        culprits = []
    if missing:
        sentence += f"; no dump from rank(s) {', '.join(map(str, missing))}"
        culprits = culprits or list(missing)
    if flight.warnings:
        sentence += "; " + "; ".join(flight.warnings)
    return HangReport(
        verdict=sentence,
        kind="flight_recorder",
        culprits=culprits,
        ranks=states,
        groups=[],
        samples=0,
        interval_seconds=0.0,
        duration_seconds=time.monotonic() - start,
        flight_recorder=flight,
        world_size=flight.world_size,
    )
