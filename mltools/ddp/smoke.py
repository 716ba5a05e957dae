"""A DDP preflight: launch N ranks and prove they can train before the real job starts.

Every rank runs, in order: process-group init, barrier, all_reduce (result
checked), broadcast (checked), all_gather (checked), two tiny DDP training steps
(parameters checked equal across ranks), then all_reduce bus bandwidth over a
range of sizes (nccl-tests' busbw = algbw * 2(n-1)/n).

Two ways to run it:

* ``run_smoke(...)`` (``mltools ddp-doctor smoke``) launches the ranks on this
  host through torch's own launcher (``python -m torch.distributed.run
  --standalone``), watches every step against a timeout, runs the hang
  analysis on the live ranks when a step hangs, names the rank that hung, died
  or failed, and kills every process it started.
* ``torchrun --nnodes ... -m mltools.ddp.smoke`` on each node: the ranks meet
  through torch's rendezvous; each rank bounds its own steps with a watchdog and
  rank 0 prints the summary.

``inject`` makes one rank misbehave on purpose, to see what each failure looks
like: ``mismatch`` (it calls broadcast while the others all_reduce), ``stall``
(it sleeps inside a fake data loader), ``crash`` (it exits), ``unused-params``
(its DDP step leaves a parameter out of the loss), ``freeze`` (it stops itself
with SIGSTOP during init, like a rank frozen by a cgroup or a debugger).

Common faults outside the program (a GLOO_SOCKET_IFNAME/NCCL_SOCKET_IFNAME that
names no interface, a rendezvous port already taken, a rendezvous that cannot be
reached) are recognised in the ranks' errors and the launcher's output, and the
verdict names the cause and the fix (``external_fault``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools.ddp.smoke_events import (
    DIR_ENV,
    FAULTS,
    FR_PREFIX,
    FR_TRIGGER,
    PARENT_ENV,
    STEPS,
    RankResult,
    StepResult,
    external_fault,
    rank_result,
    read_events,
)
from mltools.errors import MltoolsError, UsageError
from mltools.stopper import alive, kill_launched_tree

__all__ = [
    "FAULTS",
    "STEPS",
    "RankResult",
    "SmokeError",
    "SmokeReport",
    "StepResult",
    "external_fault",
    "run_smoke",
]

EXPECTED_COLLECTIVE = {
    "barrier": "barrier",
    "all_reduce": "all_reduce",
    "broadcast": "broadcast",
    "all_gather": "all_gather",
}


class SmokeError(MltoolsError):
    """The smoke test could not be run at all."""


@dataclass
class SmokeReport:
    """The verdict first (``ok``, ``verdict``, ``kind``, ``culprits``), then the evidence."""

    ok: bool
    verdict: str
    kind: str  # ok | hang | mismatch | crash | unused_parameters | wrong_result | error | startup
    culprits: list[int]
    nproc: int
    backend: str
    timeout_seconds: float
    inject: str | None
    inject_rank: int | None
    ranks: list[RankResult]
    busbw: list[dict[str, float]]
    hang: Any = None  # mltools.ddp.hang.HangReport when a hang was analysed
    duration_seconds: float = 0.0
    log_tail: list[str] = field(default_factory=list)
    cause: str | None = None  # an external fault recognised (interface, port, firewall)
    fix: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exit_codes(log: str) -> dict[int, int]:
    """Per-rank exit codes from torchrun's failure summary (tolerant of format changes)."""
    codes: dict[int, int] = {}
    for m in re.finditer(r"rank\s*:\s*(\d+).*?\n\s*exitcode\s*:\s*(-?\d+)", log):
        codes.setdefault(int(m.group(1)), int(m.group(2)))
    return codes


def _fr_buffer_variable() -> str:
    from mltools.ddp.presets import torch_version

    version = torch_version()
    return (
        "TORCH_NCCL_TRACE_BUFFER_SIZE"
        if version is not None and version < (2, 7)
        else "TORCH_FR_BUFFER_SIZE"
    )


def resolve_backend(backend: str, nproc: int) -> str:
    """``auto`` -> nccl when CUDA GPUs and NCCL are there (one GPU per rank), else gloo."""
    import torch
    import torch.distributed as dist

    if backend not in ("auto", "gloo", "nccl"):
        raise UsageError(f"unknown backend {backend!r}", hint="use auto, gloo or nccl")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if backend == "auto":
        return "nccl" if gpus >= nproc and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        if not dist.is_nccl_available() or gpus == 0:
            raise SmokeError(
                "backend nccl needs CUDA GPUs and a torch built with NCCL",
                hint="use --backend gloo on a machine without GPUs",
            )
        if gpus < nproc:
            raise UsageError(f"--nproc {nproc} needs {nproc} GPUs for nccl; {gpus} visible")
    return backend


