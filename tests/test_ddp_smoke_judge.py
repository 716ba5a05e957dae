"""The smoke verdict from what the ranks recorded: races between a failure and torchrun's kill."""

from __future__ import annotations

from mltools.ddp.smoke import STEPS, RankResult, StepResult, _judge


def _rank(rank: int, status: str, exit_code: int | None, last: StepResult) -> RankResult:
    steps = []
    for name in STEPS:
        if name == last.step:
            steps.append(last)
        elif len(steps) < STEPS.index(last.step):
            steps.append(StepResult(name, "ok"))
        else:
            steps.append(StepResult(name, "not_run"))
    return RankResult(rank, 1000 + rank, status, exit_code, steps)


def _unused_on_rank_1() -> RankResult:
    step = StepResult(
        "ddp_step", "failed", error="Expected to have finished reduction in the prior iteration",
        kind="unused_parameters", detail={"unused_parameters": ["head.weight", "head.bias"]},
    )  # fmt: skip
    return _rank(1, "failed", 1, step)


def test_peer_killed_by_torchrun_before_it_recorded_is_not_a_crash():
    # rank 0 was blocked in the all-reduce when torchrun sent SIGTERM: no step_end of its own
    killed = _rank(0, "running", -15, StepResult("ddp_step", "running"))
    ok, verdict, kind, culprits = _judge([killed, _unused_on_rank_1()], None, None, 15.0, 180.0)
    assert (ok, kind, culprits) == (False, "unused_parameters", [1])
    assert verdict.startswith("rank 1 failed in ddp_step: unused_parameters (parameters without")
    assert killed.status == "killed"
    assert killed.steps[STEPS.index("ddp_step")].status == "killed"


def test_peer_without_exit_code_is_also_a_bystander():
    killed = _rank(0, "running", None, StepResult("ddp_step", "running"))
    _, _, kind, culprits = _judge([killed, _unused_on_rank_1()], None, None, 15.0, 180.0)
    assert (kind, culprits) == ("unused_parameters", [1])


def test_rank_that_exited_by_itself_is_still_a_crash():
    crashed = _rank(0, "running", 17, StepResult("all_reduce", "running"))
    peer = _rank(
        1, "failed", 1,
        StepResult("all_reduce", "failed", error="Connection closed by peer", kind="peer_died"),
    )  # fmt: skip
    ok, verdict, kind, culprits = _judge([crashed, peer], None, None, 15.0, 180.0)
    assert (ok, kind, culprits) == (False, "crash", [0])
    assert verdict.startswith("rank died: rank 0 (pid 1000) during all_reduce, exit code 17")
    assert "ranks [1] failed after it" in verdict


def test_peer_terminated_after_a_crash_is_not_a_second_culprit():
    crashed = _rank(0, "running", 17, StepResult("all_reduce", "running"))
    killed = _rank(1, "running", -15, StepResult("all_reduce", "running"))
    ok, verdict, kind, culprits = _judge([crashed, killed], None, None, 15.0, 180.0)
    assert (ok, kind, culprits) == (False, "crash", [0])
    assert verdict == "rank died: rank 0 (pid 1000) during all_reduce, exit code 17"
    assert (crashed.status, killed.status) == ("died", "killed")


def test_two_ranks_gone_without_any_cause_are_both_reported():
    a = _rank(0, "running", None, StepResult("barrier", "running"))
    b = _rank(1, "running", None, StepResult("barrier", "running"))
    _, verdict, kind, culprits = _judge([a, b], None, None, 15.0, 180.0)
    assert (kind, culprits) == ("crash", [0, 1])
    assert verdict.startswith("rank died: rank 0 (pid 1000) during barrier; rank 1 (pid 1001)")
