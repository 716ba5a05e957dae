"""Watch every rank until each one is decided: progressing, busy, or stuck.

Each rank is sampled repeatedly: every thread's Python stack (py-spy, with its
idle/active and GIL flags), the main thread's CPU time
(``/proc/PID/task/PID/schedstat``) and wake-ups (voluntary context switches)
and the process state. A rank *progresses* when its main thread's stack changes
or burns CPU; it is *stuck* after ``window`` seconds without either. Two kinds
of CPU do not count as work, because the stack says where they went:

* the main thread waits for the GIL held by another thread of the rank (that
  thread holds it in every sample, the main stack never moves): the rank is
  stuck, and its evidence names the thread;
* the main thread sits on one stack, idle in every sample, with little CPU and
  many wake-ups: a wait/poll loop (``while not exists(f): sleep(0.05)``); the
  rank is marked ``poll_loop`` and the verdict weighs it against its peers.

Ranks are sampled in parallel with a bounded number of py-spy children (each
one ptrace-stops its target), and a rank whose main thread has not run at all
since its last dump (schedstat, in nanoseconds) keeps that stack without a new
dump: 64 ranks blocked in a collective take seconds, not minutes.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mltools import _procfs
from mltools.ddp import flight_recorder as fr
from mltools.ddp import pyspy
from mltools.ddp.hang_discovery import RankProcess
from mltools.ddp.hang_signatures import format_frame, is_library_file, short_symbol, signature
from mltools.ddp.hang_states import SUSPECT, Evidence, RankState
from mltools.ddp.hang_verdict import verdict

# Main-thread CPU that counts as work, summed since the last sign of progress: py-spy's
# own attach costs the target ~25 us a sample, a loop iteration costs milliseconds.
CPU_PROGRESS_SECONDS = 0.002
# A stack that stays put while the main thread burns this share of the wall time is busy
# in a long C call (compute), not waiting.
_BUSY_SHARE = 0.25
# A poll/wait loop: one function's stacks, idle, under this share of CPU, and this many
# wake-ups a second.
_POLL_SHARE = 0.05
_POLL_WAKEUPS = 4.0
# each py-spy dump wakes the target's main thread about this many times (ptrace stops):
# measured 3 per sample on a rank asleep in time.sleep(3)
_WAKEUPS_PER_SAMPLE = 3.0
# py-spy children at once: each ptrace-stops its target for a moment and costs a core.
MAX_PYSPY = max(2, min(16, 2 * (os.cpu_count() or 1)))


def _switches(pid: int) -> int | None:
    """The main thread's voluntary context switches (each one a wake-up from a wait)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _loop_key(frames: list[pyspy.Frame]) -> tuple[Any, ...]:
    """The stack as a loop sees it: the user frames, the innermost one without its line.

    A poll loop (``while not f.exists(): time.sleep(0.05)``) shows several stacks (in
    ``exists``, in ``sleep``, on the ``while``), all inside one function at one call site.
    """
    user = [f for f in frames if not is_library_file(f.filename)]
    if not user:
        return tuple((f.name, f.filename, f.line) for f in frames)
    inner, *outer = user
    return ((inner.name, inner.filename), *((f.name, f.filename, f.line) for f in outer))


def _thread_text(t: pyspy.ThreadStack) -> str:
    """'thread regex-scan (tid 42) at helper.py:3 (runaway)': its first frame of user code."""
    name = t.thread_name or "?"
    frames = t.python_frames
    top = next(
        (f for f in frames if not is_library_file(f.filename)), frames[0] if frames else None
    )
    return f"thread {name} (tid {t.os_thread_id})" + (f" at {format_frame(top)}" if top else "")


def thread_dicts(threads: list[pyspy.ThreadStack]) -> list[dict[str, Any]]:
    """Every thread as plain data (for --json and the bundle)."""
    return [
        {
            "name": t.thread_name,
            "tid": t.os_thread_id,
            "active": t.active,
            "owns_gil": t.owns_gil,
            "frames": [
                (f"[native] {short_symbol(f.name)} ({Path(f.filename).name})" if f.native
                 else format_frame(f))
                + (f" [{f.locals_text}]" if f.locals else "")
                for f in t.frames
            ],
        }
        for t in threads
    ]  # fmt: skip


