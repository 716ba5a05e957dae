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

import argparse
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from mltools.errors import MltoolsError, UsageError
from mltools.stopper import alive, kill_launched_tree

STEPS = ("init", "barrier", "all_reduce", "broadcast", "all_gather", "ddp_step", "busbw")
EXPECTED_COLLECTIVE = {
    "barrier": "barrier",
    "all_reduce": "all_reduce",
    "broadcast": "broadcast",
    "all_gather": "all_gather",
}
FAULTS = ("mismatch", "stall", "crash", "unused-params", "freeze")
CRASH_EXIT_CODE = 17
_DIR_ENV = "MLTOOLS_SMOKE_DIR"
_PARENT_ENV = "MLTOOLS_SMOKE_PARENT"
_FR_TRIGGER = "dump-flight-recorder"
_FR_PREFIX = "fr_rank_"
_ERROR_KINDS = (
    (
        "unused_parameters",
        re.compile(r"finished reduction in the prior iteration|did not receive grad"),
    ),
    (
        "peer_died",
        re.compile(
            r"closed by peer|reset by peer|Broken pipe|remote worker|Connection refused", re.I
        ),
    ),
    ("mismatch", re.compile(r"mismatch", re.I)),
    ("timeout", re.compile(r"timed out|timeout", re.I)),
)


_EXTERNAL_FAULTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"Unable to find address for: ?(\S+)"),
        "GLOO_SOCKET_IFNAME names a network interface this host does not have ({0})",
        "set GLOO_SOCKET_IFNAME to an interface that `ip -br addr` lists (the one on the "
        "nodes' shared network), or unset it",
    ),
    (
        re.compile(
            r"no socket interface found|NCCL_SOCKET_IFNAME.*(?:not found|no interface)", re.I
        ),
        "NCCL_SOCKET_IFNAME matches no network interface on this host",
        "set NCCL_SOCKET_IFNAME to an interface that `ip -br addr` lists (e.g. eth0, or ^lo,docker "
        "to exclude some), or unset it",
    ),
    (
        re.compile(r"EADDRINUSE|address already in use", re.I),
        "the rendezvous port is already in use (another job, or a leftover process from an "
        "earlier run)",
        "pick another --master-port / MASTER_PORT, or stop what holds it: `ss -ltnp` shows it",
    ),
    (
        re.compile(
            r"(?:timed out|Connection refused|No route to host|unreachable)[^\n]*?"
            r"(?:connect to|connecting to) \(?\[?([\w.:-]+?)\]?, ?(\d+)\)?",
            re.I,
        ),
        "the ranks could not reach the rendezvous at {0}:{1}",
        "check MASTER_ADDR/MASTER_PORT, that the node of rank 0 is up and started first, and that "
        "no firewall blocks that port (nor the ports gloo/NCCL open between the nodes)",
    ),
)


def external_fault(text: str) -> tuple[str, str] | None:
    """(cause, fix) for a fault outside the training code found in ``text``, else None."""
    for pattern, cause, fix in _EXTERNAL_FAULTS:
        m = pattern.search(text)
        if m:
            return cause.format(*m.groups()), fix
    return None


class SmokeError(MltoolsError):
    """The smoke test could not be run at all."""


@dataclass
class StepResult:
    """One rank's result for one step."""

    step: str
    status: str  # ok | failed | hung | died | killed | not_run
    duration_seconds: float | None = None
    error: str | None = None
    kind: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RankResult:
    """One rank: its pid, how it ended, and its steps."""

    rank: int
    pid: int | None
    status: str  # ok | failed | hung | died | killed | not_started
    exit_code: int | None
    steps: list[StepResult]


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


# ====================================================================== rank side


class _Recorder:
    """Append-only JSON-lines record of one rank's progress (read by the parent)."""

    def __init__(self, directory: str | None, rank: int) -> None:
        self.path = Path(directory) / f"rank{rank}.jsonl" if directory else None
        self.rank = rank
        self.events: list[dict[str, Any]] = []
        self.open_step: tuple[str, float] | None = None

    def write(self, **event: Any) -> None:
        event["t"] = time.time()
        self.events.append(event)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(event) + "\n")
                fh.flush()


def _classify(message: str) -> str:
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return "error"


