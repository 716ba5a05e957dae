"""The offline HTML report: one file, charts drawn as inline SVG, no script, no network.

Why hand-written SVG rather than a plotting library: the report must work with the
plain install (no matplotlib/plotly: 10-60 MB and, for plotly, a 3 MB script per file
or a CDN fetch at view time), and line charts over time with marker lines are a few
dozen lines of SVG. A Content-Security-Policy of ``default-src 'none'`` in the page
guarantees a viewer fetches nothing. Long series are reduced to each pixel column's
minimum and maximum, so peaks survive and the file stays small.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from mltools.record.store import Run

WIDTH, HEIGHT = 960, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 26
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
TOP_PROCESS_SERIES = 8
MAX_MARKER_LABELS = 40

Series = tuple[str, list[tuple[float, float | None]]]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.chart{margin:8px 0 2px}.legend span{margin-right:14px;white-space:nowrap}
.sw{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
.muted{color:#777}table.procs td:last-child{text-align:left}code{background:#f5f5f5;padding:0 3px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top`` whose quarters are round too."""
    if top <= 0 or not math.isfinite(top):
        return 1.0
    exp = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 4, 6, 8, 10):
        if step * exp >= top * (1 - 1e-9):
            return step * exp
    return 10 * exp


def _nice_bytes(top: float) -> float:
    """A round maximum in the binary unit the value is shown in (GiB, MiB ...)."""
    unit = 1.0
    while top / unit >= 1024:
        unit *= 1024
    return _nice(top / unit) * unit


