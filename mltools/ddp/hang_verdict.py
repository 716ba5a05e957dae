"""Judge the ranks' states: what kind of hang (if any), and which ranks are the culprits.

The rules, in order: a rank that left the job (exited, zombie, missing) is the
culprit; then one that cannot run or be read (stopped, frozen, unreadable); then,
among the live ranks, one stuck outside any collective while its peers wait in
one (``odd_rank_stuck``: a blocking call, a GIL held by another of its threads,
or a wait/poll loop it never leaves), one still working while the others wait
(``odd_rank_slow``), ranks that wait in different collectives or places
(``mismatch``), every rank in the same collective (``all_waiting``: look on
other nodes), or every rank stuck in user code (``all_stuck``).
"""

from __future__ import annotations

from mltools.ddp import flight_recorder as fr
from mltools.ddp.hang_states import GONE, SUSPECT, RankState
from mltools.ddp.hang_words import classes, describe, evidence_text, gone_text, ranks_text

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


def verdict(
    states: list[RankState], flight: fr.FlightRecorderReport | None = None
) -> tuple[str, str, list[int | None]]:
    """(sentence, kind, culprit ranks) from the reduced states (and flight recorder)."""
    unseen = [s for s in states if s.state == "unseen"]
    if unseen:
        sentence, kind, culprits = verdict([s for s in states if s.state != "unseen"], flight)
        hosts = unseen[0].detail or "the hosts given"
        return (
            f"{sentence}; {ranks_text(unseen)} {'are' if len(unseen) > 1 else 'is'} {hosts}: "
            "add their hosts to see them",
            kind,
            culprits,
        )
    gone = [s for s in states if s.state in GONE]
    suspects = [s for s in states if s.state in SUSPECT]
    live = [s for s in states if s.live]
    groups = classes(live)
    rest = "; ".join(describe(c) for c in groups)
    if gone:
        if not live and not suspects and all(s.state == "exited" for s in gone):
            return "every rank exited while being sampled: the job ended", "ended", []
        sentence = "; ".join(gone_text(s) for s in gone)
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
    waiting = [c for c in classes(stuck) if c[0].collective]
    blocked = [c for c in classes(stuck) if not c[0].collective]
    if blocked and (waiting or moving):
        culprits = [s for c in blocked for s in c]
        others = [c for c in groups if not (c[0].state == "stuck" and not c[0].collective)]
        sentence = (
            "; ".join(describe(c) for c in blocked)
            + " while "
            + "; ".join(describe(c) for c in others)
        )
        return sentence, "odd_rank_stuck", [s.rank for s in culprits]
    if waiting and moving and all(s.evidence.poll_loop for s in moving):
        sentence = (
            "; ".join(describe(c, culprit=True) for c in classes(moving))
            + " while "
            + "; ".join(describe(c) for c in waiting)
        )
        return sentence, "odd_rank_stuck", [s.rank for s in moving]
    if waiting and moving:
        busy = classes(moving)
        sentence = (
            "; ".join(describe(c) for c in busy)
            + " (never reaching the collective) while "
            + "; ".join(describe(c) for c in waiting)
        )
        return sentence, "odd_rank_slow", [s.rank for s in moving]
    if waiting:
        world = max((s.world_size or 0 for s in states), default=0)
        if len(waiting) == 1:
            c = waiting[0]
            if flight and flight.behind_ranks:
                return (
                    f"all ranks here wait in {c[0].where}{evidence_text(c)}; "
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
                f"all {len(c)} ranks {here} wait in {c[0].where}{evidence_text(c)}: no odd rank "
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
        return f"ranks {what}: " + "; ".join(describe(c) for c in waiting), "mismatch", culprits
    if len(blocked) == 1:
        return (
            f"{describe(blocked[0])}: a deadlock or a blocking call in user code",
            "all_stuck",
            [],
        )
    return rest, "diverged", [s.rank for c in blocked[1:] for s in c]
