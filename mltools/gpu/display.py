"""How a GPU snapshot is shown: the cells and rows of ``mltools gpu`` and the live views.

Plain strings only (no rich, no terminal): the CLI table, ``mltools top`` and the
HTML report all render these, so a GPU looks the same everywhere. JSON never goes
through here: it keeps the snapshot's exact fields and long names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mltools.units import human_bytes

if TYPE_CHECKING:  # the CLI imports this module at startup: the snapshot (NVML) only when used
    from mltools.gpu.snapshot import GPU, GPUProcess, MIGDevice

# nvidia-smi's abbreviations
COMPUTE_MODE_LABELS = {
    "default": "Default",
    "exclusive_process": "E.Process",
    "exclusive_thread": "E.Thread",
    "prohibited": "Prohibited",
}

# A ghost-memory row appears in the table from this size on (JSON always has the exact number).
GHOST_MIN_BYTES = 1024**2

# (header, justify) of the GPU table; a PROBLEM line follows when some row has one
GPU_COLUMNS: list[tuple[str, str]] = [
    ("GPU", "right"),
    ("NAME", "left"),
    ("BUS", "left"),
    ("TEMP", "right"),
    ("FAN", "right"),
    ("POWER", "right"),
    ("UTIL SM/MEM", "right"),
    ("MEMORY", "right"),
    ("CLOCKS SM/MEM", "right"),
    ("PERF", "left"),
    ("THROTTLE", "left"),
    ("ECC", "right"),
    ("PERSIST", "left"),
    ("COMPUTE", "left"),
    ("MIG", "left"),
]

# (header, justify) of the process table
PROCESS_COLUMNS: list[tuple[str, str]] = [
    ("GPU", "left"),
    ("PID", "right"),
    ("USER", "left"),
    ("GPU-MEM", "right"),
    ("SM", "right"),
    ("CPU", "right"),
    ("HOST-RSS", "right"),
    ("TIME", "right"),
    ("OWNER", "left"),
    ("COMMAND", "left"),
]


def na(value: Any, fmt: str = "{}") -> str:
    """``fmt`` of ``value``, or "n/a" when NVML does not report it (``None``)."""
    return "n/a" if value is None else fmt.format(value)


def memory_pair(used: int | None, total: int | None) -> str:
    """'3.0/80.0 GiB' (the unit once when both share it)."""
    if total is None:
        return "n/a"
    a, b = human_bytes(used), human_bytes(total)
    if a.split()[-1] == b.split()[-1]:
        return f"{a.split()[0]}/{b}"
    return f"{a}/{b}"


def short_bus(bus: str | None) -> str:
    """'00000000:3B:00.0' -> '3B:00.0' (lspci's form when the PCI domain is 0)."""
    if bus is None:
        return "n/a"
    domain, _, rest = bus.partition(":")
    return rest if rest and set(domain) == {"0"} else bus


def short_name(name: str | None) -> str:
    """'NVIDIA A100-SXM4-80GB' -> 'A100-SXM4-80GB' (the table is wide enough already)."""
    if name is None:
        return "n/a"
    return name.removeprefix("NVIDIA ") or name


def on_off(value: bool | None) -> str:
    return "n/a" if value is None else ("on" if value else "off")


def throttle_text(reasons: list[str] | None) -> str:
    """Short names of the clocks-event reasons ('SwPowerCap,HwSlowdown'), '-' for none."""
    from mltools.gpu.snapshot import THROTTLE_REASONS

    if reasons is None:
        return "n/a"
    short = {name: short for _, name, short in THROTTLE_REASONS}
    return ",".join(short.get(r, r) for r in reasons) or "-"


def duration(seconds: float | None) -> str:
    """'1:05', '2:03:04', '3d04h' (ps's TIME style, days beyond 24 h)."""
    if seconds is None:
        return "n/a"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"


def gpu_cells(g: GPU) -> tuple[list[str], str]:
    """The GPU's cells (one per ``GPU_COLUMNS``) and its problem text ("" when none)."""
    if g.error:
        blank = [""] * (len(GPU_COLUMNS) - 3)
        return [str(g.index), "ERROR", short_bus(g.pci_bus_id), *blank], g.error
    mode = COMPUTE_MODE_LABELS.get(g.compute_mode, g.compute_mode) if g.compute_mode else "n/a"
    cells = [
        str(g.index),
        short_name(g.name),
        short_bus(g.pci_bus_id),
        na(g.temperature_gpu_celsius, "{}C"),
        na(g.fan_speed_percent, "{}%"),
        f"{na(g.power_draw_watts, '{:.0f}')}/{na(g.power_limit_watts, '{:.0f}')} W",
        f"{na(g.utilization_gpu_percent, '{}%')}/{na(g.utilization_memory_percent, '{}%')}",
        memory_pair(g.memory_used_bytes, g.memory_total_bytes),
        f"{na(g.clock_sm_mhz)}/{na(g.clock_memory_mhz)} MHz",
        na(g.performance_state),
        throttle_text(g.throttle_reasons),
        na(g.ecc_errors_uncorrected_volatile),
        on_off(g.persistence_mode),
        mode,
        on_off(g.mig_mode),
    ]
    return cells, ""


def mig_cells(g: GPU, m: MIGDevice) -> list[str]:
    """A MIG instance's row under its GPU: index, name with GI/CI, memory."""
    cells = [""] * len(GPU_COLUMNS)
    cells[0] = f"{g.index}:{m.index}"
    cells[1] = f"  {short_name(m.name)} GI {na(m.gpu_instance_id)}/CI {na(m.compute_instance_id)}"
    cells[7] = memory_pair(m.memory_used_bytes, m.memory_total_bytes)
    return cells


def process_cells(g: GPU, p: GPUProcess) -> list[str]:
    """One process's cells (one per ``PROCESS_COLUMNS``)."""
    gpu_label = str(g.index)
    if p.gpu_instance_id is not None:
        gpu_label += f" (MIG {p.gpu_instance_id}/{na(p.compute_instance_id)})"
    command = p.command if p.visible else "(not visible: another PID namespace)"
    return [
        gpu_label,
        str(p.pid),
        na(p.user) if p.visible else "?",
        human_bytes(p.gpu_memory_bytes),
        na(p.gpu_sm_percent, "{}%"),
        na(p.cpu_percent, "{:.0f}%"),
        human_bytes(p.host_memory_rss_bytes) if p.visible else "n/a",
        duration(p.running_seconds),
        p.label or "-",
        na(command),
    ]


def process_rows(g: GPU) -> list[list[str]]:
    """The GPU's process rows: one per process, then a ghost-memory row when it is large
    enough, or one "cannot list" row when NVML cannot list them (none for an error row)."""
    if g.processes is None and not g.error:
        return [[str(g.index), "", "", "n/a", "", "", "", "", "", "(NVML cannot list processes on this GPU)"]]  # fmt: skip
    rows = [process_cells(g, p) for p in g.processes or []]
    ghost = g.ghost_memory_bytes
    if ghost is not None and ghost >= GHOST_MIN_BYTES:
        rows.append([str(g.index), "-", "-", human_bytes(ghost), "", "", "", "", "", ghost_text(g)])
    return rows


def ghost_text(g: GPU) -> str:
    """Explain ghost memory: pids from other PID namespaces, and memory no listed pid claims."""
    hidden = sum(p.gpu_memory_bytes or 0 for p in g.processes or [] if not p.visible)
    parts = []
    if hidden:
        parts.append(f"{human_bytes(hidden)} by pids not visible here")
    unclaimed = (g.ghost_memory_bytes or 0) - hidden
    if unclaimed > 0:
        parts.append(f"{human_bytes(unclaimed)} by no listed process (leaked context?)")
    return "ghost memory: " + ", ".join(parts)
