"""File chores: `filetype`, `clean`, `du`, `sync` and `kill` (top-level commands)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

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
    print_kv,
    print_table,
    progress,
    safe_text,
    valid_text,
    warn,
)
from mltools.errors import CheckFailedError, MltoolsError, PartialFailureError

ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="PATTERN",
        help="Leave out entries matching PATTERN, and never enter such a folder (repeatable): "
        "a glob on the name ('*.tmp', .git) or, with a '/', on the path below the root "
        "('wandb/run-*'); a trailing '/' means folders only.",
    ),
]

# how the tables give way on a narrow terminal (mltools.cli._tables)
_PATH = Column("path", kind="path", min_width=24)
_KIND = Column("kind", kind="fixed")


def _num(header: str, priority: int = 0) -> Column:
    """A right-aligned number column that never shrinks."""
    return Column(header, justify="right", kind="fixed", priority=priority)


def _age(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            rest = seconds % size
            sub = {"d": ("h", 3600), "h": ("m", 60), "m": ("s", 1)}[unit]
            tail = f"{rest // sub[1]}{sub[0]}" if rest // sub[1] else ""
            return f"{seconds // size}{unit}{tail}"
    return f"{seconds}s"


# --- filetype ---------------------------------------------------------------------------


def filetype(
    paths: Annotated[list[str], typer.Argument(help="Files or directories (walked recursively).")],
    mismatch: Annotated[
        bool,
        typer.Option(
            "--mismatch",
            help="Only list files whose content disagrees with their extension, or that are "
            "empty, truncated or damaged (exit 5 when any are found).",
        ),
    ] = False,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Counts and bytes per type instead of one line per file."),
    ] = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks", "-L", help="Type what symlinks point to (and walk linked dirs)."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-j", min=1, help="Worker processes (default: all CPUs)."),
    ] = None,
    describe: Annotated[
        bool | None,
        typer.Option(
            "--describe/--no-describe",
            help="libmagic's description of every file (a second libmagic pass). Default: "
            "on for the table, off for --json/--csv/--summary/--mismatch, where rows carry "
            "the ML sniffers' description or null.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonFlag = False,
    csv_out: CsvFlag = False,
) -> None:
    """What is this file really? MIME type and description from libmagic, refined for ML formats.

    Recognises safetensors (header checked against the size), PyTorch zip and legacy
    checkpoints, pickle, .npy/.npz, parquet, HDF5, ONNX, GGUF, TFRecord (length CRC),
    JSON Lines and mp4/mov/mkv/webm (truncation check), and flags files whose content
    disagrees with their extension. Replaces `file`, `find | xargs file --mime-type`.
    Exit 6 when some files could not be read, 5 when --mismatch found any.
    """
    from mltools.files.filetype import mismatches, scan_types, summarize

    with progress("typing files") as bar:
        results = scan_types(
            paths,
            follow_symlinks=follow_symlinks,
            # one libmagic pass (the MIME type) unless descriptions are shown: the table's
            # column, or --describe
            describe=describe
            if describe is not None
            else not (summary or mismatch or json_out or csv_out),
            workers=workers,
            on_total=lambda n: bar.update(total=n),
            on_progress=bar.advance,
        )
    unreadable = [r for r in results if r.kind == "unreadable"]
    if summary:
        groups = summarize(results)
        if json_out:
            print_json({"kinds": groups})
        elif csv_out:
            print_csv(groups, ["kind", "mime", "files", "size_bytes"])
        else:
            print_table(
                [_KIND, Column("mime", min_width=12), _num("files"), _num("size")],
                [(g["kind"], g["mime"], g["files"], human_bytes(g["size_bytes"])) for g in groups],
            )
    else:
        shown = mismatches(results) if mismatch else results
        rows = [
            {
                "path": valid_text(r.path),
                "mime": r.mime,
                "description": r.description or None,
                "kind": r.kind,
                "extension_ok": r.extension_ok,
                "size_bytes": r.size_bytes,
                "problem": r.problem,
                "expected_kinds": r.expected,
            }
            for r in shown
        ]
        if json_out:
            print_json({"files": rows})
        elif csv_out:
            print_csv(
                rows,
                list(rows[0]) if rows else ["path", "mime", "description", "kind", "extension_ok"],
            )
        elif mismatch:
            print_table(
                [
                    _PATH,
                    _KIND,
                    Column("expected", min_width=8, priority=2),
                    Column("problem", kind="prose", min_width=20),
                    Column("mime", priority=3),
                ],
                [
                    (
                        safe_text(r.path),
                        r.kind,
                        "/".join(r.expected) or "-",
                        r.problem or "-",
                        r.mime,
                    )
                    for r in shown
                ],
            )
        else:
            print_table(
                [
                    _PATH,
                    _KIND,
                    Column("ext ok", kind="fixed", priority=1, short="ext"),
                    Column("mime", min_width=12, priority=3),
                    Column("description", min_width=12, priority=2),
                ],
                [
                    (
                        safe_text(r.path),
                        r.kind,
                        {True: "yes", False: "NO", None: "-"}[r.extension_ok],
                        r.mime,
                        r.description,
                    )
                    for r in shown
                ],
            )
    if unreadable:
        warn(f"{len(unreadable)} file(s) could not be read:")
        for r in unreadable[:20]:
            info(f"  {safe_text(r.path)}: {r.error}")
        raise PartialFailureError(f"{len(unreadable)} file(s) could not be read", shown=True)
    if mismatch and mismatches(results):
        raise CheckFailedError("some extensions do not match the contents", shown=True)


# --- clean --------------------------------------------------------------------------------


def clean(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(help="Directories to clean (never left, symlinks never followed)."),
    ],
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Match names by glob, e.g. '*.tmp' (repeatable)."),
    ] = None,
    preset: Annotated[
        list[str] | None,
        typer.Option(
            "--preset",
            "-p",
            help="mac-junk (.DS_Store, ._*), pycache, ipynb-checkpoints, empty (repeatable).",
        ),
    ] = None,
    empty: Annotated[bool, typer.Option("--empty", help="Only empty files.")] = False,
    empty_dirs: Annotated[
        bool, typer.Option("--empty-dirs", help="Only empty directories.")
    ] = False,
    smaller: Annotated[
        str | None, typer.Option("--smaller", help="Files smaller than SIZE (e.g. 1k).")
    ] = None,
    larger: Annotated[
        str | None, typer.Option("--larger", help="Files larger than SIZE (e.g. 2G).")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Modified more than AGE ago (e.g. 8d, 12h).")
    ] = None,
    newer_than: Annotated[
        str | None, typer.Option("--newer-than", help="Modified less than AGE ago.")
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Kinds, like find -type: f files, d directories, l symlinks, p FIFOs, "
            "s sockets, b/c devices; comma-separated (default: files and directories).",
        ),
    ] = None,
    exclude: ExcludeOpt = None,
    keep_newest: Annotated[
        int | None,
        typer.Option(
            "--keep-newest",
            metavar="N",
            min=0,
            help="Spare the N newest matches in each folder, e.g. the last 3 checkpoints of "
            "every run (by modification time); needs --name or --preset.",
        ),
    ] = None,
    cross_mounts: Annotated[
        bool,
        typer.Option(
            "--cross-mounts",
            help="Also descend into other filesystems mounted below (default: stay on one, "
            "like find -xdev).",
        ),
    ] = False,
    allow_system_root: Annotated[
        bool,
        typer.Option(
            "--allow-system-root",
            help="Allow / and system folders (/usr, /etc, /home ...) as roots.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking (default: preview only).")
    ] = False,
    trash: Annotated[
        bool, typer.Option("--trash", help="Move to the FreeDesktop trash instead of deleting.")
    ] = False,
    print_cron: Annotated[
        str | None,
        typer.Option(
            "--print-cron",
            metavar="SCHEDULE",
            help='Print a crontab line running this clean on SCHEDULE, e.g. "30 23 * * *".',
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Delete junk safely: preview first, delete with --yes, or move to the trash.

    Filters narrow each other; --name globs and presets are alternatives; --exclude
    prunes. Dry run by default (a table and the total size). Replaces
    `find . -name .DS_Store -delete`, `find . -size 0 | xargs rm`,
    `find dir -mtime +8 -exec rm {} \\;`, and with --keep-newest
    `ls -t *.ckpt | tail -n +4 | xargs rm` in every run's folder.
    Exit 6 when some entries could not be removed (the rest are).
    """
    from mltools.files.clean import CleanSpec, cron_line, delete_candidates, find_candidates
    from mltools.units import parse_age, parse_size

    spec = CleanSpec(
        names=list(name or []),
        presets=list(preset or []),
        empty_files=empty,
        empty_dirs=empty_dirs,
        # `is not None`: an empty value is a usage error, never a filter silently dropped
        smaller_bytes=parse_size(smaller) if smaller is not None else None,
        larger_bytes=parse_size(larger) if larger is not None else None,
        older_than_seconds=parse_age(older_than) if older_than is not None else None,
        newer_than_seconds=parse_age(newer_than) if newer_than is not None else None,
        type=type_,
        exclude=list(exclude or []),
    )
    if keep_newest is not None and not (spec.names or spec.presets):
        from mltools.errors import UsageError

        raise UsageError(
            "--keep-newest needs --name or --preset: it keeps the newest of what they match",
            hint="e.g. mltools clean runs/ --name '*.ckpt' --keep-newest 3",
        )
    if print_cron is not None:
        spec.validate()
        from mltools.cli._replay import replay_argv

        drop = {"print_cron", "json_out", "yes"}
        argv = [*replay_argv(ctx, drop=drop, paths={"paths"}), "--yes"]
        typer.echo(cron_line(print_cron, argv))
        return
    problems: list[str] = []
    candidates = find_candidates(
        paths,
        spec,
        on_error=lambda p, e: problems.append(f"{safe_text(p)}: {e.strerror or e}"),
        one_file_system=not cross_mounts,
        allow_system_root=allow_system_root,
    )
    for line in problems:
        warn(f"cannot read {line}")
    kept: list = []
    if keep_newest is not None:
        from mltools.files.clean import keep_newest as spare

        candidates, kept = spare(candidates, keep_newest)
    total = sum(c.size_bytes for c in candidates)
    verb = "trash" if trash else "delete"

    def rows(items):
        import time

        now = time.time()
        return [
            (
                safe_text(c.path),
                c.type,
                human_bytes(c.size_bytes),
                _age(now - c.mtime),
                safe_text(c.reason),
            )
            for c in items
        ]

    def jsonable(items):
        return [
            {
                "path": valid_text(c.path),
                "type": c.type,
                "size_bytes": c.size_bytes,
                "files": c.files,
                "mtime": c.mtime,
                "reason": valid_text(c.reason),
            }
            for c in items
        ]

    if not json_out:
        print_table(
            [
                _PATH,
                Column("type", kind="fixed", priority=3),
                _num("size"),
                _num("age", priority=2),
                Column("matched", min_width=10, priority=1),
            ],
            rows(candidates),
        )
        info(
            f"{len(candidates)} entries, {human_bytes(total)}"
            + (f"; kept the {keep_newest} newest in each folder: {len(kept)}" if kept else "")
        )
    go = bool(candidates) and (
        yes or (not json_out and confirm(f"{verb.capitalize()} these {len(candidates)} entries?"))
    )
    if not go:
        if json_out:
            print_json(
                {
                    "dry_run": True,
                    "total_bytes": total,
                    "candidates": jsonable(candidates),
                    "kept": jsonable(kept),
                    "deleted": [],
                    "failed": [],
                }
            )
        elif candidates:
            hint(f"dry run: nothing was deleted; re-run with --yes to {verb} them")
        if problems:
            raise PartialFailureError("some paths could not be read", shown=True)
        return
    with progress(f"{verb}", total=len(candidates)) as bar:
        result = delete_candidates(
            candidates, paths, trash=trash, on_progress=lambda _c: bar.advance()
        )
    if json_out:
        print_json(
            {
                "dry_run": False,
                "total_bytes": total,
                "freed_bytes": result.freed_bytes,
                "candidates": jsonable(candidates),
                "kept": jsonable(kept),
                "deleted": jsonable(result.deleted),
                "failed": [{"path": valid_text(c.path), "error": err} for c, err in result.failed],
            }
        )
    else:
        done = "moved to the trash" if trash else "deleted"
        info(f"{done}: {len(result.deleted)} entries, {human_bytes(result.freed_bytes)}")
    for cand, err in result.failed:
        warn(f"could not {verb} {safe_text(cand.path)}: {err}")
    if result.failed or problems:
        raise PartialFailureError(
            f"{len(result.failed)} entries failed; {len(problems)} problems", shown=True
        )


