"""The panels of `mltools top` as rich ``Text``: devices, host, history.

Every user- or system-supplied string goes in through :func:`safe`, and text is
only ever built with ``Text.append`` (never markup), so a GPU or process named
``[bold]x`` or holding an ESC shows as typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from mltools.gpu import display
from mltools.gpu.display import na as _na
from mltools.gpu.display import on_off as _on_off
from mltools.terminal import safe_text
from mltools.tui import model

STYLES = {
    "light": "green",
    "moderate": "yellow",
    "heavy": "red",
    "error": "bold red",
    "dim": "dim",
    "title": "bold",
}


def safe(value: Any) -> str:
    """Terminal-safe text of a user or system string (control characters escaped)."""
    return safe_text(value)


def short_name(name: str | None) -> str:
    """The GPU's name as `mltools gpu` shows it, made safe for the terminal."""
    return safe(display.short_name(name))


def short_bus(bus: str | None) -> str:
    """The PCI bus id as `mltools gpu` shows it ('3B:00.0'), made safe for the terminal."""
    return safe(display.short_bus(bus))


def bar(percent: float | None, width: int) -> str:
    """'█████░░░░░' filled to ``percent`` (blank when unknown)."""
    if width <= 0:
        return ""
    if percent is None:
        return "·" * width
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def _mem_percent(used: int | None, total: int | None) -> float | None:
    if used is None or not total:
        return None
    return 100.0 * used / total


def _style(value: float | None, thresholds: tuple[float, float], color: bool) -> str:
    return STYLES.get(model.level(value, thresholds), "") if color else ""


def _mem_pair(used: int | None, total: int | None) -> str:
    return f"{model.human_bytes(used, short=True)}/{model.human_bytes(total, short=True)}"


