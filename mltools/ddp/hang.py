"""Name the rank that hangs a DDP job: find the ranks, sample their stacks, compare.

The method people use by hand is ``py-spy dump`` on every rank and staring at
the stacks until the odd one out shows up. ``analyze_hang`` does the staring:
each rank's main thread is reduced to a signature (the collective or blocking
call it sits in and the first frame of user code above it), ranks with the same
signature form a group, and the rank(s) outside the waiting majority are named.
Several samples a few seconds apart tell *stuck* (the same stack every time)
from *slow* (the stack moves). Flight-recorder dumps, when present, add each
rank's last enqueued/completed collective and where the sequences diverge.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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
_USER_EVEN_IF_INSTALLED = re.compile(r"mltools/ddp/smoke\.py$")
# Stuck in autograd's backward under DDP means waiting for the gradient all_reduce.
_BACKWARD = frozenset({"backward", "_engine_run_backward", "run_backward"})
_LAUNCHERS = ("torchrun", "torch.distributed.run", "torch.distributed.launch")


class HangError(MltoolsError):
    """No rank processes could be found or named."""


@dataclass
class RankProcess:
    """A rank process found on this host."""

    pid: int
    rank: int | None
    local_rank: int | None = None
    world_size: int | None = None
    source: str = "pid"  # how it was found: environ, torchrun, nvml, pid
    agent_pid: int | None = None
    job: str | None = None
    fr_prefix: str | None = None  # where the job writes flight-recorder dumps, if set


@dataclass
class RankState:
    """One rank's reduced stack over the samples."""

    rank: int | None
    pid: int
    state: str  # stuck | slow | exited | error
    collective: str | None  # the collective it sits in, if any
    call: str | None  # the library call below user code (collective, __next__, backward...)
    frame: str | None  # first user frame: file:line (function)
    stack: list[str] = field(default_factory=list)  # main thread, innermost first, last sample
    error: str | None = None

    @property
    def label(self) -> str:
        return f"rank {self.rank}" if self.rank is not None else f"pid {self.pid}"

    @property
    def where(self) -> str:
        what = self.collective or self.call
        if what and self.frame:
            return f"{what} at {self.frame}"
        return what or self.frame or "an unknown place"


@dataclass
class Group:
    """Ranks sharing one signature."""

    ranks: list[int | None]
    pids: list[int]
    state: str
    collective: str | None
    call: str | None
    frame: str | None


@dataclass
class HangReport:
    """The verdict first, then the evidence."""

    verdict: str
    kind: str  # odd_rank_stuck | odd_rank_slow | mismatch | exited | all_waiting | all_stuck | progressing | diverged
    culprits: list[int | None]
    ranks: list[RankState]
    groups: list[Group]
    samples: int
    interval_seconds: float
    duration_seconds: float
    flight_recorder: fr.FlightRecorderReport | None = None


# ---------------------------------------------------------------- discovery


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _is_python(proc) -> bool:  # type: ignore[no-untyped-def]
    import psutil

    try:
        name = proc.name()
        exe = os.path.basename(proc.exe() or "")
    except (psutil.Error, OSError):
        return False
    return "python" in name or "python" in exe


def _is_launcher(proc) -> bool:  # type: ignore[no-untyped-def]
    import psutil

    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return any(token in cmd for token in _LAUNCHERS)


def _from_env(pid: int, env: Mapping[str, str], source: str) -> RankProcess:
    rank = _int(env.get("RANK")) if "RANK" in env else _int(env.get("SLURM_PROCID"))
    job = "|".join(
        env.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK")
    )
    return RankProcess(
        pid=pid,
        rank=rank,
        local_rank=_int(env.get("LOCAL_RANK")),
        world_size=_int(env.get("WORLD_SIZE")),
        source=source,
        job=job,
        fr_prefix=next((env[k] for k in fr.ENV_NAMES if env.get(k)), None),
    )


def _gpu_pids() -> list[int]:
    from mltools.gpu.nvml import gpu_pids  # every GPU and MIG instance; never raises

    return gpu_pids()


