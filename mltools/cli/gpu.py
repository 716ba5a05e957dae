"""`mltools gpu`: GPU inspection, selection, launch, topology and process cleanup."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from mltools.cli._output import (
    Column,
    CsvFlag,
    JsonFlag,
    confirm,
    hint,
    human_bytes,
    info,
    print_csv,
    print_json,
    print_json_line,
    print_table,
    rich_stderr,
    rich_stdout,
    terminal_width,
    to_jsonable,
    warn,
    watch_loop,
    wrap_lines,
)

if TYPE_CHECKING:
    from mltools.gpu.remote import HostResult

app = typer.Typer(
    help="Inspect NVIDIA GPUs (NVML): who uses them, which are free.\n\n"
    "Without a subcommand: a snapshot of every GPU and its processes "
    "(like nvidia-smi, gpustat, nvitop). Exit code 3 when there is no NVIDIA driver.",
    invoke_without_command=True,
)

CSV_FIELDS = [
    "schema_version",
    "host",
    "index",
    "name",
    "uuid",
    "pci_bus_id",
    "utilization_gpu_percent",
    "utilization_memory_percent",
    "utilization_encoder_percent",
    "utilization_decoder_percent",
    "memory_used_bytes",
    "memory_total_bytes",
    "memory_free_bytes",
    "temperature_gpu_celsius",
    "power_draw_watts",
    "power_limit_watts",
    "fan_speed_percent",
    "clock_sm_mhz",
    "clock_memory_mhz",
    "performance_state",
    "throttle_reasons",
    "ecc_errors_uncorrected_volatile",
    "persistence_mode",
    "compute_mode",
    "display_active",
    "mig_mode",
    "process_count",
    "ghost_memory_bytes",
    "error",
]

# `--csv --processes`: one row per process (nvidia-smi --query-compute-apps)
PROCESS_CSV_FIELDS = [
    "schema_version",
    "host",
    "gpu_index",
    "gpu_uuid",
    "pid",
    "type",
    "user",
    "gpu_memory_bytes",
    "gpu_sm_percent",
    "cpu_percent",
    "host_memory_rss_bytes",
    "running_seconds",
    "visible",
    "gpu_instance_id",
    "compute_instance_id",
    "container_id",
    "k8s_pod",
    "slurm_job_id",
    "command",
]


@dataclass(frozen=True)
class _View:
    """What `mltools gpu` shows: which GPUs (-i), which rows and fields, which layout."""

    ids: tuple[str, ...] = ()
    compact: bool = False
    processes: bool | None = None  # None: the default of each output
    fields: tuple[str, ...] = ()
    header: bool = True

    @property
    def per_process(self) -> bool:
        return self.processes is True

    @property
    def csv_fields(self) -> list[str]:
        return list(self.fields) or (PROCESS_CSV_FIELDS if self.per_process else CSV_FIELDS)

    def select(self, snap: Any, host: str | None = None) -> Any:
        """``snap`` with only the GPUs ``-i`` names (by index, UUID or its prefix, bus id)."""
        if not self.ids:
            return snap
        from mltools.gpu.display import short_bus

        chosen, missing = [], []
        for wanted in self.ids:
            key = wanted.lower()
            hits = [
                g for g in snap.gpus
                if key == str(g.index)
                or (g.uuid and (g.uuid.lower().startswith(key) and not key.isdigit()))
                or (g.pci_bus_id and key in (g.pci_bus_id.lower(), short_bus(g.pci_bus_id).lower()))
            ]  # fmt: skip
            if not hits:
                missing.append(wanted)
            chosen += [g for g in hits if g not in chosen]
        if missing:
            where = f" on {host}" if host else ""
            have = ", ".join(str(g.index) for g in snap.gpus) or "none"
            _usage(f"-i/--id: no GPU {', '.join(missing)}{where} (GPUs: {have})")
        return dataclasses.replace(snap, gpus=sorted(chosen, key=lambda g: g.index))

    def json_doc(self, snap: Any) -> Any:
        """The snapshot for --json: whole, or each GPU with only ``--fields``."""
        if not self.fields:
            return snap
        doc = to_jsonable(snap)
        doc["gpus"] = [{f: row.get(f) for f in self.fields} for row in self.csv_rows([snap])]
        return doc

    def csv_rows(self, snaps: list[Any]) -> list[dict[str, Any]]:
        return _process_csv_rows(snaps) if self.per_process else _csv_rows(snaps)


def _view(
    ids: list[str] | None,
    compact: bool,
    processes: bool | None,
    fields: str | None,
    no_header: bool,
    json_: bool,
    csv: bool,
) -> _View:
    """The options of `mltools gpu`, checked: a wrong combination is a usage error."""
    wanted = tuple(part.strip() for item in ids or [] for part in item.split(",") if part.strip())
    if ids is not None and not wanted:
        _usage("-i/--id needs GPU indices, UUIDs or bus ids, e.g. -i 0,2")
    if compact and (json_ or csv or fields is not None):
        _usage("--compact is a terminal view; it cannot be combined with --json, --csv or --fields")
    names: tuple[str, ...] = ()
    if fields is not None:
        names = tuple(f.strip() for f in fields.split(",") if f.strip())
        known = PROCESS_CSV_FIELDS if processes else CSV_FIELDS
        unknown = [f for f in names if f not in known]
        if not names or unknown:
            _usage(
                f"--fields: unknown field {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(known)}"
            )
    if no_header and (json_ or not (csv or fields is not None)):
        _usage("--no-header is for CSV output (--csv or --fields)")
    if processes and not (csv or fields is not None):
        _usage("--processes is for --csv (one row per process); the table shows them already")
    return _View(wanted, compact, processes, names, not no_header)


def _process_csv_rows(snaps: list[Any]) -> list[dict[str, Any]]:
    """One CSV row per GPU process: the GPU it is on, then its fields."""
    rows = []
    for snap in snaps:
        for g in snap.gpus:
            for p in g.processes or []:
                row = to_jsonable(p)
                row.update(
                    schema_version=snap.schema_version,
                    host=snap.host,
                    gpu_index=g.index,
                    gpu_uuid=g.uuid,
                )
                rows.append(row)
    return rows


HostsOpt = Annotated[
    str | None,
    typer.Option(
        "--hosts",
        help="Comma-separated hosts to query over ssh (BatchMode; mltools must be installed there).",
    ),
]
HostTimeoutOpt = Annotated[
    float, typer.Option("--host-timeout", min=1, help="Seconds to wait for each host.")
]
SshConfigOpt = Annotated[
    str | None, typer.Option("--ssh-config", help="ssh config file to use (ssh -F) for --hosts.")
]
RemoteCmdOpt = Annotated[
    str,
    typer.Option("--remote-mltools", help="How to run mltools on the remote hosts."),
]
MinFreeOpt = Annotated[
    str | None,
    typer.Option(
        "--min-free-mem",
        help="Least free memory a GPU needs, e.g. 20GiB or 20G (binary), 20GB (decimal).",
    ),
]
MaxUtilOpt = Annotated[
    float,
    typer.Option(
        "--max-util", min=0, max=100, help="Most GPU utilization (%) a free GPU may have."
    ),
]
ExclusiveOpt = Annotated[
    bool,
    typer.Option(
        "--exclusive", help="Require GPUs with no processes at all (by default your own are fine)."
    ),
]
CountOpt = Annotated[int, typer.Option("-n", "--count", min=1, help="How many GPUs.")]


# How the tables give way on a narrow terminal (mltools.cli._tables), by header: GPU,
# name, utilization and memory always stay (as in gpustat's one line per GPU); clocks,
# persistence and compute mode go first, as nvidia-smi's narrow view leaves them out.
_FIT = {
    "HOST": Column("HOST", min_width=8),
    "NAME": Column("NAME", min_width=9),
    "BUS": Column("BUS", kind="fixed", priority=5),
    "TEMP": Column("TEMP", "right", "fixed", priority=3),
    "FAN": Column("FAN", "right", "fixed", priority=6),
    "POWER": Column("POWER", "right", "fixed", priority=4),
    "UTIL SM/MEM": Column("UTIL SM/MEM", "right", "fixed", short="UTIL"),
    "MEMORY": Column("MEMORY", "right", "fixed"),
    "CLOCKS SM/MEM": Column("CLOCKS SM/MEM", "right", "fixed", priority=8, short="CLOCKS"),
    "PERF": Column("PERF", kind="fixed", priority=7),
    "THROTTLE": Column("THROTTLE", min_width=8, priority=4),
    "ECC": Column("ECC", "right", "fixed", priority=5),
    "PERSIST": Column("PERSIST", kind="fixed", priority=9),
    "COMPUTE": Column("COMPUTE", kind="fixed", priority=9),
    "MIG": Column("MIG", kind="fixed", priority=6),
    "PID": Column("PID", "right", "fixed"),
    "USER": Column("USER", min_width=6, priority=3),
    "GPU-MEM": Column("GPU-MEM", "right", "fixed"),
    "SM": Column("SM", "right", "fixed", priority=4),
    "CPU": Column("CPU", "right", "fixed", priority=5),
    "HOST-RSS": Column("HOST-RSS", "right", "fixed", priority=6),
    "TIME": Column("TIME", "right", "fixed", priority=2),
    "OWNER": Column("OWNER", min_width=6, priority=7),
    "COMMAND": Column("COMMAND", min_width=16),
    "NOTE": Column("NOTE", kind="prose", min_width=12),
}


def _fitted(columns: list[tuple[str, str]]) -> list[Column]:
    """The declared ``Column`` of each (header, justify); a number-like fixed one otherwise."""
    return [
        _FIT.get(h) or Column(h, "right" if j == "right" else "left", "fixed") for h, j in columns
    ]


@app.callback()
def gpu(
    ctx: typer.Context,
    json_: JsonFlag = False,
    csv: CsvFlag = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C (JSON: one line per frame).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between --watch refreshes.")
    ] = 2.0,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "-i",
            "--id",
            metavar="IDS",
            help="Only these GPUs: indices, UUIDs (or a prefix) or PCI bus ids, comma-separated "
            "or repeated (nvidia-smi -i, gpustat --id, nvitop --only).",
        ),
    ] = None,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="One line per GPU: index, name, temperature, utilization, memory and who "
            "holds it (like gpustat).",
        ),
    ] = False,
    processes: Annotated[
        bool | None,
        typer.Option(
            "--processes/--no-processes",
            help="--no-processes: GPUs only, no process table. --processes with --csv: one "
            "row per process instead of per GPU (nvidia-smi --query-compute-apps).",
            show_default=False,
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            "--query-gpu",
            metavar="F1,F2,...",
            help="Only these fields, in this order, for --csv (the default with --fields) or "
            "--json; names as in the CSV header (nvidia-smi --query-gpu).",
        ),
    ] = None,
    no_header: Annotated[
        bool,
        typer.Option(
            "--no-header",
            help="CSV without its header line (nvidia-smi --format=csv,noheader; our numbers "
            "have no units already: bytes, watts, MHz, percent).",
        ),
    ] = False,
    hosts: HostsOpt = None,
    host_timeout: HostTimeoutOpt = 20.0,
    ssh_config: SshConfigOpt = None,
    remote_mltools: RemoteCmdOpt = "mltools",
) -> None:
    """Snapshot every GPU: utilization, memory, temperature, power, clocks, throttling, ECC, MIG.

    Lists each GPU's processes with user, command, CPU %, host RSS, running time
    and the container, Kubernetes pod or Slurm job they belong to. GPU memory that
    no process visible here accounts for is shown as ghost memory. Fields NVML
    does not support on a GPU show as "n/a" (null in JSON); a lost GPU is an error
    row, and then the exit code is 6 (after the full report). nvidia-smi equivalent:
    nvidia-smi -q.
    Example: mltools gpu -i 0,2 --csv --fields index,memory_used_bytes --no-header
    """
    if ctx.invoked_subcommand is not None:
        return
    if json_ and csv:
        _usage("--json and --csv cannot be combined")
    view = _view(ids, compact, processes, fields, no_header, json_, csv)
    csv = csv or (fields is not None and not json_)
    if hosts is not None:
        if watch:
            _usage("--watch cannot be combined with --hosts")
        results = _host_results(hosts, host_timeout, ssh_config, remote_mltools)
        for r in results:
            if r.snapshot is not None:
                r.snapshot = view.select(r.snapshot, r.host)
        _show_hosts(results, json_, csv, view)
        return
    if watch:
        _watch(json_, csv, interval, view)
        return
    snap = view.select(_local_snapshot(json_, csv, cpu_interval=0.1, view=view))
    _render(snap, json_, csv, view)
    unread = _unreadable_gpus([(None, snap)])
    if unread:
        from mltools.errors import PartialFailureError

        raise PartialFailureError(
            f"{len(unread)} of {len(snap.gpus)} GPUs could not be read: {', '.join(unread)}",
            hint=_UNREADABLE_HINT,
        )


_UNREADABLE_HINT = (
    "nvidia-smi -q shows the same; a GPU that fell off the bus needs a reset or a reboot"
)


def _unreadable_gpus(snaps: list[tuple[str | None, Any]]) -> list[str]:
    """``[host ]GPU i (error)`` for every GPU that is an error row (lost, or NVML failed)."""
    return [
        f"{host + ' ' if host else ''}GPU {g.index} ({g.error})"
        for host, snap in snaps
        if snap is not None
        for g in snap.gpus
        if g.error
    ]


def _usage(message: str) -> None:
    from mltools.errors import UsageError

    raise UsageError(message)


def _local_snapshot(json_: bool, csv: bool, cpu_interval: float, view: _View) -> Any:
    """Take a snapshot; without a driver (or on any NVML failure), still print a valid
    empty document, then fail (exit 3 without a driver)."""
    from mltools.errors import MltoolsError
    from mltools.gpu import snapshot

    try:
        # --no-processes spares the process queries of a table; JSON and CSV keep them
        wanted = view.processes is not False or json_ or csv
        return snapshot(cpu_interval=cpu_interval, processes=wanted)
    except MltoolsError as exc:
        _no_snapshot(exc, json_, csv, view)


def _no_snapshot(exc: BaseException | None, json_: bool, csv: bool, view: _View) -> NoReturn:
    """Print the valid empty document of a failed snapshot, then raise why it failed."""
    from mltools.errors import MltoolsError

    message = exc.message if isinstance(exc, MltoolsError) else "NVML is not available"
    if json_:
        print_json(_empty_doc(message))
    elif csv:
        print_csv([], view.csv_fields, header=view.header)
    raise exc if exc is not None else MltoolsError(message)


def _empty_doc(error: str) -> dict[str, Any]:
    import datetime as dt
    import socket

    from mltools.gpu.snapshot import SCHEMA_VERSION

    return {
        "schema_version": SCHEMA_VERSION,
        "host": socket.gethostname(),
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gpus": [],
        "error": error,
    }


def _render(snap: Any, json_: bool, csv: bool, view: _View) -> None:
    if json_:
        print_json(view.json_doc(snap))
    elif csv:
        print_csv(view.csv_rows([snap]), view.csv_fields, header=view.header)
    else:
        from mltools.gpu.display import na

        title = (
            f"{snap.host}  driver {na(snap.driver_version)}  CUDA {na(snap.cuda_driver_version)}"
            f"  {snap.timestamp}"
        )
        if view.compact:
            _print_compact([(None, snap)], title=title, with_processes=view.processes is not False)
            return
        _print_gpu_table([(None, snap)], title=title)
        if view.processes is not False:
            _print_process_table([(None, snap)])


def _csv_rows(snaps: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for snap in snaps:
        for g in snap.gpus:
            row = to_jsonable(g)
            row.update(
                schema_version=snap.schema_version,
                host=snap.host,
                process_count=None if g.processes is None else len(g.processes),
                throttle_reasons=None
                if g.throttle_reasons is None
                else ";".join(g.throttle_reasons),
            )
            rows.append(row)
    return rows


def _print_compact(
    snaps: list[tuple[str | None, Any]], *, title: str | None = None, with_processes: bool = True
) -> None:
    """One line per GPU, as gpustat prints them: who holds it as ``user/pid(memory)``."""
    from mltools.gpu.display import memory_pair, na, short_name

    multi = any(host is not None for host, _ in snaps)
    rows, problems = [], []
    for host, snap in snaps:
        for g in snap.gpus if snap is not None else []:
            if g.error:
                problems.append(f"ERROR {host + ' ' if multi else ''}GPU {g.index}: {g.error}")
            held = " ".join(
                f"{p.user or '?'}/{p.pid}({_short_size(p.gpu_memory_bytes)})"
                for p in g.processes or []
            )
            cells = [
                str(g.index),
                "ERROR" if g.error else short_name(g.name),
                na(g.temperature_gpu_celsius, "{}C"),
                na(g.utilization_gpu_percent, "{}%"),
                memory_pair(g.memory_used_bytes, g.memory_total_bytes),
            ]
            rows.append(
                [*([host or ""] if multi else []), *cells, *([held] if with_processes else [])]
            )
    columns = [
        *([_FIT["HOST"]] if multi else []),
        Column("GPU", "right", "fixed"),
        _FIT["NAME"],
        Column("TEMP", "right", "fixed", priority=2),
        Column("UTIL", "right", "fixed"),
        _FIT["MEMORY"],
        *([Column("PROCESSES", min_width=12, priority=1)] if with_processes else []),
    ]
    print_table(columns, rows, title=title)
    for line in wrap_lines(problems, terminal_width(sys.stdout)):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _short_size(n: int | None) -> str:
    """'70.0G' (gpustat's style: no space, no 'iB'), 'n/a' when NVML does not say."""
    from mltools.gpu.display import na

    return na(n if n is None else human_bytes(n).replace(" ", "").replace("iB", ""))


def _print_gpu_table(
    snaps: list[tuple[str | None, Any]],
    *,
    title: str | None = None,
    host_errors: dict[str, str] | None = None,
) -> None:
    """GPU rows (and MIG rows), then one ``WHERE: problem`` line per error row.

    With hosts there is a HOST column, and a host that did not answer is an
    error row of its own.
    """
    from mltools.gpu import display

    multi = any(host is not None for host, _ in snaps)
    host_errors = host_errors or {}
    blank = [""] * len(display.GPU_COLUMNS)
    rows: list[list[str]] = []
    problems: list[str] = []
    for host, snap in snaps:
        prefix = [host or ""] if multi else []
        if host is not None and host in host_errors:
            rows.append([*prefix, "-", "ERROR", *blank[2:]])
            problems.append(f"{host}: {host_errors[host]}")
        for g in snap.gpus if snap is not None else []:
            cells, problem = display.gpu_cells(g)
            rows.append([*prefix, *cells])
            if problem:
                problems.append(f"{host + ' ' if multi else ''}GPU {g.index}: {problem}")
            rows += [[*prefix, *display.mig_cells(g, m)] for m in g.mig_devices]
    print_table(_fitted([("HOST", "left")] * multi + display.GPU_COLUMNS), rows, title=title)
    lines = wrap_lines([f"ERROR {line}" for line in problems], terminal_width(sys.stdout))
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def _print_process_table(snaps: list[tuple[str | None, Any]]) -> None:
    from mltools.gpu import display

    multi = any(host is not None for host, _ in snaps)
    rows: list[list[str]] = []
    for host, snap in snaps:
        prefix = [host or ""] if multi else []
        for g in snap.gpus if snap is not None else []:
            rows += [[*prefix, *row] for row in display.process_rows(g)]
    if not rows:
        return
    sys.stdout.write("\n")
    print_table(_fitted([("HOST", "left")] * multi + display.PROCESS_COLUMNS), rows)


def _watch(json_: bool, csv: bool, interval: float, view: _View) -> None:
    """Refresh until Ctrl-C (exit 0), from one NVML session kept open; JSON: one line each."""
    from mltools.sampler import Sampler

    clear = rich_stdout() and not (json_ or csv)  # no escape codes with NO_COLOR / TERM=dumb

    with Sampler(host=False) as sampler:

        def frame(first: bool) -> None:
            snap = sampler.sample().gpus
            if snap is None:
                _no_snapshot(sampler.gpu_exception, json_, csv, view)
            snap = view.select(snap)
            if json_:
                print_json_line(view.json_doc(snap))
            elif csv:
                print_csv(view.csv_rows([snap]), view.csv_fields, header=first and view.header)
            else:
                if clear:
                    sys.stdout.write("\x1b[H\x1b[2J")
                elif not first:
                    sys.stdout.write("\n")
                _render(snap, False, False, view)

        watch_loop(frame, interval)


def _host_results(
    hosts_text: str, timeout: float, ssh_config: str | None, remote: str
) -> list[HostResult]:
    """Every host's ``gpu --json`` over ssh, in parallel (``gpu --hosts`` and ``gpu pick --hosts``)."""
    if ssh_config is not None:  # ssh -F would read a FIFO or /dev/zero forever
        from mltools._inputs import check_input

        check_input(ssh_config, what="ssh config", max_bytes=16 << 20)
    from mltools.gpu.remote import parse_hosts, snapshot_hosts

    return snapshot_hosts(
        parse_hosts(hosts_text), timeout=timeout, ssh_config=ssh_config, remote_command=remote
    )


_HOSTS_HINT = "check `ssh -o BatchMode=yes HOST mltools gpu` by hand"


def _show_hosts(results: list[HostResult], json_: bool, csv: bool, view: _View) -> None:
    from mltools.errors import PartialFailureError

    failed = [r for r in results if r.error]
    if json_:
        print_json(
            {
                "schema_version": 1,
                "hosts": [
                    {
                        "host": r.host,
                        "error": r.error,
                        "snapshot": None if r.snapshot is None else view.json_doc(r.snapshot),
                    }
                    for r in results
                ],
            }
        )
    elif csv:
        rows: list[dict[str, Any]] = []
        for r in results:
            host_rows = view.csv_rows([r.snapshot]) if r.snapshot is not None else []
            for row in host_rows:
                row["host"] = r.host  # the name asked for, not the remote's hostname
            rows += host_rows or [{"schema_version": 1, "host": r.host, "error": r.error}]
        print_csv(rows, view.csv_fields, header=view.header)
    else:
        snaps = [(r.host, r.snapshot) for r in results]
        if view.compact:
            _print_compact(snaps, with_processes=view.processes is not False)
        else:
            _print_gpu_table(snaps, host_errors={r.host: r.error for r in results if r.error})
            if view.processes is not False:
                _print_process_table([(h, s) for h, s in snaps if s is not None])
    unread = _unreadable_gpus([(r.host, r.snapshot) for r in results])
    # each reason is printed once, in the output (the ERROR lines, or the JSON/CSV rows);
    # this summary only says which hosts and GPUs it is about
    problems = []
    if failed:
        names = ", ".join(r.host for r in failed)
        problems.append(f"{len(failed)} of {len(results)} hosts did not report ({names})")
    if unread:
        plural = "s" if len(unread) > 1 else ""
        where = ", ".join(u.split(" (", 1)[0] for u in unread)
        problems.append(f"{len(unread)} GPU{plural} could not be read ({where})")
    if problems:
        hints = {r.hint for r in failed}
        hint = _UNREADABLE_HINT
        if failed:
            hint = hints.pop() if len(hints) == 1 and None not in hints else _HOSTS_HINT
        raise PartialFailureError("; ".join(problems), hint=hint)


def _thresholds(min_free_mem: str | None) -> int | None:
    from mltools.units import parse_size

    return parse_size(min_free_mem) if min_free_mem is not None else None


@app.command()
def pick(
    count: CountOpt = 1,
    min_free_mem: MinFreeOpt = None,
    max_util: MaxUtilOpt = 10.0,
    exclusive: ExclusiveOpt = False,
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="env: KEY=VALUE lines (for `vars=$(...) || exit; export $vars`); "
            "csv: just the index list; json: the choice and every GPU's reasons.",
        ),
    ] = "env",
    json_: JsonFlag = False,
    hosts: HostsOpt = None,
    host_timeout: HostTimeoutOpt = 20.0,
    ssh_config: SshConfigOpt = None,
    remote_mltools: RemoteCmdOpt = "mltools",
) -> None:
    """Choose N free GPUs and print CUDA_DEVICE_ORDER and CUDA_VISIBLE_DEVICES.

    A GPU is free when it has --min-free-mem free, at most --max-util % load,
    MIG off, and no process of another user. For N > 1 the best-connected set wins
    (NVLink, same PCIe switch, ...). Indices are listed in PCI bus order and always
    come with CUDA_DEVICE_ORDER=PCI_BUS_ID, so CUDA numbers GPUs as nvidia-smi does.
    Exit code 4 when fewer than N GPUs qualify. On failure --json still prints a
    document (with "error"), and the env format prints the word
    mltools-gpu-pick-failed, so that `export $(mltools gpu pick)` and
    `eval "$(mltools gpu pick)"` fail too instead of doing nothing.
    Example: vars=$(mltools gpu pick -n 2) || exit; export $vars
    """
    from mltools.errors import MltoolsError

    fmt = "json" if json_ else format_
    try:
        _pick(count, min_free_mem, max_util, exclusive, fmt, format_, hosts, host_timeout,
              ssh_config, remote_mltools)  # fmt: skip
    except MltoolsError as exc:
        if fmt == "json" and not getattr(exc, "json_printed", False):
            print_json(
                {
                    "cuda_device_order": "PCI_BUS_ID",
                    "cuda_visible_devices": None,
                    "indices": [],
                    "uuids": [],
                    "candidates": getattr(exc, "candidates", []),
                    "error": exc.message,
                }
            )
        elif fmt != "json" and fmt != "csv" and hosts is None:
            # not an assignment and not a valid name: `export $(...)` says "not a valid
            # identifier" and `eval "$(...)"` "command not found", both non-zero
            sys.stdout.write(f"{PICK_FAILED}\n")
            sys.stdout.flush()
        raise