def devices(snap: Any, width: int, *, compact: bool, color: bool = True) -> Text:
    """The devices panel: two lines per GPU (full) or one (compact), MIG instances below."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if snap is None:
        return out
    head = (
        f"driver {_na(safe(snap.driver_version) if snap.driver_version else None)}"
        f"  CUDA {_na(safe(snap.cuda_driver_version) if snap.cuda_driver_version else None)}"
        f"  {len(snap.gpus)} GPU{'s' if len(snap.gpus) != 1 else ''}  {safe(snap.host)}"
    )
    out.append(head + "\n", STYLES["dim"] if color else "")
    for i, gpu in enumerate(snap.gpus):
        if i:
            out.append("\n")
        if gpu.error:
            out.append(f"{gpu.index:>2} ERROR {short_bus(gpu.pci_bus_id)}  ", "bold")
            out.append(safe(gpu.error), STYLES["error"] if color else "")
            continue
        if compact:
            _compact_line(out, gpu, width, color)
        else:
            _full_lines(out, gpu, width, color)
        for m in gpu.mig_devices:
            out.append(
                f"\n   └ MIG {_na(m.gpu_instance_id)}/{_na(m.compute_instance_id)} "
                f"{short_name(m.name)[:24]:<24} MEM {_mem_pair(m.memory_used_bytes, m.memory_total_bytes)}"
            )
    return out


def _compact_line(out: Text, gpu: Any, width: int, color: bool) -> None:
    util, mem = (
        gpu.utilization_gpu_percent,
        _mem_percent(gpu.memory_used_bytes, gpu.memory_total_bytes),
    )
    bar_w = max(4, min(20, (width - 66) // 2))
    out.append(f"{gpu.index:>2} {short_name(gpu.name)[:16]:<16} ")
    out.append(
        f"{bar(util, bar_w)} {_na(util, '{}%'):>4} ", _style(util, model.UTIL_THRESHOLDS, color)
    )
    out.append(
        f"{bar(mem, bar_w)} {_mem_pair(gpu.memory_used_bytes, gpu.memory_total_bytes):>11} ",
        _style(mem, model.MEMORY_THRESHOLDS, color),
    )
    out.append(
        f"{_na(gpu.temperature_gpu_celsius, '{}C'):>4} "
        f"{_na(gpu.power_draw_watts, '{:.0f}')}/{_na(gpu.power_limit_watts, '{:.0f}')}W "
        f"{_na(gpu.performance_state)}"
    )


def _full_lines(out: Text, gpu: Any, width: int, color: bool) -> None:
    """Line 1: identity and modes; line 2: load, memory, thermals, clocks (what fits)."""
    util, mem = (
        gpu.utilization_gpu_percent,
        _mem_percent(gpu.memory_used_bytes, gpu.memory_total_bytes),
    )
    wide = width >= 100
    thermals = (
        f"{_na(gpu.performance_state)} Fan:{_na(gpu.fan_speed_percent, '{}%')} "
        f"Temp:{_na(gpu.temperature_gpu_celsius, '{}C')} "
        f"Pwr:{_na(gpu.power_draw_watts, '{:.0f}')}/{_na(gpu.power_limit_watts, '{:.0f}')}W"
    )
    out.append(f"{gpu.index:>2} ", "bold")
    out.append(
        f"{short_name(gpu.name)[:20]:<20} {short_bus(gpu.pci_bus_id):>8}  "
        f"Pers:{_on_off(gpu.persistence_mode)} ECC:{_na(gpu.ecc_errors_uncorrected_volatile)} "
        f"MIG:{_on_off(gpu.mig_mode)}" + (f"  {thermals}" if wide else "")
    )
    out.append("\n   ")
    if not wide:
        out.append(
            f"{_na(gpu.performance_state)} {_na(gpu.temperature_gpu_celsius, '{}C')} "
            f"{_na(gpu.power_draw_watts, '{:.0f}')}/{_na(gpu.power_limit_watts, '{:.0f}')}W "
        )
    bar_w = max(5, min(40, (width - (70 if wide else 58)) // 2))
    out.append("UTIL ")
    out.append(
        f"{bar(util, bar_w)} {_na(util, '{}%'):>4}", _style(util, model.UTIL_THRESHOLDS, color)
    )
    out.append("  MEM ")
    out.append(
        f"{bar(mem, bar_w)} {_mem_pair(gpu.memory_used_bytes, gpu.memory_total_bytes):>11}",
        _style(mem, model.MEMORY_THRESHOLDS, color),
    )
    if wide:
        out.append(f"  SM {_na(gpu.clock_sm_mhz)} MEM {_na(gpu.clock_memory_mhz)}MHz")
        if gpu.throttle_reasons:
            out.append("  " + safe(display.throttle_text(gpu.throttle_reasons)))


def host(sample_host: Any, width: int, *, color: bool = True) -> Text:
    """The host panel: CPU, memory and swap bars, load average, /dev/shm."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if sample_host is None:
        return out
    h = sample_host
    cpu = getattr(h, "cpu_percent", None)
    mem = _mem_percent(
        getattr(h, "memory_used_bytes", None), getattr(h, "memory_total_bytes", None)
    )
    swap = _mem_percent(getattr(h, "swap_used_bytes", None), getattr(h, "swap_total_bytes", None))
    bar_w = max(6, min(30, (width - 70) // 3))
    out.append("CPU ")
    out.append(
        f"{bar(cpu, bar_w)} {_na(cpu, '{:.1f}%'):>6}", _style(cpu, model.UTIL_THRESHOLDS, color)
    )
    out.append("  MEM ")
    out.append(
        f"{bar(mem, bar_w)} {_mem_pair(getattr(h, 'memory_used_bytes', None), getattr(h, 'memory_total_bytes', None)):>11}",
        _style(mem, model.MEMORY_THRESHOLDS, color),
    )
    out.append("  SWP ")
    out.append(
        f"{bar(swap, bar_w)} {_mem_pair(getattr(h, 'swap_used_bytes', None), getattr(h, 'swap_total_bytes', None)):>11}",
        _style(swap, model.MEMORY_THRESHOLDS, color),
    )
    load = getattr(h, "load_average", None)
    tail = f"LOAD {' '.join(f'{x:.2f}' for x in load)}" if load else "LOAD n/a"
    shm_used, shm_total = getattr(h, "shm_used_bytes", None), getattr(h, "shm_total_bytes", None)
    if shm_total:
        tail += f"  SHM {_mem_pair(shm_used, shm_total)}"
    out.append(("  " if width >= 120 else "\n") + tail)
    return out


def history(
    hist: model.History,
    snap: Any,
    now: float,
    *,
    metric: str,
    window: int,
    how: str,
    width: int,
    height: int,
    color: bool = True,
) -> Text:
    """One graph per GPU of ``metric`` (and host CPU and memory) over ``window`` seconds."""
    out = Text(no_wrap=True, overflow="crop")
    out.append(
        f"history: {model.METRIC_TITLES[metric]} over {_window_text(window)} ({how})"
        "  g metric  w window  a aggregation",
        STYLES["title"] if color else "",
    )
    gpus = snap.gpus if snap is not None else []
    graph_w = max(10, width - 19)  # label 7, value up to 10 ("512.0K/s"), margin
    rows: list[tuple[str, str, float | None]] = [
        (f"GPU {g.index}", f"gpu{g.index}:{metric}", model.metric_scale(g, metric)) for g in gpus
    ]
    rows += [("CPU", "host:cpu", 100.0), ("MEM", "host:memory", 100.0)]
    for label, name, scale in rows:
        values = hist.columns(name, now, window, graph_w, how)
        lines = model.graph_lines(values, height, scale)
        last = next((v for v in reversed(values) if v is not None), None)
        for j, line in enumerate(lines):
            out.append("\n")
            out.append(f"{label:>6} " if j == 0 else " " * 7)
            out.append(line, "cyan" if color else "")
            if j == len(lines) - 1:
                out.append(f" {_value_text(metric if label.startswith('GPU') else 'util', last)}")
    return out


def _window_text(seconds: int) -> str:
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}min"


def _value_text(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric in ("pcie_tx", "pcie_rx"):
        return model.human_bytes(value, short=True) + "/s"
    unit = {"util": "%", "memory": "%", "power": "W", "temp": "C", "clock": "MHz"}[metric]
    return f"{value:.0f}{unit}"


def lines_text(lines: Sequence[str]) -> Text:
    """Plain lines (already made safe) as one ``Text``."""
    return Text("\n".join(lines), no_wrap=False)
