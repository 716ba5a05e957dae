"""What sampling learned about each rank: the data the verdict is judged from.

Kept apart from the sampler and the verdict so that both (and ``--hosts``, which
rebuilds these from each host's JSON) read one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# states of a rank that left the job, and of one that cannot run or be read
GONE = ("exited", "zombie", "missing")
SUSPECT = ("stopped", "frozen", "unreadable")


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
    # main thread's voluntary context switches per second: a poll loop wakes often
    wakeups_per_second: float | None = None
    # one function's stacks (the loop's lines), idle, little CPU, waking up often: a wait/poll
    # loop
    poll_loop: bool = False
    # another thread held the GIL in every sample while the main thread stood still:
    # 'thread regex-scan (tid 17349) at helper.py:3 (runaway)'
    gil_holder: str | None = None

    def text(self) -> str:
        """'same frame for 6.1 s, 0.000 s CPU, idle' or '5 distinct stacks, 1.2 s CPU in 3 s'."""
        cpu = "? s CPU" if self.cpu_seconds is None else f"{self.cpu_seconds:.3f} s CPU"
        if self.samples <= 1:
            return f"1 sample, {cpu}"
        wakes = (
            f", wakes {self.wakeups_per_second:.0f}/s"
            if self.wakeups_per_second is not None and (self.poll_loop or self.gil_holder)
            else ""
        )
        idle = (
            "idle"
            if self.active_samples == 0
            else f"active in {self.active_samples}/{self.samples} samples"
        )
        if self.poll_loop:
            return f"one loop for {self.window_seconds:.1f} s, {cpu}{wakes}, {idle}"
        if self.distinct_stacks <= 1 and not self.progress_events:
            return f"same frame for {self.still_seconds:.1f} s, {cpu}{wakes}, {idle}"
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
    source: str | None = None  # how the rank was found (torchrun, spawn, mpi, slurm, ...)
    # every thread of the last sample: name, tid, owns_gil, active, frames (innermost first)
    threads: list[dict] = field(default_factory=list)

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