PICK_FAILED = "mltools-gpu-pick-failed"


def _pick(
    count: int,
    min_free_mem: str | None,
    max_util: float,
    exclusive: bool,
    fmt: str,
    format_: str,
    hosts: str | None,
    host_timeout: float,
    ssh_config: str | None,
    remote_mltools: str,
) -> None:
    if fmt not in ("env", "csv", "json"):
        _usage(f"unknown --format {format_!r}; use env, csv or json")
    min_free = _thresholds(min_free_mem)
    if hosts is not None:
        results = _host_results(hosts, host_timeout, ssh_config, remote_mltools)
        _pick_hosts(results, count, min_free, max_util, exclusive, fmt)
        return
    from mltools.gpu import select_gpus

    sel = select_gpus(
        count, min_free_memory_bytes=min_free, max_utilization_percent=max_util, exclusive=exclusive
    )
    if fmt == "json":
        print_json(
            {
                "cuda_device_order": "PCI_BUS_ID",
                "cuda_visible_devices": sel.cuda_visible_devices,
                "indices": sel.indices,
                "uuids": sel.uuids,
                "candidates": sel.candidates,
            }
        )
    elif fmt == "csv":
        sys.stdout.write(sel.cuda_visible_devices + "\n")
    else:
        for key, value in sel.env.items():
            sys.stdout.write(f"{key}={value}\n")
    if fmt == "csv":
        hint("set CUDA_DEVICE_ORDER=PCI_BUS_ID too, or CUDA may number the GPUs differently")


