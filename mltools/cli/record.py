"""`mltools record -- CMD`: record what a run did to the machine; `show` and `compare` it.

Thin: the recording, the summary and the report are ``mltools.record``'s; this module
parses options and prints the summary. The command's stdout belongs to the command, so
the summary of a recording goes to stderr (``--json`` puts it on stdout, after the
command's own output); ``record show DIR`` prints it on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from typer.core import TyperGroup

from mltools.cli._output import JsonFlag, human_bytes, info, print_json, safe_text, warn


class RecordGroup(TyperGroup):
    """``record [OPTIONS] -- CMD ARGS...`` records CMD; ``record show|compare`` are subcommands.

    Everything after ``--`` is the command to record, set aside before the group's own
    parsing, so a command named like a subcommand (``-- show``) is still a command.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["record_command"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[OPTIONS] -- CMD [ARGS]...  |  show DIR  |  compare A B"]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        from typer._click.exceptions import UsageError

        if args and args[0] not in self.commands:
            raise UsageError(
                f"{args[0]!r} is not a subcommand: put the command to record after `--`, "
                f"e.g. mltools record -- {' '.join(args)}",
                ctx,
            )
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=RecordGroup,
    help="Record GPU, process and host usage of a command (or a running pid) into one folder "
    "with an offline HTML report; `show` and `compare` recordings.",
    invoke_without_command=True,
)


def _gpu_indices(text: str | None) -> tuple[bool, list[int] | None]:
    """--gpus: 'all' (default), 'none', or '0,2'."""
    from mltools.errors import UsageError

    if text is None or text.strip().lower() == "all":
        return True, None
    if text.strip().lower() == "none":
        return False, None
    try:
        indices = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"--gpus takes all, none or GPU indices like 0,2; not {text!r}") from None
    if not indices or min(indices) < 0:
        raise UsageError(f"--gpus takes all, none or GPU indices like 0,2; not {text!r}")
    return True, indices


