"""`mltools ddp-doctor`: preflight checks, env presets, guarded launch and log triage."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import typer

from mltools.cli._output import (
    Column,
    JsonFlag,
    info,
    print_json,
    print_table,
    terminal_width,
    warn,
    wrap_lines,
)
from mltools.errors import CheckFailedError, ChildExit

app = typer.Typer(
    help="Diagnose PyTorch DDP hangs and errors: preflight check (the default), env presets, "
    "guarded launch and log triage.",
    invoke_without_command=True,
)


def _complete_preset(incomplete: str) -> list[str]:
    from mltools.ddp.presets import preset_names

    return [name for name in preset_names() if name.startswith(incomplete)]


@app.callback(invoke_without_command=True)
def doctor(
    ctx: typer.Context,
    json: JsonFlag = False,
) -> None:
    """Diagnose PyTorch DDP hangs and errors. Without a subcommand, runs `check`.

    Exit code 5 when a check FAILs (or `log` finds a known failure).
    """
    if ctx.invoked_subcommand is None:
        _run_check(json)


class Diagnose(str, Enum):
    """When ``ddp-doctor run`` analyses the log."""

    failure = "failure"
    always = "always"
    never = "never"


@app.command("check")
def check(json: JsonFlag = False) -> None:
    """Preflight lint of this machine for DDP: versions, GPUs, /dev/shm, limits, network,
    MASTER_ADDR/PORT, deprecated or non-existent variables, leftover processes.

    Each row is PASS, WARN or FAIL with the fix. Exits 5 when any row FAILs, so it
    can run in a job prologue: `mltools ddp-doctor check || exit 1`.
    """
    _run_check(json)


def _run_check(as_json: bool) -> None:
    from mltools.ddp.check import run_checks

    report = run_checks()
    if as_json:
        print_json({"status": report.status, "checks": report.results})
    else:
        print_table(
            [
                Column("STATUS", kind="fixed"),
                Column("CHECK", min_width=12),
                Column("DETAIL", kind="prose", min_width=20),
                Column("FIX", kind="prose", min_width=20),
            ],
            [[r.status, r.name, r.message, r.fix] for r in report.results],
        )
    if report.failed:
        failed = sum(r.status == "FAIL" for r in report.results)
        raise CheckFailedError(f"{failed} check(s) FAILed", shown=True)


@app.command("env")
def env(
    presets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PRESET[=ARG]]...",
            help="Presets to combine (see --list); some take an argument, e.g. ifname=eth0.",
            autocompletion=_complete_preset,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Output format: sh (export lines), fish, dotenv or json."
        ),
    ] = "sh",
    list_: Annotated[
        bool, typer.Option("--list", "-l", help="List the presets and what each one does.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Print debugging variables for named presets, spelled for the installed torch.

    Example: `eval "$(mltools ddp-doctor env nccl-debug hang)"`.
    """
    from mltools.ddp import presets as lib

    if list_:
        if json:
            print_json({"presets": [{"name": n, "description": d} for n, d in lib.PRESETS.items()]})
        else:
            print_table(
                [Column("PRESET", kind="fixed"), Column("WHAT IT DOES", kind="prose")],
                list(lib.PRESETS.items()),
            )
        return
    if not presets:
        from mltools.errors import UsageError

        raise UsageError("name at least one preset", hint="mltools ddp-doctor env --list")
    variables = lib.resolve_all(presets)
    sys.stdout.write(lib.render(variables, "json" if json else fmt))
    sys.stdout.flush()


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
def run(
    command: Annotated[
        list[str],
        typer.Argument(metavar="-- CMD [ARGS]...", help="The training command, after `--`."),
    ],
    preset: Annotated[
        list[str] | None,
        typer.Option(
            "--preset",
            "-p",
            help="Apply a preset's variables (repeatable); see `ddp-doctor env --list`.",
            autocompletion=_complete_preset,
        ),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option("--log", help="Tee the output to this file (default ./ddp-doctor-DATE.log)."),
    ] = None,
    diagnose: Annotated[
        Diagnose,
        typer.Option(help="When to analyse the log: failure (non-zero exit), always or never."),
    ] = Diagnose.failure,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Overwrite the --log file if it exists.")
    ] = False,
) -> None:
    """Run a training command with presets applied, tee its output, and diagnose a failure.

    The command's output streams through unchanged; when it exits non-zero the log
    is analysed and the root cause printed on stderr. The exit code is the command's
    (128+N when signal N ended it, as a shell says); SIGTERM/SIGHUP are forwarded to it.
    The exit status is evidence too: 137 (SIGKILL, the kernel OOM killer's signature) is
    reported as such even when the output shows nothing. `-p nccl-debug=DIR` creates DIR.
    An existing --log is not overwritten without --yes; the default name is new each run.
    Example: `mltools ddp-doctor run -p fail-fast -- torchrun --nproc-per-node 8 train.py`.
    """
    from mltools.ddp.launch import run_guarded
    from mltools.ddp.presets import resolve_all

    for name, value in resolve_all(preset or []).items():
        info(f"ddp-doctor: {name}={value}")
    result = run_guarded(
        command,
        presets=preset or [],
        log_path=log,
        stdout=sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None,
        stderr=sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None,
        diagnose=diagnose.value,
        overwrite=yes,
        on_log=lambda path: info(f"ddp-doctor: logging to {path}"),
    )
    if result.log_error:
        from mltools._inputs import show_path

        warn(f"ddp-doctor: the log stopped early: {show_path(result.log_path)}: {result.log_error}")
    info(f"ddp-doctor: exit code {result.returncode}; log: {result.log_path}")
    if result.report is not None:
        if result.report.findings:
            _render_findings(result.report, out=sys.stderr)
        elif result.report.bytes_scanned == 0:
            info("ddp-doctor: the command printed nothing")
        else:
            info(f"ddp-doctor: no known DDP failure in {result.report.lines_scanned} lines")
    if result.returncode:
        raise ChildExit(result.returncode)