def run_smoke(
    nproc: int = 2,
    *,
    backend: str = "auto",
    timeout: float = 60.0,
    inject: str | None = None,
    inject_rank: int | None = None,
    startup_timeout: float | None = None,
    max_bytes: int | None = None,
    hang_samples: int = 2,
    hang_interval: float = 1.0,
) -> SmokeReport:
    """Launch ``nproc`` ranks on this host with torchrun and run the preflight steps.

    Each step, init included, must finish on every rank within ``timeout`` seconds
    (init counted from the moment the last rank started); the ranks' processes
    must start (Python and torch imported) within ``startup_timeout`` (default:
    ``timeout``). On a hang the live ranks' stacks
    are analysed before they are killed; every process started is gone on return.
    """
    from mltools._deps import require

    require("torch")
    if nproc < 1:
        raise UsageError("--nproc must be at least 1")
    if not 0 < timeout < float("inf"):
        raise UsageError("--timeout must be a positive number of seconds")
    if startup_timeout is None:
        startup_timeout = timeout
    if not 0 < startup_timeout < float("inf"):
        raise UsageError("--startup-timeout must be a positive number of seconds")
    if inject is not None and inject not in FAULTS:
        raise UsageError(f"unknown fault {inject!r}", hint="use one of: " + ", ".join(FAULTS))
    if inject is not None and nproc < 2:
        raise UsageError("fault injection needs at least 2 ranks")
    target = nproc - 1 if inject_rank is None else inject_rank
    if inject is not None and not 0 <= target < nproc:
        raise UsageError(f"--inject-rank {target} is not a rank of {nproc}")
    backend = resolve_backend(backend, nproc)
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mltools-smoke-"))
    # removed below; also at exit, when an error, Ctrl-C or SIGTERM ends the run first
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    repo_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env.update(
        {
            DIR_ENV: str(workdir),
            PARENT_ENV: str(os.getpid()),
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
            "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # the flight recorder for hang evidence, under the name the installed torch reads
    # (TORCH_NCCL_TRACE_BUFFER_SIZE before 2.7; setting it on a newer torch only warns)
    fr_var = _fr_buffer_variable()
    env.setdefault(
        fr_var, env.get("TORCH_FR_BUFFER_SIZE") or env.get("TORCH_NCCL_TRACE_BUFFER_SIZE") or "2000"
    )
    argv = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--nproc-per-node", str(nproc),
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "--max-restarts", "0", "--monitor-interval", "0.2",
        "-m", "mltools.ddp.smoke_rank",
        "--backend", backend, "--timeout", str(timeout),
    ]  # fmt: skip
    if inject:
        argv += ["--inject", inject, "--inject-rank", str(target)]
    if max_bytes:
        argv += ["--max-bytes", str(max_bytes)]
    log_path = workdir / "launcher.log"
    hang_report = None
    hung_step: str | None = None
    worker_pids: list[int] = []
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
        try:
            hung_step, hang_report, worker_pids = _watch(
                agent, workdir, nproc, timeout, startup_timeout, hang_samples, hang_interval
            )
        finally:
            kill_launched_tree(agent, worker_pids)
    log_text = log_path.read_text(errors="replace")
    events = read_events(workdir, nproc)
    shutil.rmtree(workdir, ignore_errors=True)
    codes = _exit_codes(log_text)
    ranks = [rank_result(r, events[r], codes.get(r)) for r in range(nproc)]
    report = _judge(ranks, hung_step, hang_report, timeout, startup_timeout)
    busbw = next((s.detail.get("rows", []) for s in ranks[0].steps if s.step == "busbw"), [])
    tail = [] if report[0] else [ln for ln in log_text.splitlines() if ln.strip()][-20:]
    verdict, cause, fix = report[1], None, None
    if not report[0]:
        errors = " ".join(s.error or "" for r in ranks for s in r.steps)
        found = external_fault(errors + "\n" + log_text)
        if found:
            cause, fix = found
            verdict += f"; cause: {cause}; fix: {fix}"
    return SmokeReport(
        ok=report[0],
        verdict=verdict,
        kind=report[2],
        culprits=report[3],
        nproc=nproc,
        backend=backend,
        timeout_seconds=timeout,
        inject=inject,
        inject_rank=target if inject else None,
        ranks=ranks,
        busbw=busbw,
        hang=hang_report,
        duration_seconds=time.monotonic() - began,
        log_tail=tail,
        cause=cause,
        fix=fix,
    )


def _launched(agent_pid: int) -> dict[int, int]:
    """{rank: pid} of the agent's workers from their environment, before they report."""
    import psutil

    from mltools._procfs import read_environ

    out: dict[int, int] = {}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(agent_pid).children():
            env = read_environ(child.pid) or {}
            with contextlib.suppress(ValueError, KeyError):
                out.setdefault(int(env["RANK"]), child.pid)
    return out


def _process_state(pid: int) -> str:
    from mltools._procfs import STATE_NAMES, cgroup_frozen, read_stat

    st = read_stat(pid)
    if st is None:
        return "exited"
    if st.state not in ("T", "t", "Z", "X") and cgroup_frozen(pid):
        return "frozen (cgroup freezer)"
    return STATE_NAMES.get(st.state, st.state)


def _watch(
    agent: subprocess.Popen[bytes],
    workdir: Path,
    nproc: int,
    timeout: float,
    startup_timeout: float,
    hang_samples: int,
    hang_interval: float,
) -> tuple[str | None, Any, list[int]]:
    """Poll the ranks' records until the agent exits or a step overruns its timeout.

    Ranks must start within ``startup_timeout``; every step, init included, must end
    within ``timeout`` (init counted from the moment the last rank started).
    """
    from mltools.ddp import hang

    started = time.monotonic()
    all_started: float | None = None  # epoch seconds of the last rank's start
    launched: dict[int, int] = {}
    while True:
        events = read_events(workdir, nproc)
        starts = [
            next((e for e in ev if e.get("event") == "start"), None) for ev in events.values()
        ]
        pids = [e["pid"] if e else None for e in starts]
        worker_pids = [p for p in pids if p]
        if len(launched) < nproc:
            launched.update(_launched(agent.pid))
        known = sorted(set(worker_pids) | set(launched.values()))
        if agent.poll() is not None:
            return None, None, known
        if all_started is None and all(starts):
            all_started = max(e["t"] for e in starts if e)
        now = time.time()
        overdue: str | None = None
        for ev in events.values():
            last = ev[-1] if ev else None
            if last and last.get("event") == "step_start":
                since = max(last["t"], all_started or now) if last["step"] == "init" else last["t"]
                if now - since > timeout:
                    overdue = last["step"]
            elif (
                last
                and last.get("event") == "step_end"
                and last.get("status") == "ok"
                and now - last["t"] > timeout
            ):
                overdue = last["step"]  # between steps: the next step_start is due at once
        if (
            overdue is None
            and len(worker_pids) < nproc
            and time.monotonic() - started > startup_timeout
        ):
            overdue = "init"
        if overdue is not None:
            live = [p for p in known if alive(p)]
            report = None
            if live and len(worker_pids) == nproc:
                (workdir / FR_TRIGGER).touch()
                deadline = time.monotonic() + 15  # each rank's watchdog writes its own
                while time.monotonic() < deadline and len(
                    list(workdir.glob(f"{FR_PREFIX}*"))
                ) < len(live):
                    time.sleep(0.1)
                dumps = [str(workdir / FR_PREFIX)] if any(workdir.glob(f"{FR_PREFIX}*")) else []
                try:
                    report = hang.analyze_hang(
                        live, samples=hang_samples, interval=hang_interval, window=hang_interval * 3,
                        max_window=max(10.0, hang_interval * 10), flight_recorder=dumps,
                    )  # fmt: skip
                except MltoolsError as exc:
                    report = {"error": exc.message}
            elif len(worker_pids) < nproc:
                late = {r: launched.get(r) for r in range(nproc) if not starts[r]}
                report = {
                    "not_started": {
                        str(r): (
                            f"pid {pid} is {_process_state(pid)}"
                            if pid
                            else "no process was started"
                        )
                        for r, pid in late.items()
                    }
                }
            return overdue, report, known
        time.sleep(0.2)


def _judge(
    ranks: list[RankResult],
    hung_step: str | None,
    hang_report: Any,
    timeout: float,
    startup_timeout: float,
) -> tuple[bool, str, str, list[int]]:
    """(ok, verdict, kind, culprits) from what every rank recorded."""
    if hung_step is not None:
        for r in ranks:
            for s in r.steps:
                if s.status == "running":
                    s.status = "hung"
            if r.status in ("running", "not_started"):
                r.status = "hung" if r.pid else "not_started"
        analysed = (
            hang_report if hang_report is not None and hasattr(hang_report, "verdict") else None
        )
        culprits: list[int] = []
        kind = "hang"
        if analysed is not None:
            culprits = [c for c in analysed.culprits if c is not None]
            if analysed.kind == "mismatch":
                kind = "mismatch"
                expected = EXPECTED_COLLECTIVE.get(hung_step)
                if not culprits and expected:
                    culprits = [
                        s.rank
                        for s in analysed.ranks
                        if s.rank is not None and s.collective not in (None, expected)
                    ]
        if not culprits:
            behind = _behind(ranks)
            culprits = behind
        not_started = [r.rank for r in ranks if r.pid is None]
        if hung_step == "init" and not_started:
            detail = ""
            if isinstance(hang_report, dict) and hang_report.get("not_started"):
                detail = (
                    " ("
                    + "; ".join(
                        f"rank {r}: {what}" for r, what in hang_report["not_started"].items()
                    )
                    + ")"
                )
            return (
                False,
                f"ranks {not_started} did not start within {startup_timeout:.0f}s{detail}",
                "startup",
                not_started,
            )
        limit = timeout
        who = ", ".join(map(str, culprits)) if culprits else "unknown"
        sentence = f"step {hung_step} hung (no progress in {limit:.0f}s); culprit rank(s): {who}"
        if analysed is not None:
            sentence += f": {analysed.verdict}"
        return False, sentence, kind, culprits
    _mark_killed_by_launcher(ranks)
    died = [r for r in ranks if r.status in ("running", "not_started") and r.pid is not None]
    if died:
        for r in died:
            r.status = "died"
            for s in r.steps:
                if s.status == "running":
                    s.status, s.kind = "died", "crash"
        where = "; ".join(
            f"rank {r.rank} (pid {r.pid}) during {next((s.step for s in r.steps if s.status == 'died'), '?')}"
            + (f", exit code {r.exit_code}" if r.exit_code is not None else "")
            for r in died
        )
        victims = [r.rank for r in ranks if r.status == "failed"]
        tail = f"; ranks {victims} failed after it" if victims else ""
        return False, f"rank died: {where}{tail}", "crash", [r.rank for r in died]
    failures = [(s, r) for r in ranks for s in r.steps if s.status in ("failed", "hung")]
    if failures:
        root = [(s, r) for s, r in failures if s.kind not in ("peer_died", "timeout")] or failures
        kinds = {s.kind for s, _ in root}
        kind = next(iter(kinds)) if len(kinds) == 1 else "error"
        culprits = sorted({r.rank for _, r in root})
        s0, r0 = root[0]
        extra = ""
        if s0.detail.get("unused_parameters"):
            extra = f" (parameters without grad: {', '.join(s0.detail['unused_parameters'])})"
        first = (s0.error or "").split(". ")[0][:200]
        return (
            False,
            f"rank {r0.rank} failed in {s0.step}: {s0.kind}{extra}: {first}",
            kind or "error",
            culprits,
        )
    if all(r.status == "ok" for r in ranks):
        return True, f"all {len(ranks)} ranks passed every step", "ok", []
    return False, "the launcher ended before every rank finished", "error", []


def _mark_killed_by_launcher(ranks: list[RankResult]) -> None:
    """Mark ranks that torchrun stopped because another rank had already failed.

    When one rank raises or exits, torchrun terminates the others at once; a peer
    blocked in a collective may be stopped before it records its own error. Such
    a rank did not crash: it was a bystander. It is told apart from the root cause
    by ending with no exit code of its own, or with the launcher's SIGTERM/SIGKILL,
    while another rank recorded a root-cause failure or exited by itself.
    """

    def stopped_by_launcher(r: RankResult) -> bool:
        return r.status == "running" and r.exit_code in (None, -signal.SIGTERM, -signal.SIGKILL)

    root_cause = any(
        s.status == "failed" and s.kind not in ("peer_died", "timeout")
        for r in ranks
        for s in r.steps
    ) or any(r.status == "running" and not stopped_by_launcher(r) for r in ranks)
    if not root_cause:
        return
    for r in ranks:
        if stopped_by_launcher(r):
            r.status = "killed"
            for s in r.steps:
                if s.status == "running":
                    s.status, s.kind = "killed", "peer_died"


def _behind(ranks: list[RankResult]) -> list[int]:
    """Ranks whose furthest step is earlier than the others'."""
    progress = {}
    for r in ranks:
        done = [i for i, s in enumerate(r.steps) if s.status != "not_run"]
        progress[r.rank] = max(done) if done else -1
    if len(set(progress.values())) <= 1:
        return []
    low = min(progress.values())
    return [r for r, p in progress.items() if p == low]


if __name__ == "__main__":  # `torchrun ... -m mltools.ddp.smoke` on each node: one rank
    from mltools.ddp.smoke_rank import rank_main

    rank_main()
