"""`mltools cpu`: CPU topology, per-core usage, memory, /dev/shm and container limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mltools.cli._output import (
    Column,
    JsonFlag,
    Section,
    human_bytes,
    print_json,
    print_json_line,
    print_sections,
    warn,
    watch,
    watch_loop,
)

if TYPE_CHECKING:
    from mltools.cpu import CpuReport


def format_cpulist(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> '0-3,8' (the kernel's cpulist notation)."""
    parts: list[str] = []
    start = prev = None
    for cpu in sorted(cpus):
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
        start = prev = cpu
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(parts)


def _pct(value: float) -> str:
    return f"{value:.2f}"  # as mpstat prints them


def _mhz(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MHz"


# a report block: the value wraps between words on a narrow terminal
_FIELD_VALUE = [Column("Field", kind="fixed"), Column("Value", kind="prose")]


def topology_section(r: CpuReport) -> Section:
    caches = ", ".join(
        f"{c.name} {human_bytes(c.total_bytes)} ({c.instances}x{human_bytes(c.size_bytes)})"
        for c in r.caches
    )
    numa = "; ".join(f"node{n.id}: {format_cpulist(n.cpus)}" for n in r.numa_nodes)
    rows: list[tuple[str, Any]] = [
        ("Model", r.model_name),
        ("Architecture", r.architecture),
        ("Sockets", r.sockets),
        ("Cores per socket", r.cores_per_socket),
        ("Physical cores", r.physical_cores),
        ("Logical CPUs", f"{r.logical_cpus} (online {format_cpulist(r.online_cpus)})"),
        (
            "Threads per core",
            f"{r.threads_per_core} (hyper-threading {'on' if r.hyperthreading else 'off'})",
        ),
        ("NUMA nodes", f"{len(r.numa_nodes)} ({numa})"),
        ("Caches", caches or "n/a"),
        (
            "Frequency",
            f"{_mhz(r.frequency_current_mhz)} now, min {_mhz(r.frequency_min_mhz)}, "
            f"max {_mhz(r.frequency_max_mhz)}",
        ),
        ("Load average", " ".join(f"{x:.2f}" for x in r.load_average) + " (1, 5, 15 min)"),
    ]
    return Section("CPU", _FIELD_VALUE, rows)


def usage_section(r: CpuReport) -> Section:
    # mpstat's columns; on a narrow terminal the rarely non-zero ones give way first
    columns = [
        Column("CPU", kind="fixed"),
        *(
            Column(name, justify="right", kind="fixed", priority=priority)
            for name, priority in [
                ("%usr", 0), ("%nice", 3), ("%sys", 0), ("%iowait", 0), ("%irq", 2),
                ("%soft", 2), ("%steal", 1), ("%guest", 4), ("%gnice", 5), ("%idle", 0),
            ]
        ),
    ]  # fmt: skip
    fields = [
        "user_percent",
        "nice_percent",
        "system_percent",
        "iowait_percent",
        "irq_percent",
        "softirq_percent",
        "steal_percent",
        "guest_percent",
        "guest_nice_percent",
        "idle_percent",
    ]
    rows: list[list[Any]] = []
    if r.per_cpu:
        n = len(r.per_cpu)
        rows.append(["all", *(_pct(sum(getattr(u, f) for u in r.per_cpu) / n) for f in fields)])
    rows.extend([u.cpu, *(_pct(getattr(u, f)) for f in fields)] for u in r.per_cpu)
    return Section(
        f"Usage over {r.interval_seconds:g} s (like mpstat -P ALL)",
        columns,
        rows,
    )


def memory_section(r: CpuReport, *, gpus_given: bool = False) -> Section:
    m, s, lim = r.memory, r.shm, r.limits
    quota = "none" if lim.cpu_quota_cpus is None else f"{lim.cpu_quota_cpus:g} CPUs"
    mem_limit = "none" if lim.memory_limit_bytes is None else human_bytes(lim.memory_limit_bytes)
    rows: list[tuple[str, Any]] = [
        (
            "Memory",
            f"{human_bytes(m.used_bytes)} used of {human_bytes(m.total_bytes)} "
            f"({m.used_percent:.1f}%), {human_bytes(m.available_bytes)} available",
        ),
        (
            "Swap",
            f"{human_bytes(m.swap_used_bytes)} used of {human_bytes(m.swap_total_bytes)}"
            if m.swap_total_bytes
            else "none",
        ),
        (
            "/dev/shm" if s.path == "/dev/shm" else s.path,
            "missing"
            if s.total_bytes is None
            else f"{human_bytes(s.used_bytes)} used of {human_bytes(s.total_bytes)}, "
            f"{human_bytes(s.free_bytes)} free",
        ),
        ("cgroup", f"v{lim.cgroup_version}" if lim.cgroup_version else "none found"),
        ("CPU quota", quota),
        ("Memory limit", mem_limit),
        ("CPU affinity", format_cpulist(lim.affinity_cpus)),
        ("Effective CPUs", f"{lim.effective_cpus:g}"),
        (
            "DataLoader workers",
            f"num_workers={lim.suggested_num_workers} per GPU process ("
            + (
                f"{lim.gpus} GPU process{'es' if lim.gpus != 1 else ''}, from --gpus"
                if gpus_given
                else f"{lim.gpus or 'no'} NVIDIA GPU{'s' if lim.gpus != 1 else ''} seen"
            )
            + ")",
        ),
    ]
    return Section("Memory and limits", _FIELD_VALUE, rows)


def sections(report: CpuReport, *, gpus_given: bool = False) -> list[Section]:
    return [
        topology_section(report),
        usage_section(report),
        memory_section(report, gpus_given=gpus_given),
    ]


def register(root: typer.Typer) -> None:
    """Add the `cpu` command to the root app."""
    root.command("cpu")(cpu)


def cpu(
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            "-i",
            help="Seconds to sample per-CPU usage over (more than 0; e.g. 0.5).",
        ),
    ] = 1.0,
    gpus: Annotated[
        int | None,
        typer.Option(
            "--gpus",
            min=0,
            help="GPU processes that will share these CPUs, for the num_workers hint "
            "(default: the GPUs the NVIDIA driver shows).",
        ),
    ] = None,
    watch_: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C (every --interval).")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """CPU topology, per-core usage, memory, /dev/shm and container limits.

    One report instead of lscpu, nproc, mpstat -P ALL, free and df /dev/shm:
    sockets, cores, threads per core, NUMA nodes, caches, frequency, per-CPU
    user/system/iowait/steal/idle over --interval, load average, RAM and swap,
    /dev/shm (warns when too small for DataLoader workers), cgroup CPU quota and
    memory limit, CPU affinity, and a suggested DataLoader num_workers per GPU.
    """
    from mltools import cpu as cpu_lib

    cpu_lib.check_interval(interval)  # 0 would measure nothing: a usage error (exit 2)
    given = gpus is not None
    if watch_:
        _watch(cpu_lib, interval, gpus, json_)
        return

    report = cpu_lib.report(interval, gpus=gpus)
    if json_:
        print_json(report)
    else:
        print_sections(sections(report, gpus_given=given))
    for message in report.warnings:
        warn(message)


def _watch(cpu_lib: Any, interval: float, gpus: int | None, json_: bool) -> None:
    """Every --interval until Ctrl-C: the report, with the usage the sampler measured since
    the previous tick (the first frame after one full interval)."""
    from mltools.sampler import Sampler

    with Sampler(gpus=False) as sampler:

        def current() -> CpuReport:
            host = sampler.sample().host
            assert host is not None
            return cpu_lib.report(
                round(host.interval_seconds, 3) or interval, gpus=gpus, usage=host.per_cpu
            )

        if json_:
            watch_loop(lambda first: print_json_line(current()), interval, at_start=False)
        else:
            watch(
                lambda: sections(current(), gpus_given=gpus is not None), interval, at_start=False
            )
