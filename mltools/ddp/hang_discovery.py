"""Find the ranks of a distributed job on this host, by what a rank is.

A rank is a Python process that carries one of the rank vocabularies in its
environment (torch's ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``, set by torchrun,
``accelerate launch``, ``deepspeed`` and Lightning; Slurm's ``SLURM_PROCID`` in a
job step; Open MPI's ``OMPI_COMM_WORLD_RANK``; MPICH/Hydra's ``PMI_RANK``; PMIx's
``PMIX_RANK``), or a child of ``torch.multiprocessing.spawn`` (started through
``multiprocessing.spawn``'s ``spawn_main``: no rank in any environment, so its
rank is read from its stack: the spawn index ``i`` of ``_wrap``, via py-spy
``--locals``). Launchers (torchrun, accelerate, deepspeed, mpirun and friends,
srun/slurmstepd) are never ranks, and neither is anything below a rank
(DataLoader workers, helpers) or multiprocessing's resource tracker.

``--pid`` of a process that is not a rank (a bash wrapper, a launcher, the
script that called ``mp.spawn``, any ancestor) leads to the ranks under it.
Every expected local rank of a launcher is accounted for: one missing from its
children (it exited), a zombie, a stopped or frozen one and one that cannot be
read are named, and are the suspects. A forked helper that inherited ``RANK``
but no longer descends from the launcher (an orphan) is listed as ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mltools import _procfs
from mltools._procfs import read_environ
from mltools.ddp import flight_recorder as fr
from mltools.ddp import pyspy
from mltools.errors import MltoolsError


class HangError(MltoolsError):
    """No rank processes could be found or named, or they belong to several jobs."""


@dataclass(frozen=True)
class Vocabulary:
    """The environment names one launcher family uses for a rank's identity."""

    name: str
    rank: str
    local_rank: str | None
    world_size: str | None
    local_world_size: str | None
    node: str | None
    requires: tuple[str, ...] = ()  # names that must be there too (a Slurm job *step*)