def _dedupe(found: list[RankProcess]) -> list[RankProcess]:
    """One process per (job, rank): the topmost Python one.

    DataLoader workers and other children inherit the rank's environment, and a
    shell wrapper carries it too; neither is the rank.
    """
    import psutil

    ancestors: dict[int, set[int]] = {}
    python: set[int] = set()
    for r in found:
        try:
            proc = psutil.Process(r.pid)
            ancestors[r.pid] = {p.pid for p in proc.parents()}
        except psutil.Error:
            continue  # exited meanwhile
        if _is_python(proc):
            python.add(r.pid)
    by_key: dict[tuple[str | None, int | None, int], RankProcess] = {}
    for r in found:
        if r.pid not in python:
            continue
        if any(
            o.pid in python and o.pid in ancestors[r.pid] and (o.rank, o.job) == (r.rank, r.job)
            for o in found
        ):
            continue
        by_key.setdefault((r.job, r.rank, 0 if r.rank is not None else r.pid), r)
    return sorted(by_key.values(), key=lambda r: (r.rank is None, r.rank or 0, r.pid))


def discover_ranks(pids: Iterable[int] = ()) -> list[RankProcess]:
    """Rank processes on this host, each mapped to its rank.

    With ``pids``: those processes (a torchrun agent pid expands to its workers).
    Without: every process whose environment has ``RANK``/``LOCAL_RANK`` (torchrun,
    elastic, Slurm), plus processes holding GPUs when NVML is available. Several
    jobs at once raise ``HangError`` listing them so that the user picks one.
    """
    import psutil

    me = os.getpid()
    skip = {me, *(p.pid for p in psutil.Process(me).parents())}
    wanted = list(pids)
    found: list[RankProcess] = []
    if wanted:
        for pid in wanted:
            if not psutil.pid_exists(pid):
                raise HangError(f"no process with pid {pid}", hint="list them with `ps -ef`")
            proc = psutil.Process(pid)
            env = read_environ(pid) or {}
            if _is_launcher(proc) and "RANK" not in env:
                for child in proc.children(recursive=True):
                    cenv = read_environ(child.pid) or {}
                    if "RANK" in cenv or "LOCAL_RANK" in cenv:
                        r = _from_env(child.pid, cenv, "torchrun")
                        r.agent_pid = pid
                        found.append(r)
                continue
            if "RANK" in env or "LOCAL_RANK" in env or "SLURM_PROCID" in env:
                found.append(_from_env(pid, env, "pid"))
            else:
                found.append(RankProcess(pid=pid, rank=None, source="pid"))
        ranks = _dedupe(found) if found else []
        if not ranks:
            raise HangError(
                f"pid(s) {', '.join(map(str, wanted))} have no rank processes under them",
                hint="pass the pids of the training processes (or of torchrun)",
            )
        return ranks
    for proc in psutil.process_iter(["pid"]):
        pid = proc.info["pid"]
        if pid in skip:
            continue
        env = read_environ(pid)
        if not env or not ("RANK" in env or "LOCAL_RANK" in env):
            continue
        r = _from_env(pid, env, "environ")
        try:
            parent = proc.parent()
            if parent is not None and _is_launcher(parent):
                r.source, r.agent_pid = "torchrun", parent.pid
        except psutil.Error:
            pass
        found.append(r)
    known = {r.pid for r in found}
    for pid in _gpu_pids():
        if pid not in known and pid not in skip and psutil.pid_exists(pid):
            env = read_environ(pid) or {}
            r = _from_env(pid, env, "nvml") if env else RankProcess(pid, None, source="nvml")
            found.append(r)
    ranks = _dedupe(found)
    jobs = sorted({r.job for r in ranks if r.job is not None})
    if len(jobs) > 1:
        listing = "; ".join(
            f"pids {', '.join(str(r.pid) for r in ranks if r.job == j)}" for j in jobs
        )
        raise HangError(
            f"found {len(jobs)} distributed jobs on this host ({listing})",
            hint="pick one with --pid (a torchrun pid selects all its ranks)",
        )
    if not ranks:
        raise HangError(
            "no DDP rank processes found (no process has RANK/LOCAL_RANK in its environment)",
            hint="pass the training processes with --pid (a torchrun pid selects its ranks)",
        )
    return ranks


# ---------------------------------------------------------------- signatures


def is_library_file(filename: str) -> bool:
    """True for the standard library, installed packages and frozen modules."""
    return bool(_LIBRARY.search(filename)) and not _USER_EVEN_IF_INSTALLED.search(filename)


def _fmt(f: pyspy.Frame) -> str:
    return f"{f.where} ({f.name})"


def signature(frames: list[pyspy.Frame]) -> tuple[str | None, str | None, str | None]:
    """(collective, call, user frame) for a stack given innermost first."""
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