def clock_text(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _axis_time(t_max: float) -> Callable[[float], str]:
    """Time tick labels: tenths of seconds for short runs, m:ss or h:mm:ss beyond."""
    if t_max < 10:
        return lambda t: f"{t:.1f} s"
    if t_max < 100:
        return lambda t: f"{t:.0f} s"
    return clock_text


def _reduce(
    points: list[tuple[float, float | None]], t_max: float, columns: int
) -> list[tuple[float, float | None]]:
    """At most two points (min and max) per pixel column; gaps (None) kept."""
    if len(points) <= 2 * columns or t_max <= 0:
        return points
    out: list[tuple[float, float | None]] = []
    bucket: list[tuple[float, float]] = []
    current = None
    for t, v in points:
        col = int(t / t_max * columns)
        if v is None:
            out.extend(_flush(bucket))
            bucket, current = [], None
            out.append((t, None))
            continue
        if col != current and bucket:
            out.extend(_flush(bucket))
            bucket = []
        current = col
        bucket.append((t, v))
    out.extend(_flush(bucket))
    return out


def _flush(bucket: list[tuple[float, float]]) -> list[tuple[float, float | None]]:
    if len(bucket) <= 2:
        return list(bucket)
    lo = min(bucket, key=lambda p: p[1])
    hi = max(bucket, key=lambda p: p[1])
    return sorted({lo, hi})


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    t_max: float,
    fmt: Callable[[float], str],
    markers: Sequence[dict[str, Any]] = (),
    y_max: float | None = None,
    label_markers: bool = False,
    nice: Callable[[float], float] = _nice,
) -> str:
    """One SVG line chart over time, with a legend and the markers as dashed lines."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t_max = t_max if t_max > 0 else 1.0
    values = [v for _, pts in series for _, v in pts if v is not None]
    top = y_max if y_max is not None else nice(max(values) if values else 1.0)
    tick_text = _axis_time(t_max)

    def x(t: float) -> float:
        return LEFT + plot_w * min(max(t / t_max, 0.0), 1.0)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(max(v / top, 0.0), 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_e(title)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for k in range(5):
        v = top * k / 4
        yy = y(v)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e4e4e4"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{_e(fmt(v))}</text>'
        )
    for k in range(7):
        t = t_max * k / 6
        xx = x(t)
        parts.append(
            f'<text x="{xx:.1f}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle" fill="#555">{_e(tick_text(t))}</text>'
        )
    for n, m in enumerate(markers):
        t = m.get("t_seconds")
        if not isinstance(t, (int, float)):
            continue
        xx = x(t)
        parts.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#999" '
            f'stroke-dasharray="3,3"><title>{_e(m.get("name"))} at {_e(clock_text(t))}</title></line>'
        )
        if label_markers and n < MAX_MARKER_LABELS:
            parts.append(
                f'<text x="{xx + 2:.1f}" y="{TOP + 10 + 11 * (n % 3)}" font-size="10" fill="#666">{_e(str(m.get("name"))[:24])}</text>'
            )
    for k, (label, pts) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for t, v in _reduce(pts, t_max, plot_w):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(t):.1f},{y(v):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                    f'points="{" ".join(run)}"><title>{_e(label)}</title></polyline>'
                )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i class="sw" style="background:{PALETTE[k % len(PALETTE)]}"></i>{_e(label)}</span>'
        for k, (label, _) in enumerate(series)
    )
    return (
        f'<div class="chart"><b>{_e(title)}</b><br>{"".join(parts)}'
        f'<div class="legend">{legend}</div></div>'
    )


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _pct(v: float) -> str:
    return f"{v:.0f}%"


def _num(unit: str) -> Callable[[float], str]:
    return lambda v: f"{v:g} {unit}"


def _gpu_series(run: Run, key: str, scale: float = 1.0) -> list[Series]:
    by_gpu: dict[int, list[tuple[float, float | None]]] = {}
    for s in run.samples:
        t = s.get("t_seconds") or 0.0
        for g in s.get("gpus") or ():
            v = g.get(key)
            by_gpu.setdefault(g.get("index"), []).append(
                (t, v * scale if isinstance(v, (int, float)) else None)
            )
    return [
        (f"GPU {i}", pts) for i, pts in sorted(by_gpu.items()) if any(v is not None for _, v in pts)
    ]


def _process_series(
    run: Run, key: str, pids: Sequence[int], value: Callable[[dict], Any] | None = None
) -> list[Series]:
    out: list[Series] = []
    for pid in pids:
        info = run.processes.get(pid, {})
        label = f"{pid} {info.get('name') or ''}" + (
            f" (rank {info['rank']})" if info.get("rank") is not None else ""
        )
        pts: list[tuple[float, float | None]] = []
        seen = False
        for s in run.samples:
            row = next((p for p in s.get("processes") or () if p.get("pid") == pid), None)
            if row is None:
                if seen:
                    pts.append((s.get("t_seconds") or 0.0, None))
                continue
            seen = True
            v = value(row) if value else row.get(key)
            pts.append((s.get("t_seconds") or 0.0, v if isinstance(v, (int, float)) else None))
        out.append((label, pts))
    return out


def _host_series(run: Run, key: str, label: str) -> Series:
    return (
        label,
        [(s.get("t_seconds") or 0.0, (s.get("host") or {}).get(key)) for s in run.samples],
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e('' if c is None else c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><tr>{head}</tr>{body}</table>"


def _or(value: Any, fmt: Callable[[Any], str]) -> str:
    return "n/a" if value is None else fmt(value)


def render_html(run: Run, summary: dict[str, Any]) -> str:
    """The whole report as one HTML string (charts, markers, summary tables)."""
    t_max = float(summary.get("duration_seconds") or 0.0)
    marks = run.markers
    cmd = " ".join(summary.get("command") or []) or f"pid {summary.get('pid')}"
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>mltools record: {_e(cmd)}</title><style>{_CSS}</style></head><body>",
        f"<h1>mltools record: <code>{_e(cmd)}</code></h1>",
        f"<div class='muted'>{_e(summary.get('hostname'))}, started {_e(summary.get('started'))}, "
        f"every {_e(summary.get('interval_seconds'))} s</div>",
        "<h2>Summary</h2>",
        _table(
            ["", ""],
            [
                ["duration", clock_text(t_max)],
                ["exit code", summary.get("exit_code")],
                ["GPU-hours", summary.get("gpu_hours")],
                [
                    "energy",
                    _or(summary.get("energy_joules"), lambda j: f"{j:,.0f} J ({j / 3600:.2f} Wh)"),
                ],
                ["samples (missed)", f"{summary.get('samples')} ({summary.get('samples_missed')})"],
                ["processes seen", summary.get("processes_seen")],
                [
                    "GPU imbalance (mean util, max - min)",
                    _or(summary.get("gpu_imbalance_percent"), _pct),
                ],
                [
                    "rank imbalance (CPU %, max - min)",
                    _or(summary.get("rank_cpu_imbalance_percent"), _pct),
                ],
            ],
        ),
    ]
    if summary.get("gpu_error"):
        out.append(f"<p class='muted'>No GPU series: {_e(summary['gpu_error'])}</p>")
    if summary.get("gpus"):
        out.append(
            _table(
                [
                    "GPU",
                    "name",
                    "util mean",
                    "util p95",
                    "idle",
                    "peak memory",
                    "at",
                    "energy",
                    "source",
                    "throttled",
                ],
                [
                    [
                        g["index"],
                        g.get("name"),
                        _or(g["utilization_mean_percent"], _pct),
                        _or(g["utilization_p95_percent"], _pct),
                        _or(g["idle_fraction"], lambda f: f"{100 * f:.0f}%"),
                        _or(g["memory_peak_bytes"], _bytes),
                        _or(g["memory_peak_t_seconds"], clock_text),
                        _or(g["energy_joules"], lambda j: f"{j:,.0f} J"),
                        g.get("energy_source") or "n/a",
                        ", ".join(f"{k} {v:g} s" for k, v in g["throttle_seconds"].items()) or "-",
                    ]
                    for g in summary["gpus"]
                ],
            )
        )
        out.append("<h2>GPUs</h2>")
        charts = [
            ("GPU utilisation", _gpu_series(run, "utilization_gpu_percent"), _pct, 100.0),
            ("GPU memory used", _gpu_series(run, "memory_used_bytes"), _bytes, None),
            ("Power draw", _gpu_series(run, "power_draw_watts"), _num("W"), None),
            ("Temperature", _gpu_series(run, "temperature_gpu_celsius"), _num("°C"), None),
            ("SM clock", _gpu_series(run, "clock_sm_mhz"), _num("MHz"), None),
            (
                "PCIe TX",
                _gpu_series(run, "pcie_tx_bytes_per_second"),
                lambda v: _bytes(v) + "/s",
                None,
            ),
            (
                "PCIe RX",
                _gpu_series(run, "pcie_rx_bytes_per_second"),
                lambda v: _bytes(v) + "/s",
                None,
            ),
        ]
        first = True
        for title, series, fmt, top in charts:
            if series:
                out.append(
                    line_chart(
                        title,
                        series,
                        t_max=t_max,
                        fmt=fmt,
                        markers=marks,
                        y_max=top,
                        label_markers=first,
                        nice=_nice_bytes if fmt is _bytes or "PCIe" in title else _nice,
                    )
                )
                first = False
    procs = [p["pid"] for p in summary.get("processes") or ()][:TOP_PROCESS_SERIES]
    out.append("<h2>Processes</h2>")
    if procs:
        out.append(
            line_chart(
                "CPU % per process",
                _process_series(run, "cpu_percent", procs),
                t_max=t_max,
                fmt=_pct,
                markers=marks,
                label_markers=not summary.get("gpus"),
            )
        )
        out.append(
            line_chart(
                "RSS per process",
                _process_series(run, "rss_bytes", procs),
                t_max=t_max,
                fmt=_bytes,
                nice=_nice_bytes,
                markers=marks,
            )
        )
        gpu_mem = _process_series(
            run,
            "",
            procs,
            lambda r: sum(x.get("memory_bytes") or 0 for x in r.get("gpus") or ()) or None,
        )
        if any(v for _, pts in gpu_mem for _, v in pts):
            out.append(
                line_chart(
                    "GPU memory per process",
                    gpu_mem,
                    t_max=t_max,
                    fmt=_bytes,
                    nice=_nice_bytes,
                    markers=marks,
                )
            )
        out.append(
            _table(
                [
                    "pid",
                    "name",
                    "rank",
                    "CPU mean",
                    "CPU max",
                    "peak RSS",
                    "read",
                    "written",
                    "GPU memory",
                    "command",
                ],
                [
                    [
                        p["pid"],
                        p.get("name"),
                        p.get("rank"),
                        _or(p["cpu_mean_percent"], _pct),
                        _or(p["cpu_max_percent"], _pct),
                        _bytes(p["rss_peak_bytes"]),
                        _bytes(p["read_bytes"]),
                        _bytes(p["write_bytes"]),
                        _bytes(p["gpu_memory_peak_bytes"]),
                        (p.get("command") or "")[:120],
                    ]
                    for p in summary.get("processes") or ()
                ],
                cls="procs",
            )
        )
    if summary.get("idle_gpu_memory_holders"):
        out.append("<p>Held GPU memory while their GPU idled:</p>")
        out.append(
            _table(
                ["pid", "name", "GPU", "idle seconds", "memory"],
                [
                    [
                        h["pid"],
                        h.get("name"),
                        h["gpu_index"],
                        h["idle_seconds"],
                        _bytes(h["memory_max_bytes"]),
                    ]
                    for h in summary["idle_gpu_memory_holders"]
                ],
            )
        )
    out.append("<h2>Host</h2>")
    out.append(
        line_chart(
            "Host CPU",
            [_host_series(run, "cpu_percent", "CPU %")],
            t_max=t_max,
            fmt=_pct,
            markers=marks,
            y_max=100.0,
        )
    )
    out.append(
        line_chart(
            "Host memory and /dev/shm",
            [
                _host_series(run, "memory_used_bytes", "memory used"),
                _host_series(run, "shm_used_bytes", "/dev/shm used"),
            ],
            t_max=t_max,
            fmt=_bytes,
            nice=_nice_bytes,
            markers=marks,
        )
    )
    if marks:
        out.append("<h2>Markers</h2>")
        out.append(
            _table(
                ["at", "name", "from", "rank"],
                [
                    [
                        clock_text(m.get("t_seconds") or 0),
                        m.get("name"),
                        m.get("source"),
                        m.get("rank"),
                    ]
                    for m in marks
                ],
            )
        )
    for note in summary.get("notes") or ():
        out.append(f"<p class='muted'>{_e(note)}</p>")
    out.append("</body></html>\n")
    return "\n".join(out)