def _pick_hosts(
    results: list[HostResult],
    count: int,
    min_free: int | None,
    max_util: float,
    exclusive: bool,
    fmt: str,
) -> None:
    from mltools.errors import UnavailableError
    from mltools.gpu import select_gpus

    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {"host": r.host, "cuda_visible_devices": None, "error": r.error}
        if r.snapshot is not None and not r.error:
            try:
                sel = select_gpus(
                    count,
                    min_free_memory_bytes=min_free,
                    max_utilization_percent=max_util,
                    exclusive=exclusive,
                    snap=r.snapshot,
                    use_topology=False,
                )
                row["cuda_visible_devices"] = sel.cuda_visible_devices
            except UnavailableError as exc:
                row["error"] = exc.message
        rows.append(row)
    if fmt == "json":
        print_json({"cuda_device_order": "PCI_BUS_ID", "hosts": rows})
    else:
        print_table(
            [
                _FIT["HOST"],
                Column("CUDA_VISIBLE_DEVICES", kind="fixed"),
                Column("PROBLEM", kind="prose"),
            ],
            [[r["host"], r["cuda_visible_devices"] or "-", r["error"] or ""] for r in rows],
        )
        hint("run with CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA numbers GPUs as listed")
    if not any(r["cuda_visible_devices"] for r in rows):
        err = UnavailableError(
            f"no host has {count} free GPU(s)",
            hint="relax --min-free-mem / --max-util, or add hosts",
        )
        err.json_printed = True  # type: ignore[attr-defined]
        raise err


