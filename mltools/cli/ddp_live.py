"""`mltools ddp-doctor hang` and `ddp-doctor smoke`: live analysis of running ranks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mltools.cli._output import JsonFlag, info, print_json, print_table, warn


def _check_flight_recorder(given: Path) -> None:
    """A --flight-recorder that names nothing is an error, not silently no evidence."""
    import glob

    if given.exists() or glob.glob(glob.escape(str(given)) + "*"):
        return
    from mltools._inputs import show_path
    from mltools.errors import InputError

    raise InputError(
        f"no flight-recorder dump at {show_path(given)} (no such file, directory or prefix)",
        hint="pass the dump files, their directory, or the prefix "
        "$TORCH_FR_DUMP_TEMP_FILE names (e.g. /tmp/nccl_trace_rank_)",
    )


def _fmt_rank(rank: int | None) -> str:
    return "?" if rank is None else str(rank)


def _render_hang(report: Any) -> None:
    print(f"verdict: {report.verdict}")
    if report.culprits:
        print(f"culprit rank(s): {', '.join(_fmt_rank(r) for r in report.culprits)}")
    print()
    print_table(
        ["rank", "pid", "state", "collective", "frame"],
        [
            [
                _fmt_rank(s.rank),
                s.pid,
                s.state,
                s.collective or s.call or "",
                s.frame or s.error or "",
            ]
            for s in report.ranks
        ],
        title=f"ranks ({report.samples} samples, {report.interval_seconds:g}s apart)",
    )
    fr = report.flight_recorder
    if fr is not None:
        print()
        print_table(
            ["rank", "last enqueued", "op", "last completed", "op"],
            [
                [t.rank, t.last_enqueued, t.last_enqueued_op, t.last_completed, t.last_completed_op]
                for t in fr.ranks
            ],
            title="flight recorder",
        )
        if fr.divergence:
            print(f"divergence: {fr.divergence}")
        if fr.missing_ranks:
            print(f"no dump from ranks: {', '.join(map(str, fr.missing_ranks))}")
    for s in report.ranks:
        if s.stack:
            print(f"\n{s.label} (pid {s.pid}) main thread, innermost first:")
            for line in s.stack:
                print(f"  {line}")


def _hang_json(report: Any) -> dict[str, Any]:
    import dataclasses

    data = dataclasses.asdict(report)
    return {
        "verdict": data["verdict"],
        "kind": data["kind"],
        "culprits": data["culprits"],
        "ranks": data["ranks"],
        "groups": data["groups"],
        "flight_recorder": data["flight_recorder"],
        "samples": data["samples"],
        "interval_seconds": data["interval_seconds"],
        "duration_seconds": data["duration_seconds"],
    }


def hang(
    pid: Annotated[
        list[int] | None,
        typer.Option(
            "--pid",
            "-p",
            help="A rank's pid, or a torchrun pid (selects its ranks); repeat for several. "
            "Default: find the ranks by their RANK/LOCAL_RANK environment and GPU use.",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", "-k", min=1, help="Stack snapshots per rank.")
    ] = 3,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="Seconds between snapshots.")
    ] = 1.0,
    native: Annotated[
        bool, typer.Option("--native", help="Include native (C/C++) frames in the stacks.")
    ] = False,
    flight_recorder: Annotated[
        list[Path] | None,
        typer.Option(
            "--flight-recorder",
            "--fr",
            help="Flight-recorder dump files, a directory, or a prefix. Default: the dumps at "
            "$TORCH_FR_DUMP_TEMP_FILE (or the old $TORCH_NCCL_DEBUG_INFO_TEMP_FILE) if any.",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Name the rank that hangs a running DDP job, and where it sits.

    Samples every rank's Python stack with py-spy, reduces each to the collective
    or blocking call it waits in plus the first user frame, groups the ranks and
    names the odd one(s) out; tells stuck (same stack each sample) from slow.
    Exit code 0 with a verdict (even when the verdict is a hang), 1 when the ranks
    cannot be found or attached to, 7 when py-spy is missing.
    """
    from mltools.ddp.hang import analyze_hang

    for given in flight_recorder or []:
        _check_flight_recorder(given)
    report = analyze_hang(
        pid or [],
        samples=samples,
        interval=interval,
        native=native,
        flight_recorder=[str(p) for p in flight_recorder] if flight_recorder else None,
    )
    if json_out:
        print_json(_hang_json(report))
    else:
        _render_hang(report)
    info(f"analysed {len(report.ranks)} ranks in {report.duration_seconds:.1f}s")


def _smoke_json(report: Any) -> dict[str, Any]:
    import dataclasses

    data = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    data["hang"] = _hang_json(report.hang) if hasattr(report.hang, "verdict") else report.hang
    return data