class _FakeLoader:
    """A data loader yielding tiny batches; with ``stall`` it blocks like a stuck worker."""

    def __init__(self, stall: bool, device: Any) -> None:
        self.stall, self.device = stall, device

    def __iter__(self) -> _FakeLoader:
        return self

    def __next__(self) -> Any:
        import torch

        if self.stall:
            time.sleep(3600)  # injected: this rank's input pipeline never delivers
        return torch.randn(8, 16, device=self.device)


def _make_model() -> Any:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(16, 16)
            self.head = torch.nn.Linear(16, 1)

        def forward(self, x: Any, skip_head: bool = False) -> Any:
            h = self.body(x)
            return h if skip_head else self.head(torch.relu(h))

    torch.manual_seed(0)
    return Tiny()


def _ddp_step(dist: Any, device: Any, inject: bool, fault: str | None) -> dict[str, Any]:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    model = _make_model().to(device)
    ddp = DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    loader = _FakeLoader(stall=inject and fault == "stall", device=device)
    skip = inject and fault == "unused-params"
    names = [n for n, _ in model.named_parameters()]
    try:
        for _ in range(2):
            batch = next(loader)
            loss = ddp(batch, skip_head=skip).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    except RuntimeError as exc:
        m = re.search(r"did not receive grad for rank \d+: ([\d ,]+)", str(exc))
        if m:
            idx = [int(i) for i in re.findall(r"\d+", m.group(1))]
            exc.unused = [names[i] for i in idx if i < len(names)]  # type: ignore[attr-defined]
        raise
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    values = [float(g) for g in gathered]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise _WrongResult(f"parameters differ across ranks after the DDP step: {values}")
    return {"loss": float(loss.detach()), "param_checksum": values[0]}


class _WrongResult(Exception):
    pass


