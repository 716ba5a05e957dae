"""What `mltools top` shows, computed from samples: rows, sorting, filters, tree, history.

No Textual here: these are plain functions and classes over the shared sampling
layer's ``Sample`` (GPU snapshot + host), so they are tested without a terminal
and the app only renders them.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: (key, header, right-aligned) of the process table, in display order.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("pid", "PID", True),
    ("user", "USER", False),
    ("gpu", "GPU", False),
    ("gpu_memory", "GPU-MEM", True),
    ("sm", "SM", True),
    ("cpu", "CPU", True),
    ("rss", "HOST-MEM", True),
    ("time", "TIME", True),
    ("rank", "RANK", False),
    ("owner", "OWNER", False),
    ("idle", "IDLE", False),
    ("command", "COMMAND", False),
)
SORT_KEYS = tuple(key for key, _, _ in COLUMNS)
#: columns whose biggest values come first when chosen (the rest sort ascending)
DESCENDING = frozenset({"gpu_memory", "sm", "cpu", "rss", "time", "idle"})

#: graph metrics in the order the `g` key cycles through them
METRICS: tuple[str, ...] = ("util", "memory", "power", "temp", "clock", "pcie_tx", "pcie_rx")
METRIC_TITLES = {
    "util": "GPU util %",
    "memory": "memory used %",
    "power": "power W",
    "temp": "temperature C",
    "clock": "SM clock MHz",
    "pcie_tx": "PCIe TX bytes/s",
    "pcie_rx": "PCIe RX bytes/s",
}
#: history windows (seconds) the `w` key cycles through
WINDOWS: tuple[int, ...] = (30, 60, 300, 900, 3600)
AGGREGATIONS: tuple[str, ...] = ("mean", "max", "min")


@dataclass
class ProcRow:
    """One process on one GPU (or MIG instance), or an ancestor shown in the tree view."""

    pid: int
    gpu_index: int | None
    gpu_label: str
    user: str | None = None
    command: str | None = None
    gpu_memory_bytes: int | None = None
    sm_percent: int | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    running_seconds: float | None = None
    visible: bool = True
    owner: str | None = None
    rank: str | None = None
    job: str | None = None
    idle_holding: bool = False
    create_time: float | None = None
    ppid: int | None = None
    ancestor: bool = False  # a tree-view row: not on a GPU itself
    depth: int = 0
    prefix: str = ""  # the tree-drawing prefix of the command cell

    @property
    def key(self) -> str:
        """Row identity across refreshes (a pid on two GPUs has two rows)."""
        return f"{self.pid}@{self.gpu_label}" if not self.ancestor else f"{self.pid}@tree"

    def value(self, column: str) -> Any:
        """The sortable value of ``column`` (``None`` sorts last)."""
        return {
            "pid": self.pid,
            "user": self.user,
            "gpu": self.gpu_index,
            "gpu_memory": self.gpu_memory_bytes,
            "sm": self.sm_percent,
            "cpu": self.cpu_percent,
            "rss": self.rss_bytes,
            "time": self.running_seconds,
            "rank": _rank_number(self.rank),
            "owner": self.owner,
            "idle": self.idle_holding,
            "command": self.command,
        }[column]


def _rank_number(rank: str | None) -> int | None:
    if not rank:
        return None
    head = rank.split("/")[0]
    return int(head) if head.isdigit() else None


def rows_from_snapshot(
    snap: Any,
    *,
    ddp: Callable[[int, float | None], tuple[str | None, str | None]] | None = None,
    idle_gpus: set[int] | None = None,
    create_time: Callable[[int], float | None] | None = None,
) -> list[ProcRow]:
    """One row per (process, GPU or MIG instance) of a ``gpu.snapshot.Snapshot``.

    ``ddp(pid, create_time)`` gives the (rank, job) labels; ``idle_gpus`` are the
    GPUs that stayed idle over the idle window: a process holding memory there is
    flagged; ``create_time(pid)`` identifies the process for signalling.
    """
    rows: list[ProcRow] = []
    if snap is None:
        return rows
    for gpu in snap.gpus:
        for p in gpu.processes or []:
            label = str(gpu.index)
            if p.gpu_instance_id is not None:
                label += f":{p.gpu_instance_id}/{'-' if p.compute_instance_id is None else p.compute_instance_id}"
            created = create_time(p.pid) if create_time and p.visible else None
            rank, job = ddp(p.pid, created) if ddp and p.visible else (None, None)
            rows.append(
                ProcRow(
                    pid=p.pid,
                    gpu_index=gpu.index,
                    gpu_label=label,
                    user=p.user,
                    command=p.command,
                    gpu_memory_bytes=p.gpu_memory_bytes,
                    sm_percent=p.gpu_sm_percent,
                    cpu_percent=p.cpu_percent,
                    rss_bytes=p.host_memory_rss_bytes,
                    running_seconds=p.running_seconds,
                    visible=p.visible,
                    owner=p.label,
                    rank=rank,
                    job=job,
                    idle_holding=bool(
                        idle_gpus and gpu.index in idle_gpus and (p.gpu_memory_bytes or 0) > 0
                    ),
                    create_time=created,
                )
            )
    return rows


def sort_rows(rows: Iterable[ProcRow], column: str, reverse: bool = False) -> list[ProcRow]:
    """Rows sorted by ``column``; rows without a value stay last in both directions."""
    have = [r for r in rows if r.value(column) is not None]
    missing = [r for r in rows if r.value(column) is None]
    have.sort(key=lambda r: r.pid)
    have.sort(key=lambda r: _sortable(r.value(column)), reverse=reverse)  # stable: ties by pid
    return have + sorted(missing, key=lambda r: r.pid)


def _sortable(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class FilterError(ValueError):
    """The filter text is not valid (a bad regex, a pid or GPU that is not a number)."""


@dataclass
class RowFilter:
    """``/`` filter: ``user:NAME``, ``pid:N``, ``gpu:N`` and a regex on the command; all must match."""

    text: str = ""
    users: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    gpus: list[int] = field(default_factory=list)
    command: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        """Parse the filter line; raises :class:`FilterError` naming the bad part."""
        f = cls(text=text.strip())
        rest: list[str] = []
        for token in text.split():
            name, sep, value = token.partition(":")
            if sep and name in ("user", "pid", "gpu"):
                if name == "user":
                    f.users.append(value)
                    continue
                if not value.isdigit():
                    raise FilterError(f"{name}:{value}: the {name} must be a number")
                (f.pids if name == "pid" else f.gpus).append(int(value))
            else:
                rest.append(token)
        if rest:
            pattern = " ".join(rest)
            try:
                f.command = re.compile(pattern)
            except re.error as exc:
                raise FilterError(f"bad regular expression {pattern!r}: {exc}") from None
        return f

    def __bool__(self) -> bool:
        return bool(self.text)

    def matches(self, row: ProcRow) -> bool:
        if self.users and row.user not in self.users:
            return False
        if self.pids and row.pid not in self.pids:
            return False
        if self.gpus and row.gpu_index not in self.gpus:
            return False
        return not (self.command and not self.command.search(row.command or ""))


def tree_rows(
    rows: Sequence[ProcRow],
    parent_of: Callable[[int], tuple[int | None, str | None, str | None, float | None]],
) -> list[ProcRow]:
    """Rows in process-tree order, with their ancestors (up to, not including, pid 1).

    ``parent_of(pid)`` returns (ppid, user, command, create time), ``None``s when unknown.
    Processes not visible here stay at the end, flat.
    """
    by_pid: dict[int, list[ProcRow]] = {}
    for r in rows:
        by_pid.setdefault(r.pid, []).append(r)
    parents: dict[int, int | None] = {}
    extra: dict[int, ProcRow] = {}
    pending = [r.pid for r in rows if r.visible]
    while pending:
        pid = pending.pop()
        if pid in parents:
            continue
        ppid, user, command, created = parent_of(pid)
        if ppid is not None and ppid <= 1:
            ppid = None
        parents[pid] = ppid
        if pid not in by_pid:
            extra[pid] = ProcRow(
                pid=pid, gpu_index=None, gpu_label="", user=user, command=command,
                ancestor=True, create_time=created,
            )  # fmt: skip
        if ppid is not None:
            pending.append(ppid)
    children: dict[int | None, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid if ppid in parents else None, []).append(pid)
    out: list[ProcRow] = []

    def walk(pid: int, depth: int, lead: str, last: bool) -> None:
        branch = "" if depth == 0 else lead + ("└─ " if last else "├─ ")
        for row in by_pid.get(pid, [extra[pid]] if pid in extra else []):
            row.depth, row.prefix = depth, branch
            out.append(row)
        kids = sorted(children.get(pid, []))
        child_lead = "" if depth == 0 else lead + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            walk(kid, depth + 1, child_lead, i == len(kids) - 1)

    for root in sorted(children.get(None, [])):
        walk(root, 0, "", True)
    out.extend(r for r in rows if not r.visible)
    return out


# ---------------------------------------------------------------- history


def gpu_metric(gpu: Any, metric: str) -> float | None:
    """One GPU's value of a graph metric (``None`` when NVML did not report it)."""
    if metric == "util":
        return gpu.utilization_gpu_percent
    if metric == "memory":
        if gpu.memory_used_bytes is None or not gpu.memory_total_bytes:
            return None
        return 100.0 * gpu.memory_used_bytes / gpu.memory_total_bytes
    if metric == "power":
        return gpu.power_draw_watts
    if metric == "temp":
        return gpu.temperature_gpu_celsius
    if metric == "clock":
        return gpu.clock_sm_mhz
    if metric == "pcie_tx":
        return getattr(gpu, "pcie_tx_bytes_per_second", None)
    if metric == "pcie_rx":
        return getattr(gpu, "pcie_rx_bytes_per_second", None)
    raise ValueError(f"unknown metric {metric!r}")