# --- du -------------------------------------------------------------------------------------


def du(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Directories or files (default: .).")
    ] = None,
    top: Annotated[
        int, typer.Option("--top", "-n", min=1, help="How many directories/files to list.")
    ] = 10,
    depth: Annotated[
        int, typer.Option("--depth", "-d", min=1, help="List directories down to this depth.")
    ] = 1,
    files: Annotated[bool, typer.Option("--files", help="Also list the biggest files.")] = False,
    cross_mounts: Annotated[
        bool,
        typer.Option(
            "--cross-mounts", help="Descend into other filesystems mounted inside (du without -x)."
        ),
    ] = False,
    exclude: ExcludeOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Where did the disk go? Biggest directories and files, apparent and on-disk sizes, and df.

    Hard-linked files are counted once; symlinks are not followed; other filesystems
    are skipped unless --cross-mounts; --exclude leaves entries out (du --exclude).
    Replaces `du -hs`, `du -h -d1 | sort -h`, `ls -Shlr` and `df -h`.
    """
    from mltools.files.du import disk_usage, report_json

    with progress("measuring"):
        reports = disk_usage(
            paths or ["."],
            depth=depth,
            top=top,
            files=files,
            one_file_system=not cross_mounts,
            exclude=exclude or [],
        )
    if json_out:
        print_json({"paths": [report_json(r, files=files) for r in reports]})
    else:
        for i, r in enumerate(reports):
            if i:
                sys.stdout.write("\n")
            print_kv(
                [
                    ("path", safe_text(r.path)),
                    ("on disk", human_bytes(r.disk_bytes)),
                    ("apparent", human_bytes(r.apparent_bytes)),
                    (
                        "files",
                        f"{r.files} in {r.dirs} dirs"
                        + (
                            f" ({r.hardlinks_counted_once} hard links counted once)"
                            if r.hardlinks_counted_once
                            else ""
                        ),
                    ),
                    (
                        "filesystem",
                        f"{r.df.mount_point}: {human_bytes(r.df.total_bytes)} total, "
                        f"{human_bytes(r.df.used_bytes)} used ({r.df.used_percent}%), "
                        f"{human_bytes(r.df.free_bytes)} free",
                    ),
                ]
            )
            if r.biggest_dirs:
                print_table(
                    [
                        _num("on disk"),
                        _num("apparent", priority=1),
                        _num("files", priority=2),
                        Column("directory", kind="path"),
                    ],
                    [
                        (
                            human_bytes(e.disk_bytes),
                            human_bytes(e.apparent_bytes),
                            e.files,
                            safe_text(e.path),
                        )
                        for e in r.biggest_dirs
                    ],
                    title="biggest directories",
                )
            if files and r.biggest_files:
                print_table(
                    [_num("on disk"), _num("apparent", priority=1), Column("file", kind="path")],
                    [
                        (
                            human_bytes(e.disk_bytes),
                            human_bytes(e.apparent_bytes),
                            safe_text(e.path),
                        )
                        for e in r.biggest_files
                    ],
                    title="biggest files",
                )
    errors = [e for r in reports for e in r.errors]
    if errors:
        warn(f"{len(errors)} entries could not be read, e.g. {errors[0]}")
        raise PartialFailureError(f"{len(errors)} entries could not be read", shown=True)


# --- sync -----------------------------------------------------------------------------------


def _password(password_file: str | None, ask: bool) -> str | None:
    if password_file:
        from mltools._inputs import read_small

        # a regular file of at most 64 KiB: /dev/zero or a FIFO would never end
        data = read_small(password_file, max_bytes=65536, what="password file")
        value = data.decode("utf-8", "replace").partition("\n")[0].rstrip("\r")
        if os.stat(password_file).st_mode & 0o077:
            warn(f"{password_file} is readable by others; chmod 600 it")
        return value
    if os.environ.get("SSHPASS"):
        return os.environ["SSHPASS"]
    if ask:
        if not sys.stdin.isatty():  # piped: `pass show host | mltools sync --ask-password ...`
            return sys.stdin.readline(65536).rstrip("\r\n")  # bounded: stdin may be endless
        return typer.prompt("ssh password", hide_input=True, err=True)
    return None


def sync(
    src: Annotated[str, typer.Argument(help="Source: a local path or [user@]host:path.")],
    dst: Annotated[str, typer.Argument(help="Destination: a local path or [user@]host:path.")],
    rsync_args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Extra rsync arguments after --, e.g. -- --bwlimit=5M -z --checksum.",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="rsync exclude pattern (repeatable).")
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", help="rsync include pattern, applied before excludes (repeatable)."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="ssh port of the remote host.")] = None,
    identity: Annotated[
        str | None, typer.Option("--identity", "-i", help="ssh private key file.")
    ] = None,
    ssh_option: Annotated[
        list[str] | None,
        typer.Option(
            "--ssh-option", "-o", help="Extra ssh -o option, e.g. ConnectTimeout=5 (repeatable)."
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            min=1,
            max=3600,
            help="Seconds to wait for the remote host to answer (ssh ConnectTimeout).",
        ),
    ] = 10.0,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            help="Delete destination files missing from the source (previewed first unless --yes).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show what would change; change nothing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do deletions without the preview/confirmation.")
    ] = False,
    password_file: Annotated[
        str | None,
        typer.Option(
            "--password-file", help="Read the ssh password from the first line of this file."
        ),
    ] = None,
    ask_password: Annotated[
        bool,
        typer.Option(
            "--ask-password",
            help="Prompt for the ssh password (read from stdin when piped; SSHPASS wins when set).",
        ),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Copy a directory tree with rsync (-a, resumable), one progress bar and clear errors.

    A password for password-only hosts comes from --password-file, the SSHPASS variable
    or a prompt, and goes to ssh through sshpass and a pipe: never on a command line.
    Extra rsync flags go after `--`: `mltools sync src/ host:dst/ -- --bwlimit=5M -z`.
    A destination inside the source is refused. Replaces `rsync -avh --progress` and
    `rsync -e "sshpass -p PASS ssh -p PORT"`. Exit 6 on a partial transfer (rsync 23/24),
    1 when --delete was not confirmed (nothing changed).
    """
    from dataclasses import replace

    from mltools.files.sync import SyncOptions, is_remote
    from mltools.files.sync import sync as run_sync

    password = (
        _password(password_file, ask_password) if (is_remote(src) or is_remote(dst)) else None
    )
    options = SyncOptions(
        excludes=exclude or [],
        includes=include or [],
        delete=delete,
        dry_run=dry_run,
        port=port,
        identity=identity,
        ssh_options=ssh_option or [],
        connect_timeout=connect_timeout,
        extra_args=list(rsync_args or []),
    )
    if options.extra_args and not options.extra_args[0].startswith("-"):
        from mltools.errors import UsageError

        raise UsageError(
            f"unexpected argument {options.extra_args[0]!r}",
            hint="sync takes SRC and DST; extra rsync flags go after --, e.g. -- --bwlimit=5M",
        )
    if delete and not dry_run and not yes:
        preview = run_sync(src, dst, replace(options, dry_run=True), password=password)
        doomed = preview.deleted
        if doomed:
            if not json_out:
                print_table(
                    [Column("would delete", kind="path")], [(safe_text(p),) for p in doomed]
                )
            if not confirm(f"Delete these {len(doomed)} files from {dst}?"):
                hint("nothing was changed; re-run with --yes to sync and delete them")
                if json_out:
                    print_json(
                        {"source": src, "destination": dst, "dry_run": True, "would_delete": doomed}
                    )
                # the sync asked for did not happen: a script must not read that as success
                raise MltoolsError("the sync was declined", shown=True)
    with progress("syncing", total=100) as bar:

        def on_progress(p):
            bar.update(completed=p.percent)
            bar.describe(f"{human_bytes(p.bytes_done)} at {human_bytes(p.bytes_per_second)}/s")

        result = run_sync(src, dst, options, password=password, on_progress=on_progress)
    if json_out:
        print_json(
            {
                "source": src,
                "destination": dst,
                "dry_run": result.dry_run,
                "returncode": result.returncode,
                "stats": result.stats,
                "changes": [{"path": c.path, "change": c.change} for c in result.changes],
                "deleted": result.deleted,
            }
        )
    elif dry_run:
        print_table(
            [Column("change", kind="fixed"), _PATH],
            [(c.change, safe_text(c.path)) for c in result.changes],
        )
        hint("dry run: nothing was changed")
    else:
        n = result.stats.get("files_transferred", 0)
        size = human_bytes(result.stats.get("transferred_bytes", 0))
        info(
            f"synced {src} -> {dst}: {n} files ({size})"
            + (f", {len(result.deleted)} deleted" if result.deleted else "")
        )
    if result.used_password and result.remote_host:
        port_arg = f"-p {port} " if port else ""
        hint(f"skip the password next time: ssh-copy-id {port_arg}{result.remote_host}")