@app.command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    command: Annotated[
        list[str],
        typer.Argument(metavar="CMD [ARGS]...", help="The command and its arguments (after --)."),
    ],
    count: CountOpt = 1,
    min_free_mem: MinFreeOpt = None,
    max_util: MaxUtilOpt = 10.0,
    exclusive: ExclusiveOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until N GPUs are free instead of failing.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds."),
    ] = None,
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="With --wait: seconds between checks.")
    ] = 5.0,
) -> None:
    """Pick N free GPUs, set CUDA_DEVICE_ORDER and CUDA_VISIBLE_DEVICES, and exec CMD.

    The command replaces mltools, so its exit code is ours. Example:
    mltools gpu run -n 2 --wait --timeout 3600 -- torchrun --nproc-per-node 2 train.py
    """
    from mltools.errors import InputError, UnavailableError
    from mltools.gpu.select import select_gpus, wait_for_gpus

    exe = shutil.which(command[0])
    if exe is None:
        raise InputError(f"command not found: {command[0]}", hint="check the name and your PATH")
    min_free = _thresholds(min_free_mem)
    tty = rich_stderr()  # a status line redrawn in place (escape codes) only where wanted

    def status(waited: float, why: UnavailableError) -> None:
        line = f"waiting for {count} free GPU(s), {waited:.0f} s so far: {why.message}"
        if tty:
            sys.stderr.write("\r\x1b[K" + line[: shutil.get_terminal_size().columns - 1])
            sys.stderr.flush()
        else:
            info(line)

    criteria = {
        "min_free_memory_bytes": min_free,
        "max_utilization_percent": max_util,
        "exclusive": exclusive,
    }
    if wait:
        sel = wait_for_gpus(count, timeout=timeout, poll=poll, on_wait=status, **criteria)
    else:
        sel = select_gpus(count, **criteria)
    if tty and wait:
        sys.stderr.write("\r\x1b[K")
    info(f"mltools: running on GPU(s) {sel.cuda_visible_devices} (CUDA_DEVICE_ORDER=PCI_BUS_ID)")
    sys.stdout.flush()
    os.execve(exe, command, {**os.environ, **sel.env})