class Tracker:
    """Per-rank progress bookkeeping across samples."""

    def __init__(self, r: RankProcess) -> None:
        self.r = r
        self.first: float | None = None
        self.last: float | None = None
        self.last_progress: float | None = None
        self.prev_key: tuple[Any, ...] | None = None
        self.keys: set[tuple[Any, ...]] = set()
        self.loops: set[tuple[Any, ...]] = set()  # the stacks with the loop's own lines blurred
        self.cpu0: float | None = None
        self.cpu_last: float | None = None
        self.cpu_at_progress: float | None = None
        self.pcpu0: float | None = None
        self.pcpu_last: float | None = None
        self.sw0: int | None = None
        self.sw_last: int | None = None
        self.events = 0
        self.samples = 0
        self.active = 0
        self.gil_other = 0  # samples where another thread held the GIL
        self.gil_holders: set[str] = set()
        self.states: list[str] = []
        self.threads: list[pyspy.ThreadStack] | None = None
        self.cpu_after_dump: float | None = None  # main-thread CPU right after the last dump
        self.main: pyspy.ThreadStack | None = None
        self.error: str | None = None
        self.gone_at: float | None = None
        self.failures = 0
        self.status = r.status

    def decided(self, now: float, window: float) -> bool:
        """Progressing twice, or still for a whole window (or gone, or unreadable)."""
        if self.status != "live" or self.gone_at is not None:
            return True
        if self.samples == 0:
            return self.failures >= 3  # py-spy keeps failing: unreadable, no need to wait
        since = self.last_progress if self.last_progress is not None else self.first
        still = now - (since if since is not None else now)
        return still >= window or (self.events >= 2 and still < window)

    def observe(self, now: float, stat: _procfs.ProcStat | None, cpu: float | None,
                threads: list[pyspy.ThreadStack] | Exception | None,
                switches: int | None = None) -> None:  # fmt: skip
        """Take one sample into account."""
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
        holder = next((t for t in threads if t.owns_gil and t is not main), None)
        if holder is not None:
            self.gil_other += 1
            self.gil_holders.add(_thread_text(holder))
        self.samples += 1
        self.active += bool(main.active)
        if switches is not None:
            self.sw0 = switches if self.sw0 is None else self.sw0
            self.sw_last = switches
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
            # CPU spent waiting for a GIL another thread holds all along is not work
            if burnt and not moved and self.gil_other == self.samples and not main.owns_gil:
                burnt = False
                self.cpu_at_progress = cpu
            if moved or burnt:
                self.events += 1
                self.last_progress = now
                self.cpu_at_progress = cpu
        self.last = now
        self.cpu_last = cpu
        self.prev_key = key
        self.keys.add(key)
        self.loops.add(_loop_key(main.python_frames))

    def evidence(self) -> Evidence:
        """The samples summed up."""
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
        wall = ev.window_seconds
        if self.sw0 is not None and self.sw_last is not None and wall > 0:
            ev.wakeups_per_second = round((self.sw_last - self.sw0) / wall, 1)
        one_stack = ev.distinct_stacks <= 1 and ev.samples >= 3 and wall > 0
        one_loop = len(self.loops) == 1 and ev.samples >= 3 and wall > 0
        if one_stack and self.gil_other == self.samples and len(self.gil_holders) == 1:
            ev.gil_holder = next(iter(self.gil_holders))
        elif (
            one_loop
            and ev.active_samples * 4 <= ev.samples  # py-spy may catch a wake-up running
            and ev.cpu_seconds is not None
            and ev.cpu_seconds < _POLL_SHARE * wall
            and (ev.wakeups_per_second or 0.0)
            >= _POLL_WAKEUPS + _WAKEUPS_PER_SAMPLE * (ev.samples - 1) / wall
        ):
            ev.poll_loop = True
        return ev

    def state(self, window: float, native: bool) -> RankState:
        """The rank's state over the samples, with its signature and evidence."""
        r = self.r
        ev = self.evidence()
        base = dict(
            rank=r.rank, pid=r.pid, local_rank=r.local_rank, evidence=ev, detail=r.detail,
            world_size=r.world_size, job=r.job, source=r.source,
        )  # fmt: skip
        collective = call = frame = None
        stack: list[str] = []
        natives: list[str] = []
        if self.main is not None:
            collective, call, frame = signature(self.main.frames)
            stack = [
                format_frame(f) + (f" [{f.locals_text}]" if f.locals else "")
                for f in self.main.python_frames
            ]
            if native:
                natives = [
                    f"{short_symbol(f.name)} ({Path(f.filename).name})"
                    for f in self.main.native_frames
                ]
        where = dict(
            collective=collective, call=call, frame=frame, stack=stack, native=natives,
            threads=thread_dicts(self.threads or []),
        )  # fmt: skip
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
            and ev.gil_holder is None
            and ev.cpu_seconds is not None
            and ev.cpu_seconds >= _BUSY_SHARE * wall
        ):
            state = "busy"  # one long C call, burning CPU: computing (or spinning)
        return RankState(state=state, error=self.error, **where, **base)  # type: ignore[arg-type]


