"""The summary of a recording, computed from its files alone.

Time-weighted: each sample stands for the time until the next one (the last one for
one interval), so throttle seconds and idle fractions are exact for what was sampled.
A GPU is idle in a sample when its utilisation is under :data:`IDLE_UTILIZATION_PERCENT`.
Energy is NVML's counter (last minus first, resets skipped) where every sample has it,
else power integrated over time (trapezoids); ``energy_source`` says which.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mltools.record.store import Run

IDLE_UTILIZATION_PERCENT = 5
TOP_PROCESSES = 10
SUMMARY_SCHEMA = 1


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _r(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


def weights(run: Run) -> list[float]:
    """Seconds each sample stands for: until the next sample; the last one, one interval."""
    ts = [s.get("t_seconds") or 0.0 for s in run.samples]
    interval = float(run.meta.get("interval_seconds") or 1.0)
    return [max(0.0, ts[i + 1] - ts[i]) for i in range(len(ts) - 1)] + ([interval] if ts else [])


def _gpu_series(run: Run) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    out: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, s in enumerate(run.samples):
        for g in s.get("gpus") or ():
            if isinstance(g.get("index"), int):
                out[g["index"]].append((i, g))
    return dict(out)


def _energy(points: list[tuple[float, dict[str, Any]]]) -> tuple[float | None, str | None]:
    counters = [g.get("energy_joules") for _, g in points]
    if counters and all(isinstance(c, (int, float)) for c in counters):
        total = sum(max(0.0, b - a) for a, b in itertools.pairwise(counters))  # a reset: skipped
        return total, "counter"
    power = [(t, g.get("power_draw_watts")) for t, g in points]
    power = [(t, p) for t, p in power if isinstance(p, (int, float))]
    if len(power) < 2:
        return None, None
    total = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in itertools.pairwise(power))
    return total, "integrated_power"


def _gpu_summary(
    run: Run, index: int, series: list[tuple[int, dict[str, Any]]], w: list[float]
) -> dict[str, Any]:
    ts = [run.samples[i].get("t_seconds") or 0.0 for i, _ in series]
    util = [(w[i], g.get("utilization_gpu_percent")) for i, g in series]
    util_values = [u for _, u in util if isinstance(u, (int, float))]
    util_time = sum(wt for wt, u in util if isinstance(u, (int, float)))
    idle_time = sum(
        wt for wt, u in util if isinstance(u, (int, float)) and u < IDLE_UTILIZATION_PERCENT
    )
    mean_util = (
        sum(wt * u for wt, u in util if isinstance(u, (int, float))) / util_time
        if util_time
        else None
    )
    peak, peak_t = None, None
    for t, (_, g) in zip(ts, series):
        used = g.get("memory_used_bytes")
        if isinstance(used, int) and (peak is None or used > peak):
            peak, peak_t = used, t
    throttle: dict[str, float] = defaultdict(float)
    for i, g in series:
        for reason in g.get("throttle_reasons") or ():
            throttle[reason] += w[i]
    energy, source = _energy([(t, g) for t, (_, g) in zip(ts, series)])
    powers = [g.get("power_draw_watts") for _, g in series]
    powers = [p for p in powers if isinstance(p, (int, float))]
    last = series[-1][1]
    tx = [g.get("pcie_tx_bytes_per_second") for _, g in series]
    rx = [g.get("pcie_rx_bytes_per_second") for _, g in series]
    temps = [g.get("temperature_gpu_celsius") for _, g in series]
    temps = [x for x in temps if isinstance(x, (int, float))]
    return {
        "index": index,
        "name": last.get("name"),
        "samples": len(series),
        "utilization_mean_percent": _r(mean_util, 2),
        "utilization_p95_percent": percentile(util_values, 95),
        "idle_fraction": _r(idle_time / util_time, 4) if util_time else None,
        "memory_peak_bytes": peak,
        "memory_peak_t_seconds": peak_t,
        "memory_total_bytes": last.get("memory_total_bytes"),
        "energy_joules": _r(energy, 3),
        "energy_wh": _r(energy / 3600, 4) if energy is not None else None,
        "energy_source": source,
        "power_mean_watts": _r(_mean(powers), 2),
        "temperature_max_celsius": max(temps) if temps else None,
        "throttle_seconds": {k: _r(v, 3) for k, v in sorted(throttle.items())},
        "pcie_tx_mean_bytes_per_second": _r(_mean([x for x in tx if isinstance(x, int)]), 0),
        "pcie_rx_mean_bytes_per_second": _r(_mean([x for x in rx if isinstance(x, int)]), 0),
        "errors": sorted({g["error"] for _, g in series if g.get("error")}),
    }


def _process_summaries(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stats: dict[int, dict[str, Any]] = {}
    for s in run.samples:
        for p in s.get("processes") or ():
            pid = p.get("pid")
            st = stats.setdefault(
                pid, {"cpu": [], "rss": 0, "read": [], "write": [], "gpu_mem": 0, "t": []}
            )
            if isinstance(p.get("cpu_percent"), (int, float)):
                st["cpu"].append(p["cpu_percent"])
            st["rss"] = max(st["rss"], p.get("rss_bytes") or 0)
            st["t"].append(s.get("t_seconds"))
            for key, name in (("read", "read_bytes"), ("write", "write_bytes")):
                if isinstance(p.get(name), int):
                    st[key].append(p[name])
            st["gpu_mem"] = max(
                st["gpu_mem"], sum(x.get("memory_bytes") or 0 for x in p.get("gpus") or ())
            )
    out = []
    for pid, st in stats.items():
        info = run.processes.get(pid, {})
        out.append(
            {
                "pid": pid,
                "name": info.get("name"),
                "command": info.get("command"),
                "rank": info.get("rank"),
                "local_rank": info.get("local_rank"),
                "first_seen_seconds": min(t for t in st["t"] if t is not None) if st["t"] else None,
                "last_seen_seconds": max(t for t in st["t"] if t is not None) if st["t"] else None,
                "cpu_mean_percent": _r(_mean(st["cpu"]), 2),
                "cpu_max_percent": max(st["cpu"]) if st["cpu"] else None,
                "rss_peak_bytes": st["rss"],
                "read_bytes": st["read"][-1] - st["read"][0] if len(st["read"]) > 1 else 0,
                "write_bytes": st["write"][-1] - st["write"][0] if len(st["write"]) > 1 else 0,
                "gpu_memory_peak_bytes": st["gpu_mem"],
            }
        )
    out.sort(key=lambda x: -(x["cpu_mean_percent"] or 0))
    ranks: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"cpu": [], "sm": []})
    with_gpus = any(s.get("gpus") for s in run.samples)  # SM shares only where GPUs were read
    for s in run.samples:
        per: dict[int, dict[str, float]] = defaultdict(lambda: {"cpu": 0.0, "sm": 0.0})
        for p in s.get("processes") or ():
            rank = run.processes.get(p.get("pid"), {}).get("rank")
            if rank is None:
                continue
            per[rank]["cpu"] += p.get("cpu_percent") or 0.0
            per[rank]["sm"] += sum(x.get("sm_percent") or 0 for x in p.get("gpus") or ())
        for rank, v in per.items():
            ranks[rank]["cpu"].append(v["cpu"])
            ranks[rank]["sm"].append(v["sm"])
    rank_rows = [
        {
            "rank": r,
            "cpu_mean_percent": _r(_mean(v["cpu"]), 2),
            "gpu_sm_mean_percent": _r(_mean(v["sm"]), 2) if with_gpus else None,
        }
        for r, v in sorted(ranks.items())
    ]
    return out, rank_rows


def _idle_holders(run: Run, w: list[float]) -> list[dict[str, Any]]:
    """Processes that held memory on a GPU while that GPU was idle, and for how long."""
    held: dict[tuple[int, int], dict[str, Any]] = {}
    for i, s in enumerate(run.samples):
        util = {g.get("index"): g.get("utilization_gpu_percent") for g in s.get("gpus") or ()}
        for p in s.get("processes") or ():
            for x in p.get("gpus") or ():
                u = util.get(x.get("index"))
                if (
                    (x.get("memory_bytes") or 0) > 0
                    and isinstance(u, (int, float))
                    and u < IDLE_UTILIZATION_PERCENT
                ):
                    row = held.setdefault(
                        (p["pid"], x["index"]),
                        {
                            "pid": p["pid"],
                            "gpu_index": x["index"],
                            "idle_seconds": 0.0,
                            "memory_max_bytes": 0,
                        },
                    )
                    row["idle_seconds"] += w[i]
                    row["memory_max_bytes"] = max(row["memory_max_bytes"], x["memory_bytes"])
    rows = sorted(held.values(), key=lambda r: -r["idle_seconds"])
    for row in rows:
        row["idle_seconds"] = round(row["idle_seconds"], 3)
        row["name"] = run.processes.get(row["pid"], {}).get("name")
    return rows


def summarize(run: Run) -> dict[str, Any]:
    """The recording's summary (what the terminal, ``summary.json`` and the report show)."""
    w = weights(run)
    interval = float(run.meta.get("interval_seconds") or 1.0)
    ts = [s.get("t_seconds") or 0.0 for s in run.samples]
    end = run.end or {}
    duration = (
        end.get("t_seconds")
        if isinstance(end.get("t_seconds"), (int, float))
        else (ts[-1] + interval if ts else 0.0)
    )
    gpus = [_gpu_summary(run, i, series, w) for i, series in sorted(_gpu_series(run).items())]
    energies = [g["energy_joules"] for g in gpus if g["energy_joules"] is not None]
    means = [
        (g["index"], g["utilization_mean_percent"])
        for g in gpus
        if g["utilization_mean_percent"] is not None
    ]
    throttle: dict[str, float] = defaultdict(float)
    for g in gpus:
        for reason, seconds in g["throttle_seconds"].items():
            throttle[reason] += seconds
    processes, ranks = _process_summaries(run)
    gaps = sum(max(0, round((b - a) / interval) - 1) for a, b in itertools.pairwise(ts))
    host = [s.get("host") or {} for s in run.samples]
    host_cpu = [
        h.get("cpu_percent") for h in host if isinstance(h.get("cpu_percent"), (int, float))
    ]
    mem = [h.get("memory_used_bytes") for h in host if isinstance(h.get("memory_used_bytes"), int)]
    shm = [h.get("shm_used_bytes") for h in host if isinstance(h.get("shm_used_bytes"), int)]
    rank_cpu = [r["cpu_mean_percent"] for r in ranks if r["cpu_mean_percent"] is not None]
    rank_sm = [r["gpu_sm_mean_percent"] for r in ranks if r["gpu_sm_mean_percent"] is not None]
    gpu_error = next((s.get("gpu_error") for s in run.samples if s.get("gpu_error")), None)
    return {
        "schema_version": SUMMARY_SCHEMA,
        "path": str(run.path),
        "command": run.meta.get("command"),
        "pid": run.meta.get("pid"),
        "attached": bool(run.meta.get("attached")),
        "hostname": run.meta.get("host"),
        "started": run.meta.get("started"),
        "interval_seconds": interval,
        "duration_seconds": _r(duration, 3),
        "exit_code": end.get("exit_code"),
        "end_reason": end.get("reason"),
        "samples": len(run.samples),
        "samples_missed": max(int(end.get("samples_missed") or 0), gaps),
        "samples_gaps": gaps,
        "gpu_error": gpu_error,
        "gpu_hours": _r(len(gpus) * duration / 3600, 4),
        "energy_joules": _r(sum(energies), 3) if energies else None,
        "energy_wh": _r(sum(energies) / 3600, 4) if energies else None,
        "throttle_seconds": {k: _r(v, 3) for k, v in sorted(throttle.items())},
        "gpus": gpus,
        "gpu_imbalance_percent": _r(max(m for _, m in means) - min(m for _, m in means), 2)
        if len(means) > 1
        else None,
        "ranks": ranks,
        "rank_cpu_imbalance_percent": _r(max(rank_cpu) - min(rank_cpu), 2)
        if len(rank_cpu) > 1
        else None,
        "rank_gpu_sm_imbalance_percent": _r(max(rank_sm) - min(rank_sm), 2)
        if len(rank_sm) > 1
        else None,
        "idle_gpu_memory_holders": _idle_holders(run, w),
        "processes_seen": len(processes),
        "processes": processes[:TOP_PROCESSES],
        "host": {
            "cpu_mean_percent": _r(_mean(host_cpu), 2),
            "cpu_p95_percent": percentile(host_cpu, 95),
            "memory_peak_bytes": max(mem) if mem else None,
            "shm_peak_bytes": max(shm) if shm else None,
        },
        "markers": [
            {
                "t_seconds": m.get("t_seconds"),
                "name": m.get("name"),
                "source": m.get("source"),
                "rank": m.get("rank"),
            }
            for m in run.markers
        ],
        "write_error": end.get("write_error"),
        "notes": list(run.notes),
    }


