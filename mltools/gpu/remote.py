"""Snapshots of other hosts over ssh (``mltools gpu --hosts a,b``).

Each host runs ``mltools gpu --json`` through ``ssh -o BatchMode=yes`` (no
password prompts) under a per-host timeout, all hosts in parallel. A host that
cannot be reached, times out or answers garbage becomes a :class:`HostResult`
with ``error`` set; the others still report.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, fields
from typing import Any

from mltools import _children
from mltools._child_failure import ssh_failure
from mltools.errors import UsageError
from mltools.gpu.snapshot import GPU, GPUProcess, MIGDevice, Snapshot


@dataclass
class HostResult:
    """One host's snapshot, or why there is none."""

    host: str
    snapshot: Snapshot | None
    error: str | None = None
    hint: str | None = None  # what to do about ``error``, when ssh said why it failed


def parse_hosts(text: str) -> list[str]:
    """'node1, node2,user@node3' -> ['node1', 'node2', 'user@node3'] (no option-like names)."""
    hosts = [h.strip() for h in text.split(",") if h.strip()]
    if not hosts:
        raise UsageError("--hosts needs at least one host name")
    for host in hosts:
        if host.startswith("-") or any(c.isspace() for c in host):
            raise UsageError(f"not a host name: {host!r}")
    return hosts


def snapshot_hosts(
    hosts: list[str],
    *,
    timeout: float = 20.0,
    ssh_config: str | None = None,
    remote_command: str = "mltools",
) -> list[HostResult]:
    """Run ``REMOTE_COMMAND gpu --json`` on every host (in parallel) and parse the answers."""
    from concurrent.futures import ThreadPoolExecutor

    from mltools._children import stopped_on_interrupt

    # on Ctrl-C/SIGTERM the ssh children are stopped first, so the threads end at once
    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool, stopped_on_interrupt():
        return list(pool.map(lambda h: _one(h, timeout, ssh_config, remote_command), hosts))


def ssh_argv(host: str, command: str, *, timeout: float, ssh_config: str | None) -> list[str]:
    """The ssh command line: batch mode, connect timeout, no stdin, optional ``-F config``."""
    argv = [
        "ssh",
        "-n",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={max(1, int(timeout))}",
    ]
    if ssh_config:
        argv += ["-F", ssh_config]
    return [*argv, "--", host, command]


def _one(host: str, timeout: float, ssh_config: str | None, remote_command: str) -> HostResult:
    command = f"{remote_command} gpu --json"
    argv = ssh_argv(host, command, timeout=timeout, ssh_config=ssh_config)
    try:
        proc = _children.run(argv, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return HostResult(host, None, f"timed out after {timeout:g} s")
    except FileNotFoundError:
        return HostResult(host, None, "ssh is not installed here")
    try:
        data = json.loads(proc.stdout)
        snap = snapshot_from_dict(data)
    except (ValueError, TypeError, KeyError):
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        if proc.returncode == 127:
            last = f"{shlex.split(remote_command)[0]} not found on the host ({last})"
            return HostResult(host, None, last)
        failure = ssh_failure(proc.stderr, host=host) if proc.returncode == 255 else None
        if failure is not None:
            return HostResult(host, None, failure.line(), failure.hint)
        return HostResult(host, None, f"{remote_command} gpu --json failed there: {last}")
    return HostResult(host, snap, snap.error)


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def snapshot_from_dict(data: dict[str, Any]) -> Snapshot:
    """Rebuild a :class:`Snapshot` from ``mltools gpu --json`` output (unknown keys ignored)."""
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise ValueError("not an mltools gpu snapshot (schema_version 1)")
    gpus = []
    for g in data.get("gpus", []):
        gpu = _build(GPU, g)
        gpu.mig_devices = [_build(MIGDevice, m) for m in g.get("mig_devices") or []]
        procs = g.get("processes")
        gpu.processes = None if procs is None else [_build(GPUProcess, p) for p in procs]
        gpus.append(gpu)
    return Snapshot(
        host=data.get("host") or "",
        timestamp=data.get("timestamp") or "",
        driver_version=data.get("driver_version"),
        cuda_driver_version=data.get("cuda_driver_version"),
        gpus=gpus,
        error=data.get("error"),
    )


@dataclass
class HostOutput:
    """What one host's command printed (``run_on_hosts``), or why it did not run."""

    host: str
    returncode: int | None
    stdout: str
    stderr: str
    error: str | None = None  # ssh missing or timed out


def run_on_hosts(
    hosts: list[str], command: str, *, timeout: float = 20.0, ssh_config: str | None = None
) -> list[HostOutput]:
    """Run one command on every host over ssh (BatchMode), in parallel, each under ``timeout``.

    The generic form of ``snapshot_hosts`` for other commands (``ddp-doctor hang --hosts``).
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(host: str) -> HostOutput:
        argv = ssh_argv(host, command, timeout=timeout, ssh_config=ssh_config)
        try:
            proc = _children.run(argv, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return HostOutput(host, None, "", "", f"timed out after {timeout:g} s")
        except FileNotFoundError:
            return HostOutput(host, None, "", "", "ssh is not installed here")
        return HostOutput(host, proc.returncode, proc.stdout, proc.stderr)

    with (
        ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool,
        _children.stopped_on_interrupt(),  # Ctrl-C/SIGTERM: the ssh children go first
    ):
        return list(pool.map(one, hosts))