def _reduce(rank: RankProcess, samples: list[list[pyspy.ThreadStack] | Exception]) -> RankState:
    stacks: list[list[pyspy.Frame]] = []
    error = None
    for s in samples:
        if isinstance(s, Exception):
            error = getattr(s, "message", str(s))
            continue
        main = pyspy.main_thread(s, rank.pid)
        if main is not None:
            stacks.append(main.frames)
    if not stacks:
        exited = not Path(f"/proc/{rank.pid}").exists() or (error and "exited" in error)
        return RankState(
            rank.rank,
            rank.pid,
            "exited" if exited else "error",
            None,
            None,
            None,
            error=error,
        )
    collective, call, frame = signature(stacks[-1])
    same = all(s == stacks[0] for s in stacks)
    state = "stuck" if same and len(stacks) > 1 else ("slow" if not same else "stuck")
    return RankState(
        rank.rank,
        rank.pid,
        state,
        collective,
        call,
        frame,
        stack=[_fmt(f) for f in stacks[-1]],
        error=error,
    )


def sample_stacks(
    ranks: list[RankProcess], *, samples: int = 3, interval: float = 1.0, native: bool = False
) -> list[RankState]:
    """Take ``samples`` py-spy snapshots of every rank (in parallel), reduce each rank."""
    per_rank: dict[int, list[list[pyspy.ThreadStack] | Exception]] = {r.pid: [] for r in ranks}

    def one(pid: int) -> list[pyspy.ThreadStack] | Exception:
        try:
            return pyspy.dump_stacks(pid, native=native)
        except pyspy.AttachError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(len(ranks), 8))) as pool:
        for i in range(samples):
            if i:
                time.sleep(interval)
            for pid, result in zip(per_rank, pool.map(one, list(per_rank))):
                per_rank[pid].append(result)
    states = [_reduce(r, per_rank[r.pid]) for r in ranks]
    errors = [s for s in states if s.state == "error"]
    if errors and len(errors) == len(states):
        first = errors[0].error or "unknown error"
        hint = pyspy.PTRACE_FIX if "permission" in first or "attach" in first else None
        raise pyspy.AttachError(f"could not read any rank's stack: {first}", hint=hint)
    return states


# ---------------------------------------------------------------- verdict


def _ranks_text(states: list[RankState]) -> str:
    ranks = [s.rank for s in states]
    if all(r is not None for r in ranks):
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
        return ("rank " if len(nums) == 1 else "ranks ") + ", ".join(parts)
    return ", ".join(s.label for s in states)


def group_states(states: list[RankState]) -> list[Group]:
    """Group live ranks by (collective/call, user frame); biggest group first."""
    groups: dict[tuple[str | None, str | None, str | None], list[RankState]] = {}
    for s in states:
        if s.state in ("exited", "error"):
            continue
        groups.setdefault((s.collective, s.call, s.frame), []).append(s)
    out = [
        Group(
            ranks=[m.rank for m in members],
            pids=[m.pid for m in members],
            state="stuck" if all(m.state == "stuck" for m in members) else "slow",
            collective=key[0],
            call=key[1],
            frame=key[2],
        )
        for key, members in groups.items()
    ]
    return sorted(out, key=lambda g: (-len(g.ranks), g.collective is None))