COMPARED = (
    ("duration_seconds", ("duration_seconds",)),
    ("gpu_hours", ("gpu_hours",)),
    ("energy_joules", ("energy_joules",)),
    ("utilization_mean_percent", ("gpus", "utilization_mean_percent")),
    ("utilization_p95_percent", ("gpus", "utilization_p95_percent")),
    ("idle_fraction", ("gpus", "idle_fraction")),
    ("memory_peak_bytes", ("gpus", "memory_peak_bytes")),
    ("throttle_seconds", ("throttle_seconds",)),
    ("host_cpu_mean_percent", ("host", "cpu_mean_percent")),
    ("host_memory_peak_bytes", ("host", "memory_peak_bytes")),
    ("processes_seen", ("processes_seen",)),
    ("samples", ("samples",)),
    ("samples_missed", ("samples_missed",)),
)


def _pick(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    if path[0] == "gpus":
        values = [g.get(path[1]) for g in summary.get("gpus") or ()]
        values = [v for v in values if isinstance(v, (int, float))]
        if not values:
            return None
        return (
            max(values) if path[1] == "memory_peak_bytes" else round(sum(values) / len(values), 4)
        )
    value: Any = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, dict):  # throttle seconds by reason: their total
        return round(sum(value.values()), 3)
    return value if isinstance(value, (int, float)) else None


def compare_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two summaries side by side: each metric's value in A and B, B - A and B / A."""
    out = []
    for name, path in COMPARED:
        va, vb = _pick(a, path), _pick(b, path)
        delta = _r(vb - va, 4) if va is not None and vb is not None else None
        ratio = _r(vb / va, 4) if va and vb is not None else None
        out.append({"metric": name, "a": va, "b": vb, "delta": delta, "ratio": ratio})
    return {"a": a.get("path"), "b": b.get("path"), "metrics": out}
