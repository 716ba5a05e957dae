"""Name the rank that hangs a DDP job: find every rank, watch it, compare.

The method people use by hand is ``py-spy dump`` on every rank and staring at
the stacks until the odd one out shows up. ``analyze_hang`` does the staring,
and first asks whether anything is stuck at all. The work is split along its
seams, each module usable on its own:

* ``hang_discovery``: which processes are the job's ranks (every launcher's
  environment vocabulary, ``torch.multiprocessing.spawn`` children, ``--pid`` of
  a wrapper or launcher), every expected local rank accounted for;
* ``hang_signatures``: a stack reduced to (collective, call, user frame);
* ``hang_sampling``: each rank watched until it progresses or stands still for
  ``window`` seconds (stack, main-thread CPU and wake-ups, GIL holder);
* ``hang_verdict`` (which kind, which culprits) and ``hang_words`` (the English);
* this module: the report, and the flight-recorder-only analysis of a dead job.

The verdict states its evidence: "rank 1 is stuck at train.py:9 (slow_loader)
(same frame for 6.2 s, 0.000 s CPU, idle) while rank 0 waits in all_reduce ...".
Ranks with the same signature form a group (STAT-style: "62 ranks wait in
all_reduce at train.py:88"). Flight-recorder dumps, when present, add each
rank's last enqueued/completed collective and where the sequences diverge; with
no live rank they are analysed on their own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools.ddp import flight_recorder as fr
from mltools.ddp import pyspy
from mltools.ddp.hang_discovery import (
    Discovery,
    HangError,
    Ignored,
    RankProcess,
    discover,
    discover_ranks,
    job_label,
)
from mltools.ddp.hang_sampling import CPU_PROGRESS_SECONDS, sample_stacks
from mltools.ddp.hang_signatures import COLLECTIVES, is_library_file, signature
from mltools.ddp.hang_states import Evidence, RankState
from mltools.ddp.hang_verdict import KINDS, verdict
from mltools.ddp.hang_words import classes, evidence_text

__all__ = [
    "COLLECTIVES",
    "CPU_PROGRESS_SECONDS",
    "KINDS",
    "Discovery",
    "Evidence",
    "Group",
    "HangError",
    "HangReport",
    "Ignored",
    "RankProcess",
    "RankState",
    "analyze_flight_recorder",
    "analyze_hang",
    "build_report",
    "discover",
    "discover_ranks",
    "group_states",
    "is_library_file",
    "job_label",
    "signature",
    "verdict",
]


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
    # --bundle with --hosts: what each host gathered for the bundle (not part of the JSON)
    bundle_material: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``ddp-doctor hang --json`` (no bundle material)."""
        import dataclasses

        from mltools._procfs import boot_id, pid_namespace

        data = dataclasses.asdict(self)
        keys = (
            "verdict", "kind", "culprits", "ranks", "groups", "ignored", "world_size", "job",
            "hosts", "flight_recorder", "samples", "interval_seconds", "window_seconds",
            "duration_seconds",
        )  # fmt: skip
        return {
            **{k: data[k] for k in keys},
            "boot_id": boot_id(),
            "pid_namespace": pid_namespace(),
        }


@dataclass
class Group:
    """Ranks sharing one signature."""

    ranks: list[int | None]
    pids: list[int | None]
    state: str
    collective: str | None
    call: str | None
    frame: str | None
    where: str = ""  # 'all_reduce at train.py:88 (step)'
    evidence: str = ""  # the group's evidence in words
    gil_holder: str | None = None  # the thread holding the GIL the group waits for
    poll_loop: bool = False  # the group sits in a wait/poll loop


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
            where=members[0].where,
            evidence=evidence_text(members).strip().removeprefix("(").removesuffix(")"),
            gil_holder=members[0].evidence.gil_holder,
            poll_loop=all(m.evidence.poll_loop for m in members),
        )
        for members in classes([s for s in states if s.live])
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
    local_vars: bool = False,
    concurrency: int | None = None,
) -> HangReport:
    """Find the ranks (or use ``pids``), watch them and name the odd one(s) out.

    ``window``: seconds a rank must stand still (same stack, no CPU) before it is
    called stuck; ``max_window`` bounds the whole sampling. ``flight_recorder``:
    dump files/directories/prefixes to read; None reads the dumps written since
    the ranks started at the job's ``TORCH_FR_DUMP_TEMP_FILE`` (read from the
    ranks' environment). When no rank is running and dumps are named (or the
    configured dump path has some), or with ``offline``, the dumps are analysed on
    their own. ``local_vars``: each frame's local variables too (py-spy
    ``--locals``). ``concurrency``: most py-spy children at once.
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
        native=native, flight=flight, local_vars=local_vars, concurrency=concurrency,
    )  # fmt: skip
    # dumps written while sampling (a rank's watchdog, a timeout) count too
    flight = read_flight() or flight
    return build_report(states, flight, found, samples, interval, window, time.monotonic() - start)


def build_report(
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
