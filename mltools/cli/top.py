"""`mltools top`: the interactive GPU monitor (a thin command over mltools.tui)."""

from __future__ import annotations

import shutil
import sys
import threading
from enum import Enum
from typing import Annotated, Any

import typer

from mltools.cli._output import JsonFlag, plain_requested, print_json, print_table, stdout_is_tty
from mltools.cli.gpu import HostTimeoutOpt, RemoteCmdOpt, SshConfigOpt

HostsOpt = Annotated[
    str | None,
    typer.Option(
        "--hosts",
        help="Comma-separated hosts for the cluster view (key c), over ssh as `gpu --hosts` "
        "(BatchMode; mltools must be installed there).",
    ),
]


class Layout(str, Enum):
    auto = "auto"
    full = "full"
    compact = "compact"


class SortColumn(str, Enum):
    pid = "pid"
    user = "user"
    gpu = "gpu"
    gpu_memory = "gpu_memory"
    sm = "sm"
    cpu = "cpu"
    rss = "rss"
    time = "time"
    rank = "rank"
    owner = "owner"
    idle = "idle"
    command = "command"


def top(
    interval: Annotated[
        float, typer.Option("--interval", "-i", min=0.1, max=3600, help="Seconds between samples.")
    ] = 1.0,
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help="full: two lines per GPU and history graphs; compact: one row per GPU "
            "(fits 8-16 GPUs); auto: whichever fits the terminal.",
        ),
    ] = Layout.auto,
    gpu_only: Annotated[
        bool, typer.Option("--gpu-only", help="No host panel (CPU, memory, swap, load).")
    ] = False,
    readonly: Annotated[
        bool, typer.Option("--readonly", help="Never send a signal (the I/T/K keys are disabled).")
    ] = False,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="Only these GPU indices, e.g. 0,3.")
    ] = None,
    filter_: Annotated[
        str,
        typer.Option(
            "--filter", help="Start with this process filter: user:NAME pid:N gpu:N and a regex."
        ),
    ] = "",
    sort: Annotated[
        SortColumn, typer.Option("--sort", help="Process column to sort by (keys < > change it).")
    ] = SortColumn.gpu_memory,
    idle_after: Annotated[
        float,
        typer.Option(
            "--idle-after",
            min=0,
            max=86400,
            help="Flag processes holding GPU memory on a GPU idle (0% util) this many seconds.",
        ),
    ] = 60.0,
    once: Annotated[
        bool,
        typer.Option("--once", help="Print one frame as text and exit (the default when piped)."),
    ] = False,
    hosts: HostsOpt = None,
    host_timeout: HostTimeoutOpt = 20.0,
    ssh_config: SshConfigOpt = None,
    remote_mltools: RemoteCmdOpt = "mltools",
    json_: JsonFlag = False,
) -> None:
    """Interactive GPU monitor: devices, host, history graphs and GPU processes.

    What nvitop shows, plus DDP rank / job and container labels on each process,
    a flag on processes that hold GPU memory while the GPU idles, a `/` filter,
    any-metric history graphs and a one-row-per-GPU layout. Signals (I/T/K keys)
    go only to the process that was shown, after a confirmation. Press ? for the
    keys. Exit code 3 when there is no NVIDIA driver.
    """
    from mltools.errors import UsageError
    from mltools.gpu.nvml import NO_DRIVER_HINT, NoDriverError
    from mltools.sampler import Sampler
    from mltools.tui.model import FilterError, RowFilter
    from mltools.tui.sources import Source

    indices = _indices(gpus)
    host_list = _hosts(hosts, ssh_config)
    try:
        RowFilter.parse(filter_)
    except FilterError as exc:
        raise UsageError(f"--filter: {exc}") from None
    interactive = not (json_ or once or not _interactive())
    started: dict[str, Any] = {}

    def first_frame() -> None:  # NVML's start and the first sample, while Textual is imported
        try:
            sampler = started["sampler"] = Sampler(
                gpus=True, gpu_processes=True, host=True, gpu_indices=indices
            )
            if sampler.gpu_exception is None:
                started["source"] = Source(
                    sampler, hosts=host_list, host_timeout=host_timeout, ssh_config=ssh_config,
                    remote_mltools=remote_mltools,
                )  # fmt: skip
                started["frame"] = started["source"].frame(ddp=not interactive)
        except BaseException as exc:  # re-raised by the main thread
            started["error"] = exc

    thread = threading.Thread(target=first_frame, name="mltools-top-first-sample")
    thread.start()
    if interactive:
        from mltools.tui.app import TopApp
    thread.join()
    if "error" in started:
        raise started["error"]
    sampler = started["sampler"]
    if sampler.gpu_exception is not None:  # the same error `mltools gpu` reports (exit 3)
        sampler.close()
        raise sampler.gpu_exception
    source, first = started["source"], started["frame"]
    sample = first.sample
    if sample is None or sample.gpus is None:
        source.close()
        why = first.error or (sample.gpu_error if sample is not None else None) or "no GPU data"
        raise sampler.gpu_exception or NoDriverError(why, hint=NO_DRIVER_HINT)
    if not interactive:
        source.close()
        _print_once(first, json_, idle_after, sort.value)
        return
    app = TopApp(
        source,
        first,
        interval=interval,
        layout=layout.value,
        host_panel=not gpu_only,
        readonly=readonly,
        idle_after=idle_after,
        initial_filter=filter_,
        sort=sort.value,
        color=not plain_requested(),
    )
    app.run()
    if app.exit_signal is not None:
        from mltools.errors import Interrupted

        raise KeyboardInterrupt() if app.exit_signal == 2 else Interrupted(app.exit_signal)


