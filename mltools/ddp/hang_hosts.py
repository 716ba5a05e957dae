"""`ddp-doctor hang --hosts a,b` / `--slurm-job ID`: one verdict over every node of a job.

Each host runs ``mltools ddp-doctor hang --json`` (its own discovery, adaptive
sampling and evidence) over ssh in BatchMode, all hosts in parallel, each under
a timeout (the fan-out of :mod:`mltools.gpu.remote`). Every host's ranks are then
merged into one list and judged together, so the odd rank is named with its
host however the ranks are spread; a global rank that no host reports is
named as missing, and a host that did not answer is named too.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import subprocess
import time
from typing import Any

from mltools.ddp import flight_recorder as fr
from mltools.ddp.hang import Evidence, HangError, HangReport, RankState, build_report, job_label
from mltools.errors import PartialFailureError, UsageError


def slurm_hosts(job_id: str) -> list[str]:
    """The nodes of a Slurm job: ``scontrol show job`` then ``scontrol show hostnames``."""
    if not job_id.replace("_", "").isalnum():
        raise UsageError(f"not a Slurm job id: {job_id!r}")
    if shutil.which("scontrol") is None:
        raise HangError(
            "--slurm-job needs Slurm's scontrol, which is not on PATH",
            hint="run it on a login node of the cluster, or pass the nodes with --hosts",
        )

    def run(*argv: str) -> str:
        proc = subprocess.run(
            ["scontrol", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise HangError(
                f"scontrol {' '.join(argv)} failed: "
                + ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
            )
        return proc.stdout

    info = run("show", "job", "-o", job_id)
    nodelist = next(
        (tok.split("=", 1)[1] for tok in info.split() if tok.startswith("NodeList=")), ""
    )
    if not nodelist or nodelist in ("(null)", "None"):
        raise HangError(f"Slurm job {job_id} has no nodes (is it running?)")
    hosts = run("show", "hostnames", nodelist).split()
    if not hosts:
        raise HangError(f"scontrol gave no host names for {nodelist}")
    return hosts


def remote_hang_command(
    remote: str,
    *,
    samples: int,
    interval: float,
    window: float,
    max_window: float,
    native: bool,
    local_vars: bool = False,
    bundle: bool = False,
) -> str:
    """The command each host runs."""
    args = [
        "ddp-doctor", "hang", "--json", "--samples", str(samples), "--interval", f"{interval:g}",
        "--window", f"{window:g}", "--max-window", f"{max_window:g}",
    ]  # fmt: skip
    if native:
        args.append("--native")
    if local_vars:
        args.append("--locals")
    if bundle:
        args.append("--bundle-material")
    return f"{remote} {' '.join(shlex.quote(a) for a in args)}"


def _state_from_dict(d: dict[str, Any], host: str) -> RankState:
    names = {f.name for f in dataclasses.fields(RankState)}
    kw = {k: v for k, v in d.items() if k in names}
    ev = d.get("evidence") or {}
    ev_names = {f.name for f in dataclasses.fields(Evidence)}
    kw["evidence"] = Evidence(**{k: v for k, v in ev.items() if k in ev_names})
    kw["host"] = host
    for key in ("stack", "native"):
        kw[key] = list(kw.get(key) or [])
    return RankState(**kw)


def _traces(data: dict[str, Any]) -> list[fr.RankTrace]:
    flight = data.get("flight_recorder") or {}
    names = {f.name for f in dataclasses.fields(fr.RankTrace)}
    out = []
    for t in flight.get("ranks") or []:
        kw = {k: v for k, v in t.items() if k in names}
        kw["ops"] = {int(k): v for k, v in (kw.get("ops") or {}).items()}
        out.append(fr.RankTrace(**kw))
    return out


def _error_line(stderr: str, code: int | None) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    err = next((ln for ln in lines if ln.startswith("mltools: error:")), None)
    if err:
        return err.removeprefix("mltools: error: ")
    return lines[-1] if lines else f"exit code {code}"


def analyze_hang_hosts(
    hosts: list[str],
    *,
    samples: int = 3,
    interval: float = 0.5,
    window: float = 6.0,
    max_window: float = 20.0,
    native: bool = False,
    host_timeout: float | None = None,
    ssh_config: str | None = None,
    remote_command: str = "mltools",
    local_vars: bool = False,
    bundle: bool = False,
) -> HangReport:
    """Sample the job's ranks on every host (in parallel, over ssh) and judge them together."""
    from mltools._child_failure import ssh_failure
    from mltools.gpu.remote import run_on_hosts

    if not hosts:
        raise UsageError("--hosts needs at least one host name")
    start = time.monotonic()
    timeout = host_timeout if host_timeout is not None else max_window + 60.0
    command = remote_hang_command(
        remote_command, samples=samples, interval=interval, window=window,
        max_window=max_window, native=native, local_vars=local_vars, bundle=bundle,
    )  # fmt: skip
    outputs = run_on_hosts(hosts, command, timeout=timeout, ssh_config=ssh_config)
    states: list[RankState] = []
    traces: list[fr.RankTrace] = []
    notes: list[dict[str, Any]] = []
    materials: list[dict[str, Any]] = []
    # (machine and PID namespace, pid) -> host: two names for one machine give the same
    # processes twice; two containers on one machine give equal pids for different ones
    seen: dict[tuple[str | None, int | None], str] = {}
    for out in outputs:
        note: dict[str, Any] = {"host": out.host, "ranks": 0, "error": out.error, "kind": None}
        notes.append(note)
        if out.error:
            continue
        try:
            data = json.loads(out.stdout)
            if not isinstance(data, dict) or "ranks" not in data:
                raise ValueError("not a hang report")
        except ValueError:
            line = _error_line(out.stderr, out.returncode)
            # ssh's own words and what they mean here, as `gpu --hosts` says them
            failure = ssh_failure(out.stderr, host=out.host) if out.returncode == 255 else None
            if failure is not None:
                note["error"], note["hint"] = failure.line(), failure.hint
            elif out.returncode == 127:
                note["error"] = f"{shlex.split(remote_command)[0]} not found on the host ({line})"
            elif "no DDP rank processes" in line:
                note["error"], note["no_ranks"] = line, True
            else:
                note["error"] = f"ssh failed: {line}"
            continue
        note["kind"] = data.get("kind")
        if isinstance(data.get("bundle_material"), dict):
            materials.append({**data["bundle_material"], "host": out.host})
        boot = f"{data.get('boot_id')}/{data.get('pid_namespace')}" if data.get("boot_id") else None
        for d in data["ranks"]:
            key = (boot, d.get("pid"))
            if boot and d.get("pid") is not None and key in seen:
                continue  # two host names for one machine: the same process twice
            if d.get("pid") is not None:
                seen[key] = out.host
            states.append(_state_from_dict(d, out.host))
            note["ranks"] += 1
        traces.extend(_traces(data))
    jobs = sorted({s.job for s in states if s.job})
    if len(jobs) > 1:
        listing = "; ".join(
            f"{job_label(j)} on {', '.join(sorted({s.host or '?' for s in states if s.job == j}))}"
            for j in jobs
        )
        raise HangError(
            f"the hosts run {len(jobs)} different distributed jobs ({listing})",
            hint="pass the hosts of one job",
        )
    answered = [n["host"] for n in notes if not n["error"] or n.get("no_ranks")]
    failed = [n for n in notes if n["error"] and not n.get("no_ranks")]
    world = max((s.world_size or 0 for s in states), default=0)
    present = {s.rank for s in states if s.rank is not None}
    searched = ", ".join(answered) or "none"
    for r in range(world):
        if r not in present:
            states.append(
                RankState(
                    rank=r, pid=None, state="unseen", collective=None, call=None, frame=None,
                    world_size=world, job=jobs[0] if jobs else None,
                    detail=f"not on the hosts that answered ({searched})",
                )
            )  # fmt: skip
    if not states:
        why = "; ".join(f"{n['host']}: {n['error']}" for n in notes if n["error"])
        if failed:  # exit 6 like a partial failure: it is the hosts that did not report
            raise PartialFailureError(
                f"no host reported ({len(failed)} of {len(notes)} did not answer: {why})",
                hint=next((n["hint"] for n in failed if n.get("hint")), None)
                or "check the host names, ssh access (BatchMode) and that mltools is "
                "installed there (--remote-mltools)",
            )
        raise HangError(
            f"no rank found on any host ({why or 'no answer'})",
            hint="check the host names, ssh access (BatchMode) and that mltools is installed there",
        )
    states.sort(key=lambda s: (s.rank is None, s.rank or 0, s.host or ""))
    flight = fr.analyze(traces, world or None) if traces else None
    report = build_report(
        states, flight, None, samples, interval, window, time.monotonic() - start, notes
    )
    report.bundle_material = materials
    report.world_size = world or None
    report.job = jobs[0] if jobs else None
    if failed:
        report.verdict += "; did not answer: " + "; ".join(
            f"{n['host']} ({n['error']})" for n in failed
        )
    return report
