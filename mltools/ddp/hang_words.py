"""The English of the hang verdict: rank lists, evidence, one clause per group.

The verdict (``hang_verdict``) decides the kind and the culprits; these
functions only say it: "ranks 0-61, 63 wait in all_reduce at train.py:88 (...)".
"""

from __future__ import annotations

from typing import Any

from mltools.ddp.hang_states import RankState


def ranks_text(states: list[RankState]) -> str:
    """'rank 3', 'ranks 0-61, 63' or 'rank 1 on node-b, rank 3 on node-c'."""
    ranks = [s.rank for s in states]
    hosts = {s.host for s in states}
    if all(r is not None for r in ranks) and len(hosts) == 1:
        nums = sorted(r for r in ranks if r is not None)
        text = ("rank " if len(nums) == 1 else "ranks ") + compress(nums)
        host = next(iter(hosts))
        return f"{text} on {host}" if host else text
    return ", ".join(s.label for s in states)


def compress(nums: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'."""
    if not nums:
        return ""
    parts: list[str] = []
    start = prev = nums[0]
    for n in [*nums[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def evidence_text(members: list[RankState]) -> str:
    """' (same frame for 6.2 s, 0.000 s CPU, idle)' for one rank, a summary for several."""
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


def _gil(members: list[RankState]) -> str:
    holder = members[0].evidence.gil_holder
    return f", waiting for the GIL held by {holder}" if holder else ""


def describe(members: list[RankState], *, culprit: bool = False) -> str:
    """One clause for a group of ranks that share a state and a signature.

    ``culprit``: the group is named as the cause, so a wait/poll loop is called one.
    """
    s = members[0]
    what = ranks_text(members)
    plural = len(members) > 1
    if culprit and all(m.evidence.poll_loop for m in members) and s.state != "stuck":
        verb = "poll" if plural else "polls"
        return (
            f"{what} {verb} in a wait loop at {s.where} without leaving it{evidence_text(members)}"
        )
    if s.state == "still":
        return (
            f"{what} {'have' if plural else 'has'} not moved at {s.where}{evidence_text(members)}"
        )
    if s.state in ("progressing", "busy") and not all(m.state == "stuck" for m in members):
        verb = "progress" if plural else "progresses"
        if all(m.state == "busy" for m in members):
            verb = "are busy" if plural else "is busy"
        return f"{what} {verb} at {s.where}{evidence_text(members)}"
    if s.collective:
        return (
            f"{what} {'wait' if plural else 'waits'} in {s.where}{_gil(members)}"
            + evidence_text(members)
        )
    place = f"in {s.call} at {s.frame}" if s.call and s.frame else f"at {s.where}"
    return (
        f"{what} {'are' if plural else 'is'} stuck {place}{_gil(members)}{evidence_text(members)}"
    )


def classes(states: list[RankState]) -> list[list[RankState]]:
    """Ranks grouped by (state, collective, call, frame, GIL holder, poll); biggest first."""
    by_sig: dict[tuple[Any, ...], list[RankState]] = {}
    for s in states:
        key = (
            s.state, s.collective, s.call, s.frame, s.evidence.gil_holder is not None,
            s.evidence.poll_loop,
        )  # fmt: skip
        by_sig.setdefault(key, []).append(s)
    return sorted(by_sig.values(), key=len, reverse=True)


def gone_text(s: RankState) -> str:
    """'rank 1 is missing (...)', 'rank 1 (pid 42) exited: a zombie ...'."""
    if s.state == "missing":
        why = s.detail or "not found"
        return f"{s.label} is missing ({why})"
    if s.state == "zombie":
        return f"{s.label} (pid {s.pid}) exited: a zombie its launcher has not reaped"
    return f"{s.label} (pid {s.pid}) exited" + (f" ({s.detail})" if s.detail else "")