VOCABULARIES = (
    # torchrun, torch.distributed.launch, accelerate, deepspeed, Lightning (LOCAL_RANK only)
    Vocabulary("torch", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK"),
    Vocabulary(
        "openmpi",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "OMPI_COMM_WORLD_NODE_RANK",
    ),
    Vocabulary("mpich", "PMI_RANK", "MPI_LOCALRANKID", "PMI_SIZE", "MPI_LOCALNRANKS", None),
    Vocabulary("pmix", "PMIX_RANK", None, "PMIX_SIZE", "PMIX_LOCAL_SIZE", None),
    Vocabulary(
        "slurm",
        "SLURM_PROCID",
        "SLURM_LOCALID",
        "SLURM_NTASKS",
        None,
        "SLURM_NODEID",
        requires=("SLURM_STEP_ID",),
    ),
)
# What starts ranks (matched on the program's or the Python script's/module's name)
_LAUNCHER_MODULES = {
    "torch.distributed.run": "torchrun",
    "torch.distributed.launch": "torchrun",
    "deepspeed.launcher.launch": "deepspeed",
    "deepspeed.launcher.runner": "deepspeed",
    "accelerate.commands.launch": "accelerate",
    "accelerate.commands.accelerate_cli": "accelerate",
}
_LAUNCHER_PROGRAMS = {
    "torchrun": "torchrun",
    "accelerate": "accelerate",
    "deepspeed": "deepspeed",
    "mpirun": "mpi",
    "mpiexec": "mpi",
    "orterun": "mpi",
    "prterun": "mpi",
    "orted": "mpi",
    "prted": "mpi",
    "hydra_pmi_proxy": "mpi",
    "mpiexec.hydra": "mpi",
    "srun": "slurm",
    "slurmstepd": "slurm",
}
_SPAWN_CHILD = "from multiprocessing.spawn import spawn_main"
_NEVER_RANKS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
_TORCH_SPAWN = "torch/multiprocessing/spawn.py"


@dataclass
class RankProcess:
    """A rank found on this host (or one that should be there and is not)."""

    pid: int | None
    rank: int | None
    local_rank: int | None = None
    world_size: int | None = None
    # how it was found: environ, pid, nvml, or its launcher (torchrun, accelerate, deepspeed,
    # mpi, slurm, spawn, lightning)
    source: str = "pid"
    agent_pid: int | None = None  # the launcher it descends from
    job: str | None = None
    fr_prefix: str | None = None  # where the job writes flight-recorder dumps, if set
    local_world_size: int | None = None
    group_rank: int | None = None
    # live | missing (not among the launcher's children) | zombie | stopped | frozen | unreadable
    status: str = "live"
    detail: str | None = None
    start_ticks: int | None = None  # with the pid, identifies the process (pids are reused)
    vocabulary: str | None = None  # which environment names gave the rank


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


def cmdline(pid: int) -> list[str]:
    """``/proc/PID/cmdline`` as a list ([] when unreadable)."""
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
    argv0 = os.path.basename((cmdline(pid) or [""])[0])
    return "python" in exe or "python" in argv0


def launcher_kind(pid: int, comm: str = "") -> str | None:
    """'torchrun', 'accelerate', 'deepspeed', 'mpi' or 'slurm' for a launcher process, else None."""
    if comm == "slurmstepd":
        return "slurm"
    argv = cmdline(pid)
    if not argv:
        return None
    names = [os.path.basename(argv[0])]
    if "python" in names[0]:
        rest = [a for a in argv[1:] if not a.startswith("-") or a == "-m"]
        if rest[:1] == ["-m"] and len(rest) > 1:
            if rest[1] in _LAUNCHER_MODULES:
                return _LAUNCHER_MODULES[rest[1]]
            names = [rest[1]]
        elif rest:
            names = [os.path.basename(rest[0])]
    for name in names:
        kind = _LAUNCHER_PROGRAMS.get(name)
        if kind == "accelerate" and "launch" not in argv:
            return None
        if kind:
            return kind
    return None


def _job_key(env: Mapping[str, str], fallback: str = "") -> str:
    key = "|".join(env.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT"))
    if key != "||":
        return key
    for name in ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_ID"):
        if env.get(name):
            return f"{name}={env[name]}||"
    if env.get("SLURM_JOB_ID"):
        return f"slurm {env['SLURM_JOB_ID']}.{env.get('SLURM_STEP_ID', '')}||"
    return fallback or key


def job_label(job: str | None) -> str:
    """'MASTER_ADDR=x MASTER_PORT=29500 (run id y)' from a job key."""
    if not job:
        return "an unnamed job"
    run_id, addr, port = ([*job.split("|"), "", "", ""])[:3]
    if not addr and not port:
        return run_id or "an unnamed job"
    text = f"MASTER_ADDR={addr or '?'} MASTER_PORT={port or '?'}"
    return text + (f" run id {run_id}" if run_id and run_id != "none" else "")


def vocabulary_of(env: Mapping[str, str] | None) -> Vocabulary | None:
    """The first rank vocabulary ``env`` speaks (torch's first), or None."""
    if not env:
        return None
    for v in VOCABULARIES:
        if (
            v.rank in env
            or (v.local_rank is not None and v.name == "torch" and v.local_rank in env)
        ) and all(k in env for k in v.requires):
            return v
    return None


def _from_env(pid: int, env: Mapping[str, str], source: str) -> RankProcess:
    v = vocabulary_of(env) or VOCABULARIES[0]
    rank = _int(env.get(v.rank))
    local = _int(env.get(v.local_rank)) if v.local_rank else None
    node = _int(env.get(v.node)) if v.node else None
    if v.name == "torch" and node is None:
        node = _int(env.get("NODE_RANK"))
    if rank is None and local is not None and not node:
        rank = local  # Lightning's children: LOCAL_RANK (and NODE_RANK) only
    return RankProcess(
        pid=pid,
        rank=rank,
        local_rank=local,
        world_size=_int(env.get(v.world_size)) if v.world_size else None,
        source=source,
        job=_job_key(env),
        fr_prefix=next((env[k] for k in fr.ENV_NAMES if env.get(k)), None),
        local_world_size=_int(env.get(v.local_world_size)) if v.local_world_size else None,
        group_rank=node,
        vocabulary=v.name,
    )


def _gpu_pids() -> list[int]:
    from mltools.gpu.nvml import gpu_pids  # every GPU and MIG instance; never raises

    return gpu_pids()


class ProcessTable:
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
        self._kinds: dict[int, str | None] = {}

    def ancestors(self, pid: int) -> list[int]:
        """Parent, grandparent, ... up to pid 1."""
        out, seen = [], {pid}
        st = self.stats.get(pid)
        while st is not None and st.ppid > 0 and st.ppid not in seen:
            out.append(st.ppid)
            seen.add(st.ppid)
            st = self.stats.get(st.ppid)
        return out

    def descendants(self, pid: int) -> list[int]:
        """Every process below ``pid``, breadth first."""
        out, todo, seen = [], [pid], {pid}
        while todo:
            for child in self.children.get(todo.pop(0), []):
                if child not in seen:
                    seen.add(child)
                    out.append(child)
                    todo.append(child)
        return out

    def kind(self, pid: int) -> str | None:
        """The launcher kind of ``pid`` (cached), else None."""
        if pid not in self._kinds:
            st = self.stats.get(pid)
            self._kinds[pid] = launcher_kind(pid, st.comm if st else "")
        return self._kinds[pid]

    def launcher_of(self, pid: int) -> int | None:
        """The nearest ancestor that is a launcher (torchrun, mpirun, slurmstepd, ...)."""
        return next((a for a in self.ancestors(pid) if self.kind(a)), None)


def _is_spawn_child(pid: int) -> bool:
    argv = cmdline(pid)
    return any(_SPAWN_CHILD in a for a in argv) and "--multiprocessing-fork" in argv


def _never_a_rank(pid: int) -> bool:
    return any(m in a for a in cmdline(pid) for m in _NEVER_RANKS)


def _spawn_rank(pid: int, parent: int | None) -> RankProcess | str:
    """A torch.multiprocessing.spawn child's rank from its stack, or why it is not one."""
    try:
        threads = pyspy.dump_stacks(pid, local_vars=True, timeout=10)
    except pyspy.AttachError as exc:
        return f"pid {pid} is a multiprocessing spawn child whose stack cannot be read ({exc})"
    main = pyspy.main_thread(threads, pid)
    frames = main.python_frames if main else []
    wrap = next((f for f in frames if f.name == "_wrap" and _TORCH_SPAWN in f.filename), None)
    if wrap is None:
        return (
            f"pid {pid} is a multiprocessing spawn child, not one of torch.multiprocessing.spawn's "
            "ranks (no _wrap on its stack)"
        )
    index = _int(wrap.local("i"))
    init = next((f for f in frames if f.name == "init_process_group"), None)
    rank = _int(init.local("rank")) if init else None
    world = _int(init.local("world_size")) if init else None
    env = read_environ(pid) or {}
    r = RankProcess(
        pid=pid,
        rank=rank if rank is not None and rank >= 0 else index,
        local_rank=index,
        world_size=world if world is not None and world > 0 else _int(env.get("WORLD_SIZE")),
        source="spawn",
        agent_pid=parent,
        job=_job_key(env, fallback=f"processes under pid {parent}||"),
        fr_prefix=next((env[k] for k in fr.ENV_NAMES if env.get(k)), None),
        vocabulary="spawn",
    )
    return r


def _spawn_nprocs(parent: int) -> int | None:
    """``nprocs`` of the ``start_processes`` frame of the process that called mp.spawn."""
    try:
        threads = pyspy.dump_stacks(parent, local_vars=True, timeout=10)
    except pyspy.AttachError:
        return None
    main = pyspy.main_thread(threads, parent)
    for f in main.python_frames if main else []:
        if f.name == "start_processes" and _TORCH_SPAWN in f.filename:
            return _int(f.local("nprocs"))
    return None


def _expected_local(agent: int, members: list[RankProcess]) -> int | None:
    sizes = {r.local_world_size for r in members if r.local_world_size}
    if len(sizes) == 1:
        return sizes.pop()
    argv = cmdline(agent)
    for i, a in enumerate(argv):
        for opt in ("--nproc-per-node", "--nproc_per_node"):
            if a == opt and i + 1 < len(argv):
                return _int(argv[i + 1])
            if a.startswith(opt + "="):
                return _int(a.split("=", 1)[1])
    return None


def _account(table: ProcessTable, agent: int, members: list[RankProcess]) -> list[RankProcess]:
    """The launcher's local ranks that are not live among ``members``: zombies, unreadable, missing."""
    expected = _expected_local(agent, members)
    have = {r.local_rank for r in members if r.local_rank is not None}
    known = {r.pid for r in members}
    out: list[RankProcess] = []
    template = members[0] if members else RankProcess(pid=None, rank=None)
    alive_unselected = 0  # live siblings of the ranks asked for (--pid of one rank)
    for child in table.children.get(agent, []):
        if child in known:
            continue
        st = table.stats.get(child)
        env = read_environ(child)
        v = vocabulary_of(env)
        if st is not None and st.state not in ("Z", "X") and env is not None:
            if v is not None and v.local_rank and _int((env or {}).get(v.local_rank)) is not None:
                have.add(_int((env or {}).get(v.local_rank)))
            elif _is_spawn_child(child):
                alive_unselected += 1
            continue
        if st is not None and st.state in ("Z", "X"):
            out.append(
                RankProcess(
                    pid=child, rank=None, source=template.source, agent_pid=agent, job=template.job,
                    world_size=template.world_size, status="zombie", start_ticks=st.start_ticks,
                    detail="a zombie: it exited and its launcher has not reaped it",
                )
            )  # fmt: skip
        elif env is None and st is not None:
            out.append(
                RankProcess(
                    pid=child, rank=None, source=template.source, agent_pid=agent, job=template.job,
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
    missing = missing[: max(0, len(missing) - alive_unselected)]
    unnamed = [r for r in out if r.local_rank is None]
    if len(missing) == len(unnamed) == 1:  # the one local rank left is that child
        unnamed[0].local_rank = missing[0]
        unnamed[0].rank = None if base is None else base + missing[0]
        missing = []
    for lr in missing if not unnamed else []:
        out.append(
            RankProcess(
                pid=None, rank=None if base is None else base + lr, local_rank=lr,
                world_size=template.world_size, source=template.source, agent_pid=agent,
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


def _candidate(table: ProcessTable, pid: int) -> RankProcess | str | None:
    """The pid as a rank candidate from its environment, 'spawn' for a spawn child, else None."""
    if table.kind(pid) or _never_a_rank(pid):
        return None
    if _is_spawn_child(pid):
        return "spawn"
    env = read_environ(pid)
    if vocabulary_of(env) is not None and _is_python(pid):
        return _from_env(pid, env or {}, "environ")
    return None


def _topmost(
    table: ProcessTable, found: dict[int, RankProcess | str]
) -> dict[int, RankProcess | str]:
    """Candidates with no candidate above them (workers and helpers inherit a rank's env)."""
    return {p: c for p, c in found.items() if not any(a in found for a in table.ancestors(p))}


def _lightning_parent(table: ProcessTable, ranks: list[RankProcess]) -> list[RankProcess]:
    """Lightning's launcher is local rank 0 itself: it re-runs its own command line for
    local ranks 1.. with LOCAL_RANK set, and keeps no LOCAL_RANK of its own."""
    out = []
    by_parent: dict[int, list[RankProcess]] = {}
    for r in ranks:
        st = table.stats.get(r.pid or -1)
        if st is not None and r.vocabulary == "torch" and r.agent_pid is None:
            by_parent.setdefault(st.ppid, []).append(r)
    known = {r.pid for r in ranks}
    for parent, kids in by_parent.items():
        if parent in known or 0 in {k.local_rank for k in kids} or not _is_python(parent):
            continue
        if vocabulary_of(read_environ(parent)) is not None or table.kind(parent):
            continue
        if any(cmdline(k.pid or -1)[1:] != cmdline(parent)[1:] for k in kids):
            continue
        env = read_environ(parent) or {}
        t = kids[0]
        out.append(
            RankProcess(
                pid=parent, rank=0 if not t.group_rank else None, local_rank=0,
                world_size=t.world_size, source="lightning", job=t.job,
                fr_prefix=next((env[k] for k in fr.ENV_NAMES if env.get(k)), t.fr_prefix),
                group_rank=t.group_rank, vocabulary="torch",
            )
        )  # fmt: skip
        for k in kids:
            k.source = "lightning"
    return out


def discover(pids: Iterable[int] = ()) -> Discovery:
    """The ranks of one job on this host, every expected local rank accounted for.

    With ``pids``: those processes; a pid that is not a rank (a launcher, a wrapper,
    the script that called ``mp.spawn``, any ancestor) leads to the ranks under it;
    pids of two jobs (different MASTER_ADDR/MASTER_PORT/run id) raise ``HangError``.
    Without: every process that is a rank (see the module's docstring), plus
    processes holding GPUs when NVML is available; several jobs at once raise
    ``HangError`` listing them.
    """
    me = os.getpid()
    table = ProcessTable()
    skip = {me, *table.ancestors(me)}
    wanted = list(pids)
    agents: set[int] = set()
    plain: list[RankProcess] = []
    ignored: list[Ignored] = []
    for pid in wanted:
        if pid not in table.stats:
            raise HangError(f"no process with pid {pid}", hint="list them with `ps -ef`")
    found: dict[int, RankProcess | str] = {}
    if wanted:
        for pid in wanted:
            own = _candidate(table, pid)
            if own is not None:
                found[pid] = (
                    own if isinstance(own, str) else _from_env(pid, read_environ(pid) or {}, "pid")
                )
                continue
            below = {c: cand for c in table.descendants(pid) if (cand := _candidate(table, c))}
            if table.kind(pid):
                agents.add(pid)
            if below:
                found.update(below)
            elif _is_python(pid):
                plain.append(RankProcess(pid=pid, rank=None, source="pid"))
            else:
                st = table.stats.get(pid)
                raise HangError(
                    f"pid {pid} ({st.comm if st else '?'}) is not a Python process and has no "
                    "rank processes under it",
                    hint="pass the training processes, their launcher or a wrapper above them",
                )
    else:
        for pid in table.stats:
            if pid not in skip and (cand := _candidate(table, pid)) is not None:
                found[pid] = cand
    candidates: list[RankProcess] = []
    spawn_parents: dict[int, int | None] = {}
    for pid, cand in _topmost(table, found).items():
        if isinstance(cand, RankProcess):
            candidates.append(cand)
            continue
        st = table.stats.get(pid)
        parent = st.ppid if st else None
        got = _spawn_rank(pid, parent)
        if isinstance(got, str):
            if wanted:
                ignored.append(Ignored(pid, None, got))
            continue
        if parent is not None and parent not in spawn_parents:
            spawn_parents[parent] = _spawn_nprocs(parent)
        n = spawn_parents.get(parent) if parent is not None else None
        got.local_world_size = n
        got.world_size = got.world_size or n
        candidates.append(got)
    if not wanted:
        known = {r.pid for r in candidates}
        for pid in _gpu_pids():
            if pid not in known and pid not in skip and pid in table.stats:
                env = read_environ(pid) or {}
                candidates.append(
                    _from_env(pid, env, "nvml") if env else RankProcess(pid, None, source="nvml")
                )
    cand_pids = {r.pid for r in candidates}
    kept = [r for r in candidates if not any(a in cand_pids for a in table.ancestors(r.pid or -1))]
    for r in kept:
        assert r.pid is not None
        if r.source == "spawn":
            if r.agent_pid is not None:
                agents.add(r.agent_pid)
            continue
        agent = table.launcher_of(r.pid)
        if agent is not None:
            r.agent_pid = agent
            r.source = table.kind(agent) or r.source
    kept.extend(_lightning_parent(table, kept))
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
            if launched and r.agent_pid is None and r.source != "lightning":
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
            hint=f"{how} (a launcher's pid selects all its ranks)",
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
                f"pid(s) {', '.join(map(str, wanted))} have no rank processes under them"
                + (f" ({'; '.join(i.reason for i in ignored)})" if ignored else ""),
                hint="pass the pids of the training processes (or of their launcher)",
            )
        why = (
            f" ({len(ignored)} orphaned process(es) with a rank's environment were ignored)"
            if ignored
            else ""
        )
        raise HangError(
            "no DDP rank processes found (no process has a rank in its environment "
            "(RANK, LOCAL_RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK) and "
            "none was started by torch.multiprocessing.spawn)" + why,
            hint="pass the training processes with --pid (a launcher's or wrapper's pid selects "
            "the ranks under it)",
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