@app.command("log")
def log(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[FILE]...", help="Log files to read; `-` (or nothing on a pipe) reads stdin."
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Find known DDP failures in logs and name the root cause first.

    Understands torchrun's `[rankN]:` and `--tee`/role prefixes, Slurm `--label`,
    NCCL INFO/WARN lines and `-> N` return-code chains, C++ `terminate`/`what()`
    reports, the elastic agent's failure summary, nvidia-smi process tables, and pastes
    cut, wrapped or glued to progress bars. Reports the culprit rank versus the victims,
    evidence lines with line numbers, the cause and the fix. A log that shows a failure
    (traceback, non-zero exit, signal, NCCL error, watchdog abort) always gets a finding:
    `rank_failed` names the rank and line when no catalogue entry matches. When N-1 ranks
    time out in the same collective and the log gives the world size, the rank that never
    did is named first as the suspect. Exits 5 when it finds something, 0 when the log looks
    clean, 1 when there is nothing to read (an empty log).
    """
    from mltools.ddp.logscan import analyze_log

    sources = files or ["-"]
    if sources == ["-"] and sys.stdin.isatty():
        from mltools.errors import UsageError

        raise UsageError(
            "no log given and stdin is a terminal",
            hint="mltools ddp-doctor log train.log  (or pipe a log in)",
        )
    report = analyze_log(sources)
    if json:
        print_json(
            {
                "findings": report.findings,
                "files": report.files,
                "lines_scanned": report.lines_scanned,
                "bytes_scanned": report.bytes_scanned,
            }
        )
    elif report.findings:
        _render_findings(report, out=sys.stdout)
    else:
        info(f"no known DDP failure in {report.lines_scanned} lines")
        # most logs of a hung job are start-up lines and then nothing: say where to look next
        info(
            "if the job is stuck rather than finished, run `mltools ddp-doctor hang` while it hangs"
        )
    if report.findings:
        raise CheckFailedError(f"{len(report.findings)} known DDP failure(s) found", shown=True)


def _rank(rank: int | None) -> str:
    return "?" if rank is None else str(rank)


def _render_findings(report: Any, out: Any) -> None:
    lines: list[str] = []
    for i, f in enumerate(report.findings):
        head = "root cause" if i == 0 else ("victim symptom" if f.role == "symptom" else "also")
        ranks = ", ".join(map(str, f.ranks)) if f.ranks else "?"
        lines.append(
            f"{head}: {f.id} on rank {_rank(f.rank)} (ranks {ranks}; first at {f.file}:{f.line}): {f.title}"
        )
        if f.suspects:
            lines.append(
                f"  suspect: rank {', '.join(map(str, f.suspects))} never reported the "
                "collective the others timed out in"
            )
        if f.victims:
            lines.append(f"  victims (failed after it): rank {', '.join(map(str, f.victims))}")
        for ev in f.evidence:
            lines.append(f"  {ev.file}:{ev.line}: {ev.text.strip()[:300]}")
        lines.append(f"  cause: {f.cause}")
        lines.append(f"  fix:   {f.fix}")
        lines.append(f"  see:   {f.reference}")
        lines.append("")
    out.write("\n".join(wrap_lines(lines, terminal_width(out))))
    out.flush()


def register(root: typer.Typer) -> None:
    # `hang` and `smoke` live in ddp_live.py (they need torch and py-spy at run time).
    from mltools.cli import ddp_live

    ddp_live.register(app)
    root.add_typer(app, name="ddp-doctor")
