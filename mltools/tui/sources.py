"""Where `mltools top` gets its data and how it acts, all through the library.

:class:`Source` wraps the shared sampler and adds what the process table needs
beyond a sample: each process's start time (to signal the process that was
shown, never a recycled pid), its DDP rank (read by ``ddp-doctor hang``'s
discovery, once per process), its parents for the tree view. It signals through
the process stopper, reads environments through ``mltools._procfs`` and asks
``gpu pick``'s selection what it would choose. The TUI never talks to NVML.
"""

from __future__ import annotations

import contextlib
import signal as _signal
from dataclasses import dataclass, field
from typing import Any

from mltools.errors import MltoolsError
from mltools.stopper import StopResult

__all__ = ["Frame", "ProcessFacts", "Source", "StopResult"]


@dataclass
class ProcessFacts:
    """What the table needs about one process beyond the GPU sample."""

    pid: int
    create_time: float | None = None
    ppid: int | None = None
    user: str | None = None
    command: str | None = None
    rank: str | None = None  # "3/8 L1": global rank / world size, local rank
    job: str | None = None  # ddp-doctor's label: MASTER_ADDR=... MASTER_PORT=...

    def parent(self) -> tuple[int | None, str | None, str | None, float | None]:
        return self.ppid, self.user, self.command, self.create_time


@dataclass
class Frame:
    """One sample and the facts looked up for its processes (``error``: no sample at all)."""

    sample: Any
    facts: dict[int, ProcessFacts] = field(default_factory=dict)
    error: str | None = None


class Source:
    """Samples plus process facts; signals, environments and the `gpu pick` choice."""

    def __init__(
        self,
        sampler: Any,
        *,
        hosts: list[str] | None = None,
        host_timeout: float = 20.0,
        ssh_config: str | None = None,
        remote_mltools: str = "mltools",
    ) -> None:
        self.sampler = sampler
        self.hosts = hosts or []
        self._ssh = {
            "timeout": host_timeout,
            "ssh_config": ssh_config,
            "remote_command": remote_mltools,
        }
        self.hang_window = 6.0  # seconds a rank must stand still to be called stuck
        self._ddp: dict[tuple[int, float | None], tuple[str | None, str | None]] = {}

    def frame(self, *, tree: bool = False, ddp: bool = True) -> Frame:
        """Sample now; with ``tree`` the GPU processes' ancestors are looked up too.

        ``ddp=False`` leaves new processes' rank labels for a later frame (the first
        frame is drawn without waiting for them).
        """
        try:
            sample = self.sampler.sample()
        except MltoolsError as exc:
            return Frame(None, {}, exc.message)
        facts: dict[int, ProcessFacts] = {}
        snap = sample.gpus
        pids = {p.pid for g in (snap.gpus if snap else []) for p in g.processes or [] if p.visible}
        for pid in sorted(pids):
            f = process_facts(pid)
            if f is not None:
                facts[pid] = f
        new = [pid for pid, f in facts.items() if (pid, f.create_time) not in self._ddp]
        if new and ddp:
            labels = ddp_labels(new)
            for pid in new:
                self._ddp[(pid, facts[pid].create_time)] = labels.get(pid, (None, None))
        for pid, f in facts.items():
            f.rank, f.job = self._ddp.get((pid, f.create_time), (None, None))
        live = {(p, f.create_time) for p, f in facts.items()}
        for key in [k for k in self._ddp if k not in live]:
            del self._ddp[key]
        if tree:
            pending = [f.ppid for f in facts.values() if f.ppid]
            while pending:
                pid = pending.pop()
                if pid is None or pid <= 1 or pid in facts:
                    continue
                f = process_facts(pid, details=True)
                if f is not None:
                    facts[pid] = f
                    pending.append(f.ppid)
        return Frame(sample, facts)

    def close(self) -> None:
        self.sampler.close()

    def stop_children(self) -> None:
        """Stop the ssh and py-spy children the cluster (c) and hang (d) views still have
        running, so that none outlives top (they would run out their timeouts)."""
        from mltools import _children

        _children.stop_all()

    def signal(self, pid: int, create_time: float | None, sig: _signal.Signals) -> StopResult:
        """Send ``sig`` once to the process shown as ``pid`` (started at ``create_time``).

        The stopper refuses pid 1, mltools and its parents, other users' processes unless
        root, and a pid that now belongs to another process (its start time differs).
        """
        from mltools.stopper import stop

        if create_time is None:
            return StopResult(pid, "failed", "its start time could not be read")
        (result,) = stop([(pid, create_time)], sig=int(sig), wait=False)
        return result

    def hang_verdict(self, pids: list[int]) -> list[str]:
        """``ddp-doctor hang`` on the job of ``pids``: its verdict and each group of ranks.

        Takes a few seconds (the ranks are watched for ``hang_window`` seconds, py-spy
        samples their stacks); the app runs it off the event loop.
        """
        from mltools.ddp.hang import analyze_hang

        try:
            report = analyze_hang(pids, window=self.hang_window, max_window=self.hang_window * 3)
        except MltoolsError as exc:
            return [f"ddp-doctor hang: {exc.message}"] + ([exc.hint] if exc.hint else [])
        lines = [report.verdict, ""]
        for g in report.groups:
            ranks = ",".join("?" if r is None else str(r) for r in g.ranks)
            where = f" {g.where}" if g.where else ""
            lines.append(f"ranks {ranks}: {g.state}{where}")
            if g.evidence:
                lines.append(f"    {g.evidence}")
        return lines

    def cluster(self) -> list[Any]:
        """Every ``--hosts`` host's snapshot over ssh (``gpu --hosts``' layer), in parallel."""
        from mltools.gpu.remote import snapshot_hosts

        return snapshot_hosts(self.hosts, **self._ssh)

    def environment(self, pid: int) -> dict[str, str] | None:
        from mltools._procfs import read_environ

        return read_environ(pid)

    def pick(self, snap: Any) -> list[str]:
        """What ``mltools gpu pick`` (its defaults) would choose from ``snap``, and why."""
        from mltools.gpu.select import select_gpus

        if snap is None:
            return ["no GPU data"]
        try:
            sel = select_gpus(1, snap=snap, use_topology=False)
        except MltoolsError as exc:
            head = [f"nothing to pick: {exc.message}"]
            candidates = getattr(exc, "candidates", [])
        else:
            head = [
                f"gpu pick would choose GPU {sel.cuda_visible_devices}",
                f"CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES={sel.cuda_visible_devices}",
            ]
            candidates = sel.candidates
        lines = [*head, ""]
        for c in candidates:
            why = "free" if c.qualifies else "; ".join(c.reasons)
            lines.append(f"GPU {c.index}: {why}")
        return lines


