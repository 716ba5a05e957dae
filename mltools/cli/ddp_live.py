"""`mltools ddp-doctor hang` and `ddp-doctor smoke`: live analysis of running ranks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mltools.cli._output import (
    JsonFlag,
    info,
    print_json,
    print_table,
    terminal_width,
    warn,
    wrap_lines,
)


def _check_flight_recorder(given: Path) -> None:
    """A --flight-recorder that names nothing is an error, not silently no evidence."""
    import glob

    if given.exists() or glob.glob(glob.escape(str(given)) + "*"):
        return
    from mltools._inputs import show_path
    from mltools.errors import InputError

    raise InputError(
        f"no flight-recorder dumps at {show_path(given)} (no such file, directory or prefix)",
        hint="pass the dump files, their directory, or the prefix "
        "$TORCH_FR_DUMP_TEMP_FILE names (e.g. /tmp/nccl_trace_rank_)",
    )


def _fmt_rank(rank: int | None) -> str:
    return "?" if rank is None else str(rank)


def _say(text: str = "") -> None:
    """One line of the report on stdout, escaped (control characters made visible); on a
    terminal a long one wraps between words (``wrap_lines``)."""
    for line in wrap_lines([text], terminal_width(sys.stdout)):
        sys.stdout.write(line + "\n")


# Above this many ranks the per-rank table gives way to the grouped one (STAT-style).
_PER_RANK_TABLE = 16


def _rank_list(ranks: list[int | None]) -> str:
    from mltools.ddp.hang_words import compress

    known = sorted(r for r in ranks if r is not None)
    text = compress(known)
    unknown = len(ranks) - len(known)
    return text + (f"{', ' if text else ''}{unknown} unnamed" if unknown else "")


def _render_hang(report: Any) -> None:
    _say(f"verdict: {report.verdict}")
    if report.culprits:
        _say(f"culprit rank(s): {', '.join(_fmt_rank(r) for r in report.culprits)}")
    multi = any(s.host for s in report.ranks)
    title = (
        f"{report.samples} samples, {report.interval_seconds:g}s apart, "
        f"stuck = still for {report.window_seconds:g}s"
    )
    if report.groups:
        _say()
        print_table(
            ["ranks", "count", "state", "where", "evidence"],
            [
                [_rank_list(g.ranks), len(g.ranks), g.state, g.where, g.evidence]
                for g in report.groups
            ],
            title=f"ranks grouped by where they are ({title})",
        )
    shown = [s for s in report.ranks if len(report.ranks) <= _PER_RANK_TABLE or not s.live]
    if shown:
        _say()
        head = ["host"] if multi else []
        print_table(
            [*head, "rank", "pid", "state", "collective", "frame", "evidence"],
            [
                [
                    *([s.host or ""] if multi else []),
                    _fmt_rank(s.rank),
                    s.pid if s.pid is not None else "",
                    s.state,
                    s.collective or s.call or "",
                    s.frame or s.error or s.detail or "",
                    s.evidence.text() if s.evidence.samples else (s.detail or ""),
                ]
                for s in shown
            ],
            title=f"ranks ({title})",
        )
    for ig in report.ignored:
        _say(f"ignored: {ig.reason}")
    for h in report.hosts:
        if h.get("error"):
            _say(f"host {h['host']}: {h['error']}")
            if h.get("hint"):
                _say(f"  hint: {h['hint']}")
    fr = report.flight_recorder
    if fr is not None:
        _say()
        print_table(
            ["rank", "last enqueued", "op", "last completed", "op"],
            [
                [t.rank, t.last_enqueued, t.last_enqueued_op, t.last_completed, t.last_completed_op]
                for t in fr.ranks
            ],
            title="flight recorder",
        )
        if fr.divergence:
            _say(f"divergence: {fr.divergence}")
        if fr.missing_ranks:
            _say(f"no dump from ranks: {', '.join(map(str, fr.missing_ranks))}")
        for w in fr.warnings:
            _say(f"warning: {w}")
    # one stack per distinct main-thread stack, with the ranks that share it
    by_stack: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Any]] = {}
    for s in report.ranks:
        if s.stack:
            by_stack.setdefault((tuple(s.native), tuple(s.stack)), []).append(s)
    for (native, stack), members in sorted(by_stack.items(), key=lambda kv: -len(kv[1])):
        if len(members) == 1:
            who = f"{members[0].label} (pid {members[0].pid})"
        else:
            who = f"{len(members)} ranks ({_rank_list([m.rank for m in members])})"
        _say()
        _say(f"{who} main thread, innermost first:")
        for line in native:
            _say(f"  [native] {line}")
        for line in stack:
            _say(f"  {line}")
    sys.stdout.flush()


def hang(
    pid: Annotated[
        list[int] | None,
        typer.Option(
            "--pid",
            "-p",
            help="A rank's pid, or any process above the ranks (a launcher, a bash wrapper, "
            "the script that called mp.spawn): selects the ranks under it; repeat for several. "
            "Default: every rank on this host (RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK, "
            "PMI_RANK, PMIX_RANK, mp.spawn children) and GPU use.",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", "-k", min=1, help="Fewest stack snapshots per rank.")
    ] = 3,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="Seconds between snapshots.")
    ] = 0.5,
    window: Annotated[
        float,
        typer.Option(
            "--window",
            min=0.0,
            help="Seconds a rank must stand still (same stack, no CPU) to be called stuck.",
        ),
    ] = 6.0,
    max_window: Annotated[
        float, typer.Option("--max-window", min=0.0, help="Most seconds of sampling.")
    ] = 20.0,
    native: Annotated[
        bool,
        typer.Option(
            "--native", help="Also show native (C/C++) frames (the verdict stays Python-level)."
        ),
    ] = False,
    flight_recorder: Annotated[
        list[Path] | None,
        typer.Option(
            "--flight-recorder",
            "--fr",
            help="Flight-recorder dump files, a directory, or a prefix. Default: the dumps at "
            "$TORCH_FR_DUMP_TEMP_FILE (or the old $TORCH_NCCL_DEBUG_INFO_TEMP_FILE) if any. "
            "With no rank running, the dumps are analysed on their own.",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Analyse only the flight-recorder dumps (the job is gone): --flight-recorder, "
            "else $TORCH_FR_DUMP_TEMP_FILE.",
        ),
    ] = False,
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts",
            help="Comma-separated hosts of the job: each is sampled over ssh (BatchMode; "
            "mltools must be installed there) and all ranks are judged together.",
        ),
    ] = None,
    slurm_job: Annotated[
        str | None,
        typer.Option("--slurm-job", help="A Slurm job id: its nodes (scontrol) are the hosts."),
    ] = None,
    host_timeout: Annotated[
        float | None,
        typer.Option(
            "--host-timeout",
            min=1,
            help="Seconds to wait for each host (default: max-window + 60).",
        ),
    ] = None,
    ssh_config: Annotated[
        str | None, typer.Option("--ssh-config", help="ssh config file (ssh -F) for --hosts.")
    ] = None,
    remote_mltools: Annotated[
        str, typer.Option("--remote-mltools", help="How to run mltools on the remote hosts.")
    ] = "mltools",
    local_vars: Annotated[
        bool,
        typer.Option(
            "--locals",
            help="Also read each frame's local variables (py-spy dump --locals) into the "
            "stacks. Slower; the values may be private.",
        ),
    ] = False,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Also write FILE.tar.gz with everything gathered (verdict, every thread's "
            "stacks with native frames, flight-recorder dumps, the ranks' NCCL/TORCH env with "
            "secrets masked, versions, gpu snapshot, kernel Xid lines), from every host with "
            "--hosts. Never overwrites.",
        ),
    ] = None,
    bundle_material: Annotated[
        bool,
        typer.Option(
            "--bundle-material",
            hidden=True,
            help="With --json: add this host's part of a bundle (what --hosts --bundle asks "
            "each host for).",
        ),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Name the rank that hangs a running DDP job, and where it sits.

    Finds every rank of the job (from its launcher's children and the ranks'
    RANK/WORLD_SIZE/LOCAL_WORLD_SIZE; exited, zombie, stopped and unreadable
    ranks are named), then samples each rank's Python stack (py-spy) and its
    main thread's CPU time until each rank either moves or stands still for
    --window seconds. Healthy jobs are reported as progressing; otherwise the
    odd rank(s) out are named with the evidence. With --hosts/--slurm-job every
    node is sampled over ssh and all ranks are judged together.
    Exit code 0 with a verdict (even when the verdict is a hang), 1 when the ranks
    cannot be found or attached to, 6 when some (or all) hosts did not answer, 7
    when py-spy is missing (it is looked for next to the Python running mltools,
    then on PATH).
    """
    from mltools.errors import PartialFailureError, UsageError

    if bundle is not None:
        from mltools._outputs import check_output

        check_output(bundle, overwrite=False, what="bundle")  # refuse now, not after sampling

    if hosts is not None or slurm_job is not None:
        from mltools.ddp.hang_hosts import analyze_hang_hosts, slurm_hosts
        from mltools.gpu.remote import parse_hosts

        if hosts is not None and slurm_job is not None:
            raise UsageError("give --hosts or --slurm-job, not both")
        if pid or flight_recorder or offline:
            raise UsageError(
                "--pid and --flight-recorder are per host; not with --hosts/--slurm-job"
            )
        names = parse_hosts(hosts) if hosts is not None else slurm_hosts(str(slurm_job))
        info(f"sampling {len(names)} host(s) over ssh: {', '.join(names)} ...")
        report = analyze_hang_hosts(
            names, samples=samples, interval=interval, window=window, max_window=max_window,
            native=native, host_timeout=host_timeout, ssh_config=ssh_config,
            remote_command=remote_mltools, local_vars=local_vars, bundle=bundle is not None,
        )  # fmt: skip
    else:
        from mltools.ddp.hang import analyze_hang

        for given in flight_recorder or []:
            _check_flight_recorder(given)
        report = analyze_hang(
            pid or [],
            samples=samples,
            interval=interval,
            window=window,
            max_window=max_window,
            native=native,
            flight_recorder=[str(p) for p in flight_recorder] if flight_recorder else None,
            offline=offline,
            local_vars=local_vars,
        )
    data = report.to_dict()
    if bundle is not None or bundle_material:
        from mltools.ddp.hang_bundle import gather_material, scrub_report, write_bundle

        materials = list(report.bundle_material)
        if not materials:
            materials = [gather_material(data["ranks"], data["flight_recorder"])]
        if bundle_material:  # for --hosts --bundle: sent back scrubbed, its secrets never
            data = scrub_report(data, set(materials[0].pop("secrets", [])))
            data["bundle_material"] = materials[0]
        if bundle is not None:
            write_bundle(bundle, data, materials)
            info(f"wrote the bundle {bundle}")
    if json_out:
        print_json(data)
    else:
        _render_hang(report)
    info(f"analysed {len(report.ranks)} ranks in {report.duration_seconds:.1f}s")
    failed = [h for h in report.hosts if h.get("error") and not h.get("no_ranks")]
    if failed:
        raise PartialFailureError(
            f"{len(failed)} of {len(report.hosts)} hosts did not report: "
            + ", ".join(h["host"] for h in failed),
            hint="the verdict above is from the hosts that answered",
        )


