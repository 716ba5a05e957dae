"""The smoke verdict from what the ranks recorded: races between a failure and torchrun's kill."""

from __future__ import annotations

import pytest

from mltools.ddp import smoke
from mltools.ddp.smoke import STEPS, RankResult, StepResult, _judge, external_fault


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


# Verbatim from torch 2.13 / gloo on this machine (GLOO_SOCKET_IFNAME=bogus0; a port in use),
# and the TCPStore client's text when nothing answers at the rendezvous.
GLOO_IFNAME = (
    "RuntimeError [enforce fail at /__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/"
    "device.cc:84] ifa != nullptr. Unable to find address for: bogus0"
)
PORT_TAKEN = (
    "DistNetworkError The server socket has failed to listen on any local network address. "
    "port: 29878, useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use"
)
UNREACHABLE = (
    "torch.distributed.DistStoreError: The client socket has timed out after 10000ms while "
    "trying to connect to (10.0.0.7, 29500)."
)
NCCL_IFNAME = "NCCL WARN Bootstrap : no socket interface found"


@pytest.mark.parametrize(
    ("text", "cause", "fix"),
    [
        (
            GLOO_IFNAME,
            "GLOO_SOCKET_IFNAME names a network interface this host does not have (bogus0)",
            "ip -br addr",
        ),
        (
            NCCL_IFNAME,
            "NCCL_SOCKET_IFNAME matches no network interface on this host",
            "ip -br addr",
        ),
        (PORT_TAKEN, "the rendezvous port is already in use", "MASTER_PORT"),
        (UNREACHABLE, "the ranks could not reach the rendezvous at 10.0.0.7:29500", "firewall"),
    ],
)
def test_external_faults_name_the_cause_and_the_fix(text, cause, fix):
    found = external_fault(text)
    assert found is not None
    assert found[0].startswith(cause) and fix in found[1]


def test_ordinary_errors_are_not_external_faults():
    assert external_fault("Detected mismatch between collectives on ranks") is None
    assert external_fault("RuntimeError: Connection closed by peer [127.0.0.1]:4242") is None


def test_smoke_sets_the_flight_recorder_variable_the_installed_torch_reads(monkeypatch):
    from mltools.ddp import presets

    monkeypatch.setattr(presets, "torch_version", lambda: (2, 13))
    assert smoke._fr_buffer_variable() == "TORCH_FR_BUFFER_SIZE"
    monkeypatch.setattr(presets, "torch_version", lambda: (2, 5))
    assert smoke._fr_buffer_variable() == "TORCH_NCCL_TRACE_BUFFER_SIZE"


def test_frozen_rank_during_init_is_the_culprit():
    from types import SimpleNamespace

    analysed = SimpleNamespace(
        verdict="rank 1 (pid 1001) is stopped (state T: SIGSTOP or job control)",
        kind="stopped",
        culprits=[1],
        ranks=[],
    )

    ranks = [
        _rank(0, "running", None, StepResult("init", "running")),
        _rank(1, "running", None, StepResult("init", "running")),
    ]
    ok, sentence, kind, culprits = _judge(ranks, "init", analysed, 15.0, 60.0)
    assert (ok, kind, culprits) == (False, "hang", [1])
    assert sentence.startswith("step init hung (no progress in 15s); culprit rank(s): 1: rank 1")