def _busbw(dist: Any, device: Any, max_bytes: int) -> list[dict[str, float]]:
    import torch

    world = dist.get_world_size()
    rows = []
    size = 4096
    while size <= max_bytes:
        t = torch.ones(size // 4, dtype=torch.float32, device=device)
        iters = 5 if size <= 1 << 20 else 3
        dist.all_reduce(t)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        _sync(device)
        elapsed = (time.perf_counter() - start) / iters
        algbw = size / elapsed / 1e9
        rows.append(
            {
                "size_bytes": size,
                "time_seconds": elapsed,
                "algbw_gbps": algbw,
                "busbw_gbps": algbw * 2 * (world - 1) / world,
            }
        )
        size *= 4
    return rows


def _sync(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _run_step(rec: _Recorder, step: str, fn: Any) -> Any:
    rec.write(event="step_start", step=step)
    rec.open_step = (step, time.monotonic())
    start = time.perf_counter()
    try:
        detail = fn()
    except _WrongResult as exc:
        rec.write(
            event="step_end",
            step=step,
            status="failed",
            error=str(exc),
            kind="wrong_result",
            duration_seconds=time.perf_counter() - start,
        )
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())[:600] or type(exc).__name__
        extra = {"unused_parameters": exc.unused} if hasattr(exc, "unused") else {}
        rec.write(
            event="step_end",
            step=step,
            status="failed",
            error=message,
            kind=_classify(message),
            duration_seconds=time.perf_counter() - start,
            detail=extra,
        )
        raise
    rec.open_step = None
    rec.write(
        event="step_end",
        step=step,
        status="ok",
        duration_seconds=time.perf_counter() - start,
        detail=detail if isinstance(detail, dict) else {"rows": detail} if detail else {},
    )
    return detail


def _watchdog(rec: _Recorder, hard_timeout: float, parent: int | None) -> None:
    """Bound every step even without a parent watching (torchrun mode), and never orphan."""
    import faulthandler

    dumped = False
    trigger = rec.path.parent / _FR_TRIGGER if rec.path is not None else None
    while True:
        time.sleep(0.2)
        if parent is not None and not alive(parent):
            os._exit(125)
        if trigger is not None and not dumped and trigger.exists():
            dumped = True
            _dump_flight_recorder(trigger.parent / f"{_FR_PREFIX}{rec.rank}")
        current = rec.open_step
        if current and time.monotonic() - current[1] > hard_timeout:
            rec.write(
                event="step_end",
                step=current[0],
                status="hung",
                kind="timeout",
                error=f"step {current[0]} did not finish within {hard_timeout:.0f}s",
            )
            sys.stderr.write(f"[rank {rec.rank}] step {current[0]} hung; Python stacks follow\n")
            faulthandler.dump_traceback(all_threads=True)
            os._exit(124)


def _dump_flight_recorder(path: Path) -> None:
    """Write this rank's flight-recorder buffer (the parent asked: a step hangs)."""
    try:
        import torch._C._distributed_c10d as c10d

        data = c10d._dump_fr_trace()
    except Exception as exc:  # an old torch, or no recorder: the stacks still tell
        sys.stderr.write(f"[flight recorder] no dump: {exc}\n")
        return
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(path)


def rank_main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of one rank (``torchrun ... -m mltools.ddp.smoke``); exits 0 ok, 1 failed."""
    parser = argparse.ArgumentParser(
        prog="python -m mltools.ddp.smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--inject", choices=FAULTS, default=None)
    parser.add_argument("--inject-rank", type=int, default=None, help="default: the last rank")
    parser.add_argument("--max-bytes", type=int, default=None, help="largest busbw message")
    parser.add_argument("--json", action="store_true", help="rank 0 prints the summary as JSON")
    args = parser.parse_args(argv)

    import datetime

    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    directory = os.environ.get(_DIR_ENV)
    parent = int(os.environ[_PARENT_ENV]) if os.environ.get(_PARENT_ENV) else None
    rec = _Recorder(directory, rank)
    rec.write(event="start", pid=os.getpid(), world_size=world)
    # With a parent watching, it analyses a hang first; this watchdog is the safety net.
    hard = args.timeout * 4 + 60 if directory else args.timeout
    threading.Thread(target=_watchdog, args=(rec, hard, parent), daemon=True).start()

    backend = args.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    device = torch.device(f"cuda:{local_rank}") if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    inject_rank = world - 1 if args.inject_rank is None else args.inject_rank
    me = args.inject is not None and rank == inject_rank
    fault = args.inject
    max_bytes = args.max_bytes or ((256 << 20) if backend == "nccl" else (4 << 20))
    pg_timeout = datetime.timedelta(seconds=hard + 30)

    def init() -> dict[str, Any]:
        if me and fault == "freeze":
            sys.stderr.write(f"[rank {rank}] injected freeze: SIGSTOP during init\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSTOP)
        dist.init_process_group(
            backend, timeout=pg_timeout, device_id=device if device.type == "cuda" else None
        )
        return {"backend": backend, "world_size": dist.get_world_size()}

    def barrier() -> None:
        dist.barrier()

    def all_reduce() -> dict[str, Any]:
        t = torch.full((1024,), float(rank + 1), device=device)
        if me and fault == "crash":
            sys.stderr.write(f"[rank {rank}] injected crash: exiting with {CRASH_EXIT_CODE}\n")
            sys.stderr.flush()
            os._exit(CRASH_EXIT_CODE)
        if me and fault == "mismatch":
            dist.broadcast(t, 0)  # injected: a different collective than the other ranks
        else:
            dist.all_reduce(t)
        expected = world * (world + 1) / 2
        if not bool(torch.all(t == expected)):
            raise _WrongResult(f"all_reduce gave {float(t[0])}, expected {expected}")
        return {"value": float(t[0])}

    def broadcast() -> None:
        t = (
            torch.arange(256, dtype=torch.float32, device=device)
            if rank == 0
            else torch.zeros(256, device=device)
        )
        dist.broadcast(t, 0)
        if not bool(torch.all(t == torch.arange(256, dtype=torch.float32, device=device))):
            raise _WrongResult("broadcast from rank 0 arrived corrupted")

    def all_gather() -> None:
        t = torch.full((64,), float(rank), device=device)
        out = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(out, t)
        bad = [i for i, o in enumerate(out) if not bool(torch.all(o == i))]
        if bad:
            raise _WrongResult(f"all_gather: the slots of ranks {bad} are wrong")

    steps = {
        "init": init,
        "barrier": barrier,
        "all_reduce": all_reduce,
        "broadcast": broadcast,
        "all_gather": all_gather,
        "ddp_step": lambda: _ddp_step(dist, device, me, fault),
        "busbw": lambda: _busbw(dist, device, max_bytes),
    }
    code = 0
    try:
        for name in STEPS:
            _run_step(rec, name, steps[name])
    except Exception as exc:  # recorded by _run_step; the launcher sees a non-zero exit
        sys.stderr.write(f"[rank {rank}] smoke failed: {' '.join(str(exc).split())[:300]}\n")
        outside = external_fault(str(exc))
        if outside:  # torchrun mode has no parent to explain it
            sys.stderr.write(
                f"[rank {rank}] cause: {outside[0]}\n[rank {rank}] fix: {outside[1]}\n"
            )
        code = 1
    rec.write(event="exit", code=code)
    if code == 0 and directory is None:
        _print_rank0_summary(dist, rec, rank, args.json, backend)
    if dist.is_initialized() and code == 0:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: a failed gloo group can block at exit


def _print_rank0_summary(dist: Any, rec: _Recorder, rank: int, as_json: bool, backend: str) -> None:
    events: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(events, rec.events)
    if rank != 0:
        return
    ranks = [_rank_result(r, evs, None) for r, evs in enumerate(events)]
    busbw = next((s.detail.get("rows", []) for s in ranks[0].steps if s.step == "busbw"), [])
    summary = {"ok": True, "backend": backend, "nproc": len(ranks), "ranks": ranks, "busbw": busbw}
    if as_json:
        from dataclasses import asdict

        summary["ranks"] = [asdict(r) for r in ranks]
        print(json.dumps(summary, indent=2))
        return
    print(f"smoke ok: {len(ranks)} ranks, backend {backend}")
    for row in busbw:
        print(f"  all_reduce {row['size_bytes']:>10} B  busbw {row['busbw_gbps']:8.3f} GB/s")


# ====================================================================== parent side


def _rank_result(rank: int, events: list[dict[str, Any]], exit_code: int | None) -> RankResult:
    steps: dict[str, StepResult] = {}
    pid = None
    exited = None
    for e in events:
        kind = e.get("event")
        if kind == "start":
            pid = e.get("pid")
        elif kind == "step_start":
            steps[e["step"]] = StepResult(e["step"], "running")
        elif kind == "step_end":
            s = steps.setdefault(e["step"], StepResult(e["step"], "running"))
            s.status = e.get("status", "failed")
            s.duration_seconds = e.get("duration_seconds")
            s.error, s.kind = e.get("error"), e.get("kind")
            s.detail = e.get("detail") or {}
        elif kind == "exit":
            exited = e.get("code")
    ordered = [steps.get(name, StepResult(name, "not_run")) for name in STEPS]
    failed = any(s.status in ("failed", "hung") for s in ordered)
    if not events:
        status = "not_started"
    elif exited == 0:
        status = "ok"
    elif failed:
        status = "hung" if any(s.status == "hung" for s in ordered) else "failed"
    else:
        status = "running"
    return RankResult(rank, pid, status, exit_code if exit_code is not None else exited, ordered)


def _read_events(directory: Path, nproc: int) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for rank in range(nproc):
        path = directory / f"rank{rank}.jsonl"
        events = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        out[rank] = events
    return out


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
            _DIR_ENV: str(workdir),
            _PARENT_ENV: str(os.getpid()),
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
        "-m", "mltools.ddp.smoke",
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
    events = _read_events(workdir, nproc)
    shutil.rmtree(workdir, ignore_errors=True)
    codes = _exit_codes(log_text)
    ranks = [_rank_result(r, events[r], codes.get(r)) for r in range(nproc)]
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
        events = _read_events(workdir, nproc)
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
                (workdir / _FR_TRIGGER).touch()
                deadline = time.monotonic() + 15  # each rank's watchdog writes its own
                while time.monotonic() < deadline and len(
                    list(workdir.glob(f"{_FR_PREFIX}*"))
                ) < len(live):
                    time.sleep(0.1)
                dumps = [str(workdir / _FR_PREFIX)] if any(workdir.glob(f"{_FR_PREFIX}*")) else []
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


if __name__ == "__main__":
    rank_main()