def _smoke_json(report: Any) -> dict[str, Any]:
    import dataclasses

    data = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    data["hang"] = report.hang.to_dict() if hasattr(report.hang, "verdict") else report.hang
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
        float | None,
        typer.Option(
            "--startup-timeout",
            min=1.0,
            help="Seconds for the ranks' processes to start (Python and torch imported); "
            "default: --timeout. Init itself is a step, bounded by --timeout.",
        ),
    ] = None,
    inject: Annotated[
        str | None,
        typer.Option(
            "--inject",
            help="Make one rank misbehave on purpose: mismatch, stall, crash, unused-params or "
            "freeze (SIGSTOP during init).",
            autocompletion=lambda: ["mismatch", "stall", "crash", "unused-params", "freeze"],
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

    Runs init, barrier, all_reduce (result checked), broadcast, all_gather, two tiny
    DDP steps, then all_reduce bus bandwidth over message sizes. Every step, init
    included, is bounded by --timeout; a rank that hangs, dies, fails, never starts
    or is frozen is named, and a hang is analysed (stacks of the live ranks) before
    the ranks are killed. Common outside faults (a wrong GLOO_SOCKET_IFNAME or
    NCCL_SOCKET_IFNAME, a port in use, an unreachable rendezvous) are named with
    their fix. Exit code 0 when every
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
            hint=report.fix
            or "the verdict and per-rank steps are above; "
            "`mltools ddp-doctor env hang` sets the debug variables for a rerun",
        )


def _render_smoke(report: Any) -> None:
    _say(f"verdict: {'PASS' if report.ok else 'FAIL'}: {report.verdict}")
    _say(f"backend {report.backend}, {report.nproc} ranks, {report.duration_seconds:.1f}s")
    _say()
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
        _say()
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
        _say()
        _say("hang analysis of the live ranks before they were killed:")
        _render_hang(report.hang)
    elif isinstance(report.hang, dict):
        warn(f"hang analysis failed: {report.hang.get('error')}")
    if report.log_tail:
        _say()
        _say("launcher output (last lines):")
        for line in report.log_tail:
            _say(f"  {line}")


def register(group: typer.Typer) -> None:
    """Add `hang` and `smoke` to the ddp-doctor group."""
    group.command("hang")(hang)
    group.command("smoke")(smoke)