# --- kill -----------------------------------------------------------------------------------


def kill(
    pattern: Annotated[
        str, typer.Argument(help="Substring (or --regex) matched against full command lines.")
    ],
    regex: Annotated[
        bool, typer.Option("--regex", "-E", help="Treat PATTERN as a Python regular expression.")
    ] = False,
    signal: Annotated[
        str,
        typer.Option(
            "--signal", "-s", help="Signal to send first: TERM, INT, HUP, KILL, USR1 or a number."
        ),
    ] = "TERM",
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            help="Seconds to wait before SIGKILL for survivors of TERM/INT/HUP/QUIT.",
        ),
    ] = 5.0,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only processes of this user.")
    ] = None,
    tree: Annotated[
        bool,
        typer.Option(
            "--tree",
            help="Also every process below each match (a launcher's ranks and their "
            "DataLoader workers), listed in the preview (pkill has no such option).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Send the signals (default: preview only).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Stop processes by command line: preview, then SIGTERM, then SIGKILL after a grace period.

    Never matches itself, its parent shells or pid 1. Replaces
    `ps aux | grep "python train.py" | awk '{print $2}' | xargs kill -9`.
    Exit 4 when nothing matches, 6 when some could not be signalled.
    """
    from mltools.files.kill import (
        find_processes,
        kill_processes,
        parse_signal,
        with_descendants,
    )

    sig = parse_signal(signal)
    procs = find_processes(pattern, regex=regex, user=user)
    if tree:
        procs = with_descendants(procs)

    def as_json(p):
        return {
            "pid": p.pid,
            "user": p.user,
            "age_seconds": round(p.age_seconds, 1),
            "cmdline": p.cmdline,
            "parent": p.parent,
        }

    if not procs:
        if json_out:
            print_json({"matched": [], "dry_run": not yes})
        from mltools.errors import UnavailableError

        raise UnavailableError(
            f"no process matches {pattern!r}", hint="check with: ps -eo pid,user,args"
        )
    if not json_out:
        print_table(
            [
                _num("pid"),
                *([_num("parent", priority=3)] if tree else []),
                Column("user", min_width=8, priority=2),
                _num("age", priority=1),
                Column("command", min_width=20),
            ],
            [
                (
                    p.pid,
                    *([p.parent or "-"] if tree else []),
                    p.user,
                    _age(p.age_seconds),
                    safe_text(p.cmdline),
                )
                for p in procs
            ],
        )
    go = yes or (
        not json_out
        and confirm(f"Send SIG{sig.name.removeprefix('SIG')} to these {len(procs)} processes?")
    )
    if not go:
        if json_out:
            print_json({"matched": [as_json(p) for p in procs], "dry_run": True})
        else:
            hint(f"preview only: re-run with --yes to send {sig.name}")
        return
    result = kill_processes(procs, sig=sig, grace=grace, tree=tree)
    if json_out:
        print_json(
            {
                "matched": [as_json(p) for p in procs],
                "dry_run": False,
                "signal": sig.name,
                "terminated": result.terminated,
                "killed": result.killed,
                "signalled": result.signalled,
                "gone": result.gone,
                "failed": [{"pid": pid, "error": err} for pid, err in result.failed],
            }
        )
    else:
        parts = [
            f"{len(result.terminated)} ended after {sig.name}" if result.terminated else "",
            f"{len(result.killed)} needed SIGKILL" if result.killed else "",
            f"{len(result.signalled)} signalled" if result.signalled else "",
            f"{len(result.gone)} had already exited" if result.gone else "",
        ]
        info(", ".join(p for p in parts if p) or "nothing signalled")
    for pid, err in result.failed:
        warn(f"pid {pid}: {err}")
    if result.failed:
        raise PartialFailureError(f"{len(result.failed)} process(es) not stopped", shown=True)


def register(root: typer.Typer) -> None:
    """Add the file-chore commands to the root app."""
    root.command("filetype")(filetype)
    root.command("clean")(clean)
    root.command("du")(du)
    root.command("sync")(sync)
    root.command("kill")(kill)