def metric_scale(gpu: Any, metric: str) -> float | None:
    """The value a full-height bar stands for (``None``: the largest value in the window)."""
    if metric in ("util", "memory"):
        return 100.0
    if metric == "power":
        return gpu.power_limit_watts if gpu is not None else None
    if metric == "temp":
        return 100.0
    return None


class History:
    """Per-series values in one-second buckets, at most an hour of them.

    Samples closer than a second are folded into one bucket (sum, count, max,
    min), so a 0.25 s refresh keeps the same memory as a 1 s one.
    """

    def __init__(self, horizon_seconds: int = WINDOWS[-1]) -> None:
        self.horizon = horizon_seconds
        self._series: dict[str, deque[list[float]]] = {}

    def add(self, name: str, t: float, value: float | None) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        series = self._series.setdefault(name, deque(maxlen=self.horizon + 1))
        second = math.floor(t)
        if series and series[-1][0] == second:
            b = series[-1]
            b[1] += value
            b[2] += 1
            b[3] = max(b[3], value)
            b[4] = min(b[4], value)
        else:
            series.append([second, value, 1, value, value])

    def names(self) -> list[str]:
        return list(self._series)

    def drop(self, name: str) -> None:
        """Forget a series (a process that exited)."""
        self._series.pop(name, None)

    def columns(
        self, name: str, now: float, window: float, width: int, how: str = "mean"
    ) -> list[float | None]:
        """``width`` values over the last ``window`` seconds (oldest first), aggregated by ``how``."""
        series = self._series.get(name)
        out: list[float | None] = [None] * width
        if not series or width <= 0:
            return out
        start = now - window
        step = window / width
        acc: list[list[float]] = [[] for _ in range(width)]
        for second, total, count, hi, lo in reversed(series):  # newest first: stop at the window
            if second + 1 <= start:
                break
            i = min(width - 1, max(0, int((second - start) // step)))
            acc[i].append({"mean": total / count, "max": hi, "min": lo}[how])
        last: float | None = None
        for i, values in enumerate(acc):
            if values:
                last = out[i] = (
                    sum(values) / len(values)
                    if how == "mean"
                    else (max(values) if how == "max" else min(values))
                )
            elif last is not None and step < 1.0:  # finer than the one-second buckets: hold
                out[i] = last
        return out


_BLOCKS = " ▁▂▃▄▅▆▇█"


def graph_lines(values: Sequence[float | None], height: int, scale: float | None) -> list[str]:
    """Bars of ``values`` (``None`` = no data: blank) ``height`` rows high, top row first."""
    known = [v for v in values if v is not None]
    top = scale if scale else (max(known) if known else 1.0)
    top = top or 1.0
    lines = []
    for row in range(height - 1, -1, -1):
        chars = []
        for v in values:
            if v is None:
                chars.append(" ")
                continue
            eighths = max(0.0, min(1.0, v / top)) * height * 8
            level = round(eighths - row * 8)
            if v > 0 and row == 0:
                level = max(level, 1)
            chars.append(_BLOCKS[max(0, min(8, level))])
        lines.append("".join(chars))
    return lines


# ---------------------------------------------------------------- formatting


def human_bytes(n: float | None, *, short: bool = False) -> str:
    """``units.human_bytes`` ('3.2 GiB'); ``short``: '3.2G' for the narrow GPU bars."""
    from mltools.units import human_bytes as full

    text = full(n)
    if not short or n is None:
        return text
    value, unit = text.split()
    return f"{value}{unit[0]}" if unit != "B" else f"{value}B"


def level(value: float | None, thresholds: tuple[float, float]) -> str:
    """'light', 'moderate' or 'heavy' for colouring (nvitop's bands); '' when unknown."""
    if value is None:
        return ""
    low, high = thresholds
    return "light" if value < low else ("moderate" if value < high else "heavy")


UTIL_THRESHOLDS = (10.0, 75.0)
MEMORY_THRESHOLDS = (10.0, 80.0)