def smoke(
    nproc: Annotated[int, typer.Option("--nproc", "-n", min=1, help="Ranks to launch.")] = 2,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="auto (nccl with one GPU per rank, else gloo), gloo or nccl.",
            autocompletion=lambda: ["auto", "gloo", "nccl"],
        ),
    ] = "auto",
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", min=0.1, help="Seconds each step may take.")
    ] = 60.0,
    startup_timeout: Annotated[
        float,
        typer.Option("--startup-timeout", min=1.0, help="Seconds for process start and init."),
    ] = 180.0,
    inject: Annotated[
        str | None,
        typer.Option(
            "--inject",
            help="Make one rank misbehave on purpose: mismatch, stall, crash or unused-params.",
            autocompletion=lambda: ["mismatch", "stall", "crash", "unused-params"],
        ),
    ] = None,
    inject_rank: Annotated[
        int | None,
        typer.Option("--inject-rank", min=0, help="The rank that misbehaves (default: the last)."),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes",
            min=4096,
            help="Largest all_reduce message for busbw (default 4 MiB gloo, 256 MiB nccl).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Preflight: launch N ranks and check they can talk and train.

    Runs barrier, all_reduce (result checked), broadcast, all_gather, two tiny DDP
    steps, then all_reduce bus bandwidth over message sizes. Every step is bounded
    by --timeout; a rank that hangs, dies or fails is named, and a hang is analysed
    (stacks of the live ranks) before the ranks are killed. Exit code 0 when every
    step passes on every rank, 5 when the smoke finds a failure.
    For several nodes: `torchrun --nnodes ... -m mltools.ddp.smoke` on each node.
    """
    from mltools._deps import require
    from mltools.ddp.smoke import FAULTS, run_smoke
    from mltools.errors import CheckFailedError, UsageError

    require("torch")

    if backend not in ("auto", "gloo", "nccl"):
        raise UsageError(f"unknown backend {backend!r}", hint="use auto, gloo or nccl")
    if inject is not None and inject not in FAULTS:
        raise UsageError(f"unknown fault {inject!r}", hint="use one of: " + ", ".join(FAULTS))
    info(f"launching {nproc} ranks (torchrun), step timeout {timeout:g}s ...")
    report = run_smoke(
        nproc,
        backend=backend,
        timeout=timeout,
        inject=inject,
        inject_rank=inject_rank,
        startup_timeout=startup_timeout,
        max_bytes=max_bytes,
    )
    if json_out:
        print_json(_smoke_json(report))
    else:
        _render_smoke(report)
    if not report.ok:
        raise CheckFailedError(
            f"smoke failed ({report.kind}): culprit rank(s) "
            f"{', '.join(map(str, report.culprits)) or 'unknown'}",
            hint="the verdict and per-rank steps are above; "
            "`mltools ddp-doctor env hang` sets the debug variables for a rerun",
        )


def _render_smoke(report: Any) -> None:
    print(f"verdict: {'PASS' if report.ok else 'FAIL'}: {report.verdict}")
    print(f"backend {report.backend}, {report.nproc} ranks, {report.duration_seconds:.1f}s")
    print()
    steps = [s.step for s in report.ranks[0].steps] if report.ranks else []
    rows = []
    for r in report.ranks:
        cells = []
        for s in r.steps:
            if s.status == "ok" and s.duration_seconds is not None:
                cells.append(f"ok {s.duration_seconds:.2f}s")
            else:
                cells.append(s.status + (f" ({s.kind})" if s.kind else ""))
        rows.append([r.rank, r.pid or "", r.status, *cells])
    print_table(["rank", "pid", "status", *steps], rows, title="per-rank steps")
    if report.busbw:
        print()
        print_table(
            ["size", "time", "algbw GB/s", "busbw GB/s"],
            [
                [
                    f"{row['size_bytes']:,} B",
                    f"{row['time_seconds'] * 1e3:.2f} ms",
                    f"{row['algbw_gbps']:.3f}",
                    f"{row['busbw_gbps']:.3f}",
                ]
                for row in report.busbw
            ],
            title="all_reduce bus bandwidth (rank 0)",
            justify=["right", "right", "right", "right"],
        )
    if report.hang is not None and hasattr(report.hang, "verdict"):
        print()
        print("hang analysis of the live ranks before they were killed:")
        _render_hang(report.hang)
    elif isinstance(report.hang, dict):
        warn(f"hang analysis failed: {report.hang.get('error')}")
    if report.log_tail:
        print()
        print("launcher output (last lines):")
        for line in report.log_tail:
            print(f"  {line}")


def register(group: typer.Typer) -> None:
    """Add `hang` and `smoke` to the ddp-doctor group."""
    group.command("hang")(hang)
    group.command("smoke")(smoke)
