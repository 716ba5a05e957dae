"""Who a GPU process is: user, command, CPU and host memory, and its container/pod/Slurm job.

Attribution reads ``/proc/PID/cgroup`` (readable for every process) and, where
permitted, ``/proc/PID/environ``. It recognises Docker, containerd/CRI-O and
Podman containers, Kubernetes pods (cgroup v1 and v2, systemd and cgroupfs
drivers) and Slurm jobs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from mltools._procfs import read_environ

_HEX64 = r"[0-9a-f]{64}"
_CONTAINER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(rf"docker[-/]({_HEX64})")),
    ("containerd", re.compile(rf"cri-containerd[-:]({_HEX64})")),
    ("cri-o", re.compile(rf"crio[-:]({_HEX64})")),
    ("podman", re.compile(rf"libpod[-:]({_HEX64})")),
    ("containerd", re.compile(rf"kubepods[^\n]*/({_HEX64})")),
)
_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_SLURM_JOB = re.compile(r"(?:/slurm[^\n]*?|slurmstepd\.scope)/job_(\d+)(?:/step_([\w.]+))?")


@dataclass
class Attribution:
    """Where a process runs: container, Kubernetes pod, Slurm job (``None`` when unknown)."""

    container_runtime: str | None = None
    container_id: str | None = None
    k8s_pod_uid: str | None = None
    k8s_pod_name: str | None = None
    k8s_namespace: str | None = None
    slurm_job_id: str | None = None
    slurm_step: str | None = None

    @property
    def label(self) -> str | None:
        """Short text for tables: ``slurm:123``, ``pod:ns/name``, ``docker:0123456789ab``."""
        if self.slurm_job_id:
            step = f".{self.slurm_step}" if self.slurm_step else ""
            return f"slurm:{self.slurm_job_id}{step}"
        if self.k8s_pod_name or self.k8s_pod_uid:
            name = self.k8s_pod_name or self.k8s_pod_uid
            return f"pod:{self.k8s_namespace}/{name}" if self.k8s_namespace else f"pod:{name}"
        if self.container_id:
            return f"{self.container_runtime}:{self.container_id[:12]}"
        return None


def parse_cgroup(text: str) -> Attribution:
    """Attribution from the text of ``/proc/PID/cgroup``."""
    att = Attribution()
    for runtime, pattern in _CONTAINER_PATTERNS:
        match = pattern.search(text)
        if match:
            att.container_runtime, att.container_id = runtime, match.group(1)
            break
    pod = _POD_UID.search(text)
    if pod and "kubepods" in text:
        att.k8s_pod_uid = pod.group(1).replace("_", "-")
    job = _SLURM_JOB.search(text)
    if job:
        att.slurm_job_id, att.slurm_step = job.group(1), job.group(2)
    return att


def apply_environ(att: Attribution, env: dict[str, str]) -> Attribution:
    """Fill in what the process environment says (Slurm variables, downward-API pod names)."""
    att.slurm_job_id = att.slurm_job_id or env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    att.slurm_step = att.slurm_step or env.get("SLURM_STEP_ID")
    if att.k8s_pod_uid or env.get("KUBERNETES_SERVICE_HOST"):
        att.k8s_pod_name = env.get("POD_NAME") or env.get("HOSTNAME") or att.k8s_pod_name
        att.k8s_namespace = env.get("POD_NAMESPACE") or att.k8s_namespace
    return att


def attribution(pid: int, proc_root: str = "/proc") -> Attribution:
    """Attribution for ``pid``; fields stay ``None`` where ``/proc`` cannot be read."""
    try:
        with open(f"{proc_root}/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            att = parse_cgroup(fh.read())
    except OSError:
        att = Attribution()
    env = read_environ(pid, proc_root)
    return att if env is None else apply_environ(att, env)


@dataclass
class HostProcess:
    """Host-side facts about one pid (``visible=False`` when it is not in this PID namespace)."""

    pid: int
    visible: bool
    user: str | None = None
    command: str | None = None
    cpu_percent: float | None = None
    host_memory_rss_bytes: int | None = None
    running_seconds: float | None = None
    attribution: Attribution | None = None


# psutil.Process objects kept between snapshots so that --watch gets real CPU deltas.
_CACHE: dict[int, Any] = {}


def describe_processes(pids: set[int], cpu_interval: float) -> dict[int, HostProcess]:
    """Describe every pid at once; one shared CPU sampling window (never one per GPU).

    With ``cpu_interval`` > 0 the call sleeps once for that long when some pid
    has not been sampled before; ``cpu_percent`` is ``None`` when no window exists.
    """
    import psutil

    procs: dict[int, Any] = {}
    new_pids: set[int] = set()
    for pid in sorted(pids):
        proc = _CACHE.get(pid)
        try:
            if proc is None or not proc.is_running():
                proc = psutil.Process(pid)
                proc.cpu_percent(None)
                new_pids.add(pid)
            procs[pid] = proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    for pid in list(_CACHE):
        if pid not in procs:
            del _CACHE[pid]
    _CACHE.update(procs)
    if new_pids and cpu_interval > 0:
        time.sleep(cpu_interval)
    now = time.time()
    out: dict[int, HostProcess] = {}
    for pid in pids:
        proc = procs.get(pid)
        if proc is None:
            out[pid] = HostProcess(pid=pid, visible=False)
            continue
        host = HostProcess(pid=pid, visible=True)
        with proc.oneshot():
            host.user = _safe(proc.username)
            cmdline = _safe(proc.cmdline)
            host.command = " ".join(cmdline) if cmdline else _safe(proc.name)
            mem = _safe(proc.memory_info)
            host.host_memory_rss_bytes = mem.rss if mem is not None else None
            created = _safe(proc.create_time)
            host.running_seconds = max(0.0, now - created) if created is not None else None
            cpu = _safe(lambda p=proc: p.cpu_percent(None))
            no_window = pid in new_pids and cpu_interval <= 0
            host.cpu_percent = None if no_window else cpu
        host.attribution = attribution(pid)
        out[pid] = host
    return out


def _safe(fn: Any) -> Any:
    import psutil

    try:
        return fn()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None