def process_facts(pid: int, *, details: bool = False) -> ProcessFacts | None:
    """Start time and parent of ``pid`` (user and command too with ``details``); None if gone.

    The start time is the stopper's (:func:`mltools.stopper.create_time`'s psutil value),
    so a signal later goes only to this very process.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            f = ProcessFacts(pid=pid, create_time=proc.create_time(), ppid=proc.ppid())
            if details:
                try:
                    f.user = proc.username()
                    f.command = " ".join(proc.cmdline()) or proc.name()
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    f.command = f.command or None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return f


def ddp_labels(pids: list[int]) -> dict[int, tuple[str | None, str | None]]:
    """pid -> ("3/8 L1", job label) from the environment, as ``ddp-doctor hang`` discovers it.

    One discovery for all the pids (one walk of /proc); when they belong to several
    jobs (discovery refuses to mix them) each pid is asked on its own.
    """
    from mltools._procfs import read_environ
    from mltools.ddp.hang_discovery import HangError, discover, job_label, vocabulary_of

    pids = [p for p in pids if vocabulary_of(read_environ(p)) is not None]
    if not pids:  # no process carries a rank: no discovery (a walk of /proc) at all
        return {}
    try:
        found = [discover(pids)]
    except HangError:
        found = []
        for pid in pids:
            with contextlib.suppress(MltoolsError, OSError):
                found.append(discover([pid]))
    except (MltoolsError, OSError):
        return {}
    out: dict[int, tuple[str | None, str | None]] = {}
    for d in found:
        for r in d.ranks:
            if r.pid in pids and r.rank is not None:
                world = f"/{r.world_size}" if r.world_size else ""
                local = f" L{r.local_rank}" if r.local_rank is not None else ""
                out[r.pid] = (f"{r.rank}{world}{local}", job_label(r.job) if r.job else None)
    return out