@app.command()
def topo(json_: JsonFlag = False) -> None:
    """Show how the GPUs connect (NVLink, PCIe switch, host bridge, CPU socket).

    Also each GPU's CPU affinity and NUMA node. nvidia-smi equivalent: nvidia-smi topo -m.
    Legend: X self, NV# # NVLinks, PIX one PCIe switch, PXB several PCIe switches,
    PHB a PCIe host bridge, NODE within a NUMA node, SYS across CPU sockets.
    """
    from mltools.errors import MltoolsError
    from mltools.gpu import gpu_topology

    try:
        topology = gpu_topology()
    except MltoolsError as exc:
        if json_:
            print_json({"gpus": [], "links": [], "error": exc.message})
        raise
    if json_:
        print_json(topology)
        return
    from mltools.gpu.display import na

    n = len(topology.gpus)
    columns = ["", *[f"GPU{i}" for i in range(n)], "CPU AFFINITY", "NUMA"]
    rows = [
        [
            f"GPU{g.index}",
            *[na(link) for link in topology.links[i]],
            na(g.cpu_affinity),
            na(g.numa_node),
        ]
        for i, g in enumerate(topology.gpus)
    ]
    print_table(
        [Column(c, kind="fixed") for c in columns[:-2]]
        + [Column("CPU AFFINITY", min_width=8), Column("NUMA", kind="fixed")],
        rows,
    )
    sys.stdout.write(
        "\nX = self, NV# = # NVLinks, PIX = one PCIe switch, PXB = several PCIe switches,\n"
        "PHB = PCIe host bridge, NODE = within a NUMA node, SYS = across CPU sockets\n"
    )