def _sample_one(
    t: Tracker, native: bool, local_vars: bool
) -> tuple[Any, float | None, Any, int | None]:
    pid = t.r.pid
    assert pid is not None
    stat = _procfs.read_stat(pid)
    cpu = _procfs.thread_cpu_seconds(pid)
    switches = _switches(pid)
    if stat is None:
        return None, None, None, None
    if stat.state in ("T", "t") or t.status in ("stopped", "frozen"):
        if t.samples:  # a stopped rank does not move: one stack is enough
            return stat, cpu, None, switches
        try:
            stacks = pyspy.dump_stacks(
                pid, native=native, timeout=10, nonblocking=True, local_vars=local_vars
            )
            return stat, cpu, stacks, switches
        except pyspy.AttachError as exc:
            return stat, cpu, exc, switches
    if t.threads is not None and cpu is not None and cpu == t.cpu_after_dump:
        # the main thread has not run for a single nanosecond since the last dump: its stack
        # cannot have changed, and py-spy (a process, a ptrace stop) is spared: what makes
        # 60 ranks blocked in one collective cheap to watch
        return stat, cpu, t.threads, switches
    try:
        stacks = pyspy.dump_stacks(pid, native=native, timeout=15, local_vars=local_vars)
        t.cpu_after_dump = _procfs.thread_cpu_seconds(pid)
        return stat, cpu, stacks, switches
    except pyspy.AttachError as exc:
        return stat, cpu, exc, switches


def sample_stacks(
    ranks: list[RankProcess],
    *,
    samples: int = 3,
    interval: float = 0.5,
    window: float = 6.0,
    max_window: float = 20.0,
    native: bool = False,
    flight: fr.FlightRecorderReport | None = None,
    local_vars: bool = False,
    concurrency: int | None = None,
) -> list[RankState]:
    """Sample every rank (in parallel) until each is decided, then reduce each rank.

    A rank is decided when it has shown progress twice (a changed stack, or
    main-thread CPU) and not stood still for ``window`` seconds since, or has stood
    still for ``window``. Sampling stops when every rank is decided, at least
    ``samples`` samples were taken and the verdict did not change from the last
    sample (a progressing verdict is taken at once), or after ``max_window``.
    At most ``concurrency`` py-spy children run at once (default ``MAX_PYSPY``).
    """
    trackers = [Tracker(r) for r in ranks]
    sampled = [
        t for t in trackers if t.r.pid is not None and t.r.status in ("live", "stopped", "frozen")
    ]
    start = time.monotonic()
    previous: tuple[str, list[int | None]] | None = None
    n = 0
    from mltools._children import stopped_on_interrupt

    workers = max(1, min(len(sampled), concurrency or MAX_PYSPY))
    # Ctrl-C/SIGTERM: the py-spy children are stopped first, so the threads end at once
    with ThreadPoolExecutor(max_workers=workers) as pool, stopped_on_interrupt():
        while True:
            tick = time.monotonic()
            todo = [t for t in sampled if t.gone_at is None]
            results = list(pool.map(lambda t: _sample_one(t, native, local_vars), todo))
            now = time.monotonic()
            for t, (stat, cpu, threads, switches) in zip(todo, results):
                t.observe(now, stat, cpu, threads, switches)
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
                n >= samples and any(t.status in SUSPECT or t.gone_at for t in trackers) and n >= 3
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