@app.callback(invoke_without_command=True)
def record(
    ctx: typer.Context,
    interval: Annotated[
        float,
        typer.Option("--interval", "-i", min=0.01, help="Seconds between samples (drift-free)."),
    ] = 1.0,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Folder for the files (default ./record-DATE, new)."),
    ] = None,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="GPUs to record: all (default), none, or 0,2.")
    ] = None,
    mark: Annotated[
        list[str] | None,
        typer.Option(
            "--mark",
            "-m",
            help="A regex: matching lines of the command's output become markers (repeatable).",
        ),
    ] = None,
    pid: Annotated[
        int | None,
        typer.Option("--pid", help="Attach to this running process and its children instead."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Write into an existing --out folder.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Record what a command does to the machine: `mltools record [OPTIONS] -- CMD ARGS...`.

    Per GPU: utilisation, memory, power, energy (NVML's counter, else integrated power),
    temperature, clocks, throttle reasons, PCIe. Per process of the command's tree: CPU %,
    RSS, I/O, GPU memory and SM share, DDP rank. Host: CPU, memory, /dev/shm. Writes
    samples.jsonl as it goes, then samples.parquet, summary.json and report.html (offline).
    The command's output passes through; the exit code is the command's (127 when it does
    not exist). `--pid PID` attaches to a running job until it ends or Ctrl-C.
    Example: `mltools record -o run1 --mark 'Epoch \\d+' -- torchrun --nproc-per-node 8 train.py`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from mltools.errors import UsageError

    command = ctx.meta.get("record_command") or []
    with_gpus, indices = _gpu_indices(gpus)
    announce = _announcer(json)
    if pid is not None:
        if command:
            raise UsageError("give either --pid or a command after --, not both")
        if mark:
            raise UsageError(
                "--mark reads the output of a command record starts; an attached --pid has none",
                hint="use mltools.mark() in the script, or record the command itself",
            )
        from mltools.record import record_pid

        result = record_pid(
            pid,
            out_dir=out,
            interval=interval,
            gpu_indices=indices,
            gpus=with_gpus,
            overwrite=yes,
            on_start=announce,
        )
    else:
        if not command:
            raise UsageError(
                "no command given",
                hint="mltools record -- python train.py   (or --pid PID to attach to a running job)",
            )
        from mltools.record import record_command

        result = record_command(
            command,
            out_dir=out,
            interval=interval,
            gpu_indices=indices,
            gpus=with_gpus,
            marks=mark or [],
            overwrite=yes,
            # without --mark nothing reads the output: the command gets our stdout and
            # stderr themselves (a terminal stays a terminal for it)
            stdout=sys.stdout.buffer if mark and hasattr(sys.stdout, "buffer") else None,
            stderr=sys.stderr.buffer if mark and hasattr(sys.stderr, "buffer") else None,
            on_start=announce,
            inherit_output=not mark,
        )
    if result.write_error:
        warn(f"record: samples stopped being written: {result.write_error}")
    if result.columnar_note:
        warn(f"record: {result.columnar_note}")
    for error in result.output_errors:
        warn(f"record: {error}")
    if json:
        print_json(result.summary)
    else:
        render_summary(result.summary, sys.stderr)
    if result.returncode:
        from mltools.errors import ChildExit

        raise ChildExit(result.returncode)


def _announcer(json: bool) -> Any:
    def announce(path: Any) -> None:
        info(f"record: recording into {safe_text(path)}/")

    return announce


@app.command("show")
def show(
    folder: Annotated[str, typer.Argument(metavar="DIR", help="A folder `mltools record` wrote.")],
    json: JsonFlag = False,
) -> None:
    """Print a recording's summary again (from its files; no live process needed)."""
    from mltools.record import load_run, summarize

    summary = summarize(load_run(folder))
    if json:
        print_json(summary)
    else:
        render_summary(summary, sys.stdout)


@app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(metavar="A", help="The first recording folder.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The second recording folder.")],
    json: JsonFlag = False,
) -> None:
    """Put two recordings side by side: each metric in A and B, B - A and B / A."""
    from mltools.record import compare_runs

    result = compare_runs(a, b)
    if json:
        print_json(result)
        return
    rows = [
        [
            m["metric"],
            _value(m["metric"], m["a"]),
            _value(m["metric"], m["b"]),
            _value(m["metric"], m["delta"]),
            "" if m["ratio"] is None else f"{m['ratio']:.2f}x",
        ]
        for m in result["metrics"]
    ]
    _table(
        ["metric", "A", "B", "B - A", "B / A"],
        rows,
        sys.stdout,
        title=f"A: {safe_text(result['a'])}   B: {safe_text(result['b'])}",
    )


def _value(metric: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if metric.endswith("_bytes"):
        return human_bytes(value) if value >= 0 else "-" + human_bytes(-value)
    if metric == "idle_fraction":
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _marker(m: dict[str, Any]) -> str:
    rank = m.get("rank")
    return safe_text(m["name"]) + ("" if rank is None else f" (rank {rank})")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _table(
    header: list[str], rows: list[list[Any]], out: IO[str], *, title: str | None = None
) -> None:
    cells = [[safe_text(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    if title:
        out.write(title + "\n")
    for row in cells:
        out.write(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            ).rstrip()
            + "\n"
        )


def render_summary(s: dict[str, Any], out: IO[str]) -> None:
    """The terminal summary: duration, GPU-hours, energy, utilisation, idle, peak memory,
    throttling, imbalance, idle GPU memory holders, samples missed."""
    from mltools.gpu.display import duration  # not at start-up: `mltools --help` stays light

    what = " ".join(s.get("command") or []) or f"pid {s.get('pid')}"
    end = (
        f"exit {s['exit_code']}" if s.get("exit_code") is not None else (s.get("end_reason") or "")
    )
    out.write(
        f"recorded {duration(s.get('duration_seconds'))} of {safe_text(what)} ({end}) "
        f"into {safe_text(s.get('path'))}/: {s.get('samples')} samples every "
        f"{s.get('interval_seconds'):g} s, {s.get('samples_missed')} missed\n"
    )
    if s.get("gpu_error"):
        out.write(f"GPUs: not recorded ({safe_text(s['gpu_error'])})\n")
    gpus = s.get("gpus") or []
    if gpus:
        rows = []
        for g in gpus:
            energy = "n/a"
            if g.get("energy_joules") is not None:
                source = "counter" if g["energy_source"] == "counter" else "integrated power"
                energy = f"{g['energy_joules']:,.0f} J ({g['energy_wh']:.2f} Wh, {source})"
            peak = "n/a"
            if g.get("memory_peak_bytes") is not None:
                peak = f"{human_bytes(g['memory_peak_bytes'])} at {duration(g['memory_peak_t_seconds'])}"
            throttled = ", ".join(f"{k} {v:g} s" for k, v in g["throttle_seconds"].items()) or "-"
            idle = "n/a" if g.get("idle_fraction") is None else f"{100 * g['idle_fraction']:.0f}%"
            rows.append(
                [
                    g["index"],
                    _pct(g.get("utilization_mean_percent")),
                    _pct(g.get("utilization_p95_percent")),
                    idle,
                    peak,
                    energy,
                    throttled,
                ]
            )
        _table(["GPU", "util mean", "p95", "idle", "peak memory", "energy", "throttled"], rows, out)
        energy = "n/a"
        if s.get("energy_joules") is not None:
            energy = f"{s['energy_joules']:,.0f} J ({s['energy_wh']:.2f} Wh)"
        out.write(f"total: {s.get('gpu_hours')} GPU-hours, energy {energy}\n")
    parts = []
    if s.get("gpu_imbalance_percent") is not None:
        parts.append(f"GPUs {s['gpu_imbalance_percent']:g} points of mean utilisation")
    if s.get("rank_gpu_sm_imbalance_percent") is not None:
        parts.append(f"ranks {s['rank_gpu_sm_imbalance_percent']:g} points of SM share")
    if s.get("rank_cpu_imbalance_percent") is not None:
        parts.append(f"ranks {s['rank_cpu_imbalance_percent']:g} points of CPU %")
    if parts:
        out.write(f"imbalance (max - min): {'; '.join(parts)}\n")
    for h in s.get("idle_gpu_memory_holders") or ():
        out.write(
            f"idle GPU memory: pid {h['pid']} ({safe_text(h.get('name'))}) held "
            f"{human_bytes(h['memory_max_bytes'])} on GPU {h['gpu_index']} for "
            f"{h['idle_seconds']:g} s while it idled\n"
        )
    procs = s.get("processes") or []
    if procs:
        rows = [
            [
                p["pid"],
                safe_text(p.get("name")),
                "" if p.get("rank") is None else p["rank"],
                _pct(p.get("cpu_mean_percent")),
                _pct(p.get("cpu_max_percent")),
                human_bytes(p.get("rss_peak_bytes")),
                human_bytes(p.get("gpu_memory_peak_bytes")),
            ]
            for p in procs[:5]
        ]
        out.write(f"processes: {s.get('processes_seen')} seen; busiest:\n")
        _table(["pid", "name", "rank", "CPU mean", "CPU max", "peak RSS", "GPU memory"], rows, out)
    host = s.get("host") or {}
    out.write(
        f"host: CPU mean {_pct(host.get('cpu_mean_percent'))}, p95 {_pct(host.get('cpu_p95_percent'))}; "
        f"memory peak {human_bytes(host.get('memory_peak_bytes'))}; /dev/shm peak "
        f"{human_bytes(host.get('shm_peak_bytes'))}\n"
    )
    markers = s.get("markers") or []
    if markers:
        shown = ", ".join(f"{_marker(m)} {duration(m['t_seconds'])}" for m in markers[:8])
        more = f" and {len(markers) - 8} more" if len(markers) > 8 else ""
        out.write(f"markers: {len(markers)}: {shown}{more}\n")
    for note in s.get("notes") or ():
        out.write(f"note: {safe_text(note)}\n")
    if (Path(s.get("path") or ".") / "report.html").is_file():
        out.write(f"report: {safe_text(s.get('path'))}/report.html\n")
    out.flush()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="record")