def verdict(
    states: list[RankState], flight: fr.FlightRecorderReport | None = None
) -> tuple[str, str, list[int | None]]:
    """(sentence, kind, culprit ranks) from the reduced states (and flight recorder)."""
    gone = [s for s in states if s.state == "exited"]
    live = [s for s in states if s.state not in ("exited", "error")]
    by_sig: dict[tuple[str | None, str | None, str | None], list[RankState]] = {}
    for s in live:
        by_sig.setdefault((s.collective, s.call, s.frame), []).append(s)
    classes = sorted(by_sig.values(), key=len, reverse=True)
    waiting = [c for c in classes if c[0].collective]
    others = [c for c in classes if not c[0].collective]

    def desc(members: list[RankState], verb: str = "waits in") -> str:
        s = members[0]
        what = _ranks_text(members)
        if s.collective:
            return f"{what} {'wait' if len(members) > 1 else 'waits'} in {s.where}"
        state = "stuck" if all(m.state == "stuck" for m in members) else "busy (stack moving)"
        place = f"in {s.call} at {s.frame}" if s.call and s.frame else f"at {s.where}"
        return f"{what} {'are' if len(members) > 1 else 'is'} {state} {place}"

    if gone:
        rest = "; ".join(desc(c) for c in classes)
        sentence = f"{_ranks_text(gone)} exited" + (f" while {rest}" if rest else "")
        return sentence, "exited", [s.rank for s in gone]
    if not live:
        return "no rank could be sampled", "unknown", []
    if all(s.state == "slow" for s in live):
        return (
            "no hang: every rank's stack moves between samples (slow, not stuck); "
            + "; ".join(desc(c) for c in classes),
            "progressing",
            [],
        )
    if len(classes) == 1:
        c = classes[0]
        if c[0].collective:
            extra = ""
            if flight and flight.behind_ranks:
                extra = f"; the flight recorder says {flight.divergence}"
                return (
                    f"all ranks on this host wait in {c[0].where}{extra}",
                    "all_waiting",
                    list(flight.behind_ranks),
                )
            return (
                f"all {len(c)} ranks on this host wait in {c[0].where}: no odd rank here; "
                "suspect a rank on another node, a dead peer, or the network",
                "all_waiting",
                [],
            )
        return f"{desc(c)}: a deadlock or a blocking call in user code", "all_stuck", []
    if waiting and others:
        culprits = [s for c in others for s in c]
        kind = "odd_rank_stuck" if all(s.state == "stuck" for s in culprits) else "odd_rank_slow"
        sentence = (
            "; ".join(desc(c) for c in others) + " while " + "; ".join(desc(c) for c in waiting)
        )
        return sentence, kind, [s.rank for s in culprits]
    if waiting and not others:
        sizes = [len(c) for c in waiting]
        minority = [c for c in waiting if len(c) < max(sizes)] if len(set(sizes)) > 1 else []
        culprits = [s.rank for c in minority for s in c]
        if not culprits and flight and flight.behind_ranks:
            culprits = list(flight.behind_ranks)
        same_op = len({c[0].collective for c in waiting}) == 1
        what = (
            "call the same collective from different places"
            if same_op
            else ("disagree on the collective")
        )
        return (
            f"ranks {what}: " + "; ".join(desc(c) for c in waiting),
            "mismatch",
            culprits,
        )
    minority = classes[1:]
    return (
        "; ".join(desc(c) for c in classes),
        "diverged",
        [s.rank for c in minority for s in c],
    )


def _started(ranks: list[RankProcess]) -> float | None:
    """When the earliest rank process started (epoch seconds)."""
    import psutil

    times = []
    for r in ranks:
        with contextlib.suppress(psutil.Error):
            times.append(psutil.Process(r.pid).create_time())
    return min(times) if times else None


def analyze_hang(
    pids: Iterable[int] = (),
    *,
    samples: int = 3,
    interval: float = 1.0,
    native: bool = False,
    flight_recorder: Iterable[str | Path] | None = None,
    env: Mapping[str, str] | None = None,
) -> HangReport:
    """Find the ranks (or use ``pids``), sample their stacks and name the odd one(s) out.

    ``flight_recorder``: dump files/directories/prefixes to read; None reads the
    dumps written since the ranks started at the job's ``TORCH_FR_DUMP_TEMP_FILE``
    (read from the ranks' environment; else ours, else torch's default prefix).
    """
    if samples < 1:
        raise HangError("--samples must be at least 1")
    if interval < 0:
        raise HangError("--interval must not be negative")
    start = time.monotonic()
    pyspy.pyspy_path()
    ranks = discover_ranks(pids)
    states = sample_stacks(ranks, samples=samples, interval=interval, native=native)
    if flight_recorder is None:
        # the job's own dump path (its environment) else ours; only dumps from this run
        prefixes = sorted({r.fr_prefix for r in ranks if r.fr_prefix})
        flight = fr.read_flight_recorder(prefixes, env, newer_than=_started(ranks))
    else:
        paths = list(flight_recorder)
        flight = fr.read_flight_recorder(paths, env) if paths else None
    sentence, kind, culprits = verdict(states, flight)
    if flight is not None and flight.divergence and flight.divergence not in sentence:
        sentence += f" (flight recorder: {flight.divergence})"
    return HangReport(
        verdict=sentence,
        kind=kind,
        culprits=culprits,
        ranks=states,
        groups=group_states(states),
        samples=samples,
        interval_seconds=interval,
        duration_seconds=time.monotonic() - start,
        flight_recorder=flight,
    )