@app.command()
def kill(
    gpu_index: Annotated[
        list[int] | None, typer.Option("--gpu", help="GPU index whose processes to stop (repeat).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's processes.")] = None,
    grace: Annotated[
        float, typer.Option("--grace", min=0, help="Seconds between SIGTERM and SIGKILL.")
    ] = 5.0,
    tree: Annotated[
        bool,
        typer.Option(
            "--tree",
            help="Also every process below each one (a rank's DataLoader workers, which hold "
            "no GPU memory and would linger); the preview counts them.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Act without asking.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Stop the processes holding GPUs, such as orphaned DDP ranks after a crash.

    Lists them first; acts only with --yes (or a yes on a terminal): SIGTERM, then
    SIGKILL after --grace seconds. Never touches mltools itself or its parents.
    Exit code 6 when some processes could not be stopped.
    """
    from mltools.errors import MltoolsError, PartialFailureError, UsageError
    from mltools.gpu import snapshot
    from mltools.gpu.kill import descendants, find_targets, terminate

    try:
        if not gpu_index and user is None:
            raise UsageError(
                "say which processes: --gpu I (repeatable) and/or --user NAME",
                hint="preview everything with `mltools gpu kill --user $USER`",
            )
        snap = snapshot(cpu_interval=0.0)
        known = {g.index for g in snap.gpus}
        unknown = sorted(set(gpu_index or []) - known)
        if unknown:
            raise UsageError(
                f"no GPU {', '.join(map(str, unknown))} here (GPUs: {', '.join(map(str, sorted(known))) or 'none'})"
            )
    except MltoolsError as exc:
        if json_:
            print_json({"dry_run": True, "targets": [], "results": [], "error": exc.message})
        raise
    targets = find_targets(snap, gpus=list(gpu_index or []), user=user)
    actionable = [t for t in targets if not t.skip_reason]
    if not json_:
        from mltools.gpu.display import na

        if targets:
            rows = [
                [t.gpu_index, t.pid, na(t.user), human_bytes(t.gpu_memory_bytes), na(t.command),
                 f"skipped: {t.skip_reason}" if t.skip_reason else _below(t.pid) if tree else ""]
                for t in targets
            ]  # fmt: skip
            print_table(
                _fitted(
                    [("GPU", "right"), ("PID", "right"), ("USER", "left"),
                     ("GPU-MEM", "right"), ("COMMAND", "left"), ("NOTE", "left")]
                ),
                rows,
            )  # fmt: skip
        else:
            info("no matching GPU processes")
    go = bool(actionable) and (
        yes or (not json_ and confirm(f"Send SIGTERM to {len(actionable)} process(es)?"))
    )
    results = terminate(actionable, grace=grace, tree=tree) if go else []
    if json_:
        below = {t.pid: descendants(t.pid) for t in actionable} if tree else {}
        print_json(
            {
                "dry_run": not go,
                "targets": [{**to_jsonable(t), "descendants": below.get(t.pid)} for t in targets],
                "results": results,
            }
        )
    elif results:
        sys.stdout.write("\n")
        print_table(
            ["PID", "OUTCOME"],
            [[r.pid, r.outcome + (f" ({r.error})" if r.error else "")] for r in results],
        )
    elif actionable:
        hint("nothing was signalled; re-run with --yes to stop these processes")
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        raise PartialFailureError(
            f"{len(failed)} of {len(results)} processes could not be stopped: "
            + ", ".join(f"{r.pid} ({r.error})" for r in failed),
            hint="run as their owner or as root",
        )
    if any(t.skip_reason == "not visible in this PID namespace" for t in targets):
        warn("some processes live in another PID namespace; stop them from the host or container")


def _below(pid: int) -> str:
    """The preview's note for ``gpu kill --tree``: how many processes go with this one."""
    from mltools.gpu.kill import descendants

    n = len(descendants(pid))
    return f"+{n} below it" if n else ""


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gpu")