def _interactive() -> bool:
    """A terminal on both ends: the UI can draw and read keys."""
    return stdout_is_tty() and sys.stdin.isatty()


def _hosts(hosts: str | None, ssh_config: str | None) -> list[str]:
    if hosts is None:
        return []
    from mltools.gpu.remote import parse_hosts

    if ssh_config is not None:  # ssh -F would read a FIFO or /dev/zero forever
        from mltools._inputs import check_input

        check_input(ssh_config, what="ssh config", max_bytes=16 << 20)
    return parse_hosts(hosts)


def _indices(gpus: str | None) -> list[int] | None:
    from mltools.errors import UsageError

    if gpus is None:
        return None
    parts = [p.strip() for p in gpus.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UsageError(f"--gpus {gpus!r}: give GPU indices separated by commas, e.g. 0,3")
    return [int(p) for p in parts]


def _print_once(frame: Any, json_: bool, idle_after: float, sort: str) -> None:
    """One frame without the UI: JSON, or the panels and the process table as text."""
    from mltools.gpu import display
    from mltools.tui import model, panels

    sample = frame.sample
    facts = frame.facts
    idle = {g.index for g in sample.gpus.gpus if idle_after == 0 and g.utilization_gpu_percent == 0}
    rows = model.rows_from_snapshot(
        sample.gpus,
        ddp=lambda pid, _ct: (facts[pid].rank, facts[pid].job) if pid in facts else (None, None),
        idle_gpus=idle,
        create_time=lambda pid: facts[pid].create_time if pid in facts else None,
    )
    rows = model.sort_rows(rows, sort, sort in model.DESCENDING)
    if json_:
        print_json(
            {
                "timestamp": sample.timestamp,
                "snapshot": sample.gpus,
                "host": sample.host,
                "processes": [
                    {
                        "pid": r.pid,
                        "gpu_index": r.gpu_index,
                        "gpu": r.gpu_label,
                        "user": r.user,
                        "command": r.command,
                        "visible": r.visible,
                        "gpu_memory_bytes": r.gpu_memory_bytes,
                        "gpu_sm_percent": r.sm_percent,
                        "cpu_percent": r.cpu_percent,
                        "host_memory_rss_bytes": r.rss_bytes,
                        "running_seconds": r.running_seconds,
                        "owner": r.owner,
                        "ddp_rank": r.rank,
                        "ddp_job": r.job,
                        "idle_holding": r.idle_holding,
                    }
                    for r in rows
                ],
            }
        )
        return
    from rich.console import Console

    width = shutil.get_terminal_size((100, 40)).columns  # piped: 100, as on a terminal
    console = Console(width=width, no_color=True, highlight=False, force_terminal=False)
    for panel in (
        panels.devices(sample.gpus, width, compact=False, color=False),
        panels.host(sample.host, width, color=False),
    ):
        console.print(panel, crop=True, no_wrap=True, overflow="ellipsis")
    sys.stdout.write("\n")
    table = [
        [
            str(r.pid),
            panels.safe(r.user) if r.visible else "?",
            r.gpu_label,
            model.human_bytes(r.gpu_memory_bytes),
            "n/a" if r.sm_percent is None else f"{r.sm_percent}%",
            "n/a" if r.cpu_percent is None else f"{r.cpu_percent:.0f}%",
            model.human_bytes(r.rss_bytes),
            display.duration(r.running_seconds),
            r.rank or "-",
            r.owner or "-",
            "idle" if r.idle_holding else "",
            (r.command or "") if r.visible else "(not visible: another PID namespace)",
        ]
        for r in rows
    ]
    if table:
        print_table([h for _, h, _ in model.COLUMNS], table)


def register(root: typer.Typer) -> None:
    root.command("top")(top)
