"""`mltools apply`: run a Python function over a CSV/Parquet/JSONL table on every core."""

from __future__ import annotations

import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from mltools.cli._output import JsonFlag, confirm, info, print_json


class Backend(str, Enum):
    auto = "auto"
    serial = "serial"
    fork = "fork"
    loky = "loky"
    pandarallel = "pandarallel"
    dask = "dask"


def register(root: typer.Typer) -> None:
    """Add the `apply` command to the root app."""
    root.command("apply")(apply_command)


def apply_command(
    input: Annotated[
        Path,
        typer.Argument(
            help="Table to read: .csv, .tsv, .parquet/.pq or .jsonl/.ndjson (text may end in .gz), "
            "or - for standard input (see --format). A name starting with '-' goes after `--`.",
            metavar="INPUT",
            show_default=False,
            readable=False,  # opened by the reader: a denied read is exit 1, not a usage error
        ),
    ],
    func: Annotated[
        str,
        typer.Option(
            "--func",
            "-f",
            help="The function: module:function (importable or in the current directory) "
            "or path/to/file.py:function.",
            show_default=False,
        ),
    ],
    column: Annotated[
        str | None,
        typer.Option(
            "--column",
            "-c",
            help="Call the function on each value of this column (Series.map); "
            "the result replaces the column unless --into names another.",
        ),
    ] = None,
    axis: Annotated[
        int | None,
        typer.Option(
            "--axis",
            help="1: call the function on each row (a pandas Series, like df.apply(f, axis=1)); "
            "the result goes to --into (default 'result'), or to several columns if it "
            "returns a Series.",
        ),
    ] = None,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="The input's format: csv, tsv, jsonl or parquet (default: from the extension; "
            "csv for -); without --out, also the format written to stdout (default csv).",
            show_default=False,
        ),
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", help="Name of the column that receives the result."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the table here (format by extension, written atomically). "
            "Default: stdout, as CSV or in the --format given (parquet: into a pipe).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Worker processes (default: usable CPUs)."),
    ] = None,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            "-b",
            help="auto (fork, or serial for small tables), serial, fork (processes forked for "
            "the call), loky (joblib processes), pandarallel (where it works with your pandas) "
            "or dask (needs --scheduler).",
        ),
    ] = Backend.auto,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
    ] = None,
    chunksize: Annotated[
        int | None,
        typer.Option("--chunksize", min=1, help="Rows per task (default: 4 tasks per worker)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Overwrite --out if it exists.")] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar on stderr.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Apply a Python function to every row, or every value of a column, of a table.

    Uses every core (worker processes) and gives exactly what pandas'
    `df.apply(f, axis=1)` / `df[col].map(f)` gives. The progress bar goes to
    stderr. Without --out the table goes to stdout as CSV, or in the --format
    given (Parquet only into a pipe); with --out it is written atomically, in the
    format its extension names. INPUT - reads standard input.

    Example: mltools apply data.parquet --func feats.py:score --axis 1 --into score -o out.parquet
    Example: zcat rows.jsonl.gz | mltools apply - --format jsonl -f m:f -c text | head
    """
    from mltools.errors import UsageError
    from mltools.frame import io
    from mltools.frame.backends import default_workers

    if (column is None) == (axis is None):
        raise UsageError(
            "give exactly one of --column COL or --axis 1",
            hint="--column maps one column's values; --axis 1 passes whole rows",
        )
    if axis is not None and axis != 1:
        raise UsageError(
            f"--axis must be 1 (one call per row), not {axis}",
            hint="use --column COL to call the function on one column's values",
        )
    if json_ and out is None:
        raise UsageError("--json needs --out (stdout carries the table otherwise)")
    from_stdin = os.fspath(input) == io.STDIN
    fmt = io.check_format(format_) if format_ is not None else None
    out_fmt = fmt or "csv"
    if not from_stdin and fmt is None:
        io.table_format(input)  # an unknown extension is a usage error before any work
    if out is None and out_fmt == "parquet" and sys.stdout.isatty():
        raise UsageError(
            "Parquet is binary: it goes to a file or a pipe, not to a terminal",
            hint="add -o result.parquet, or pipe it: ... | python read.py",
        )
    if out is not None:
        from mltools._outputs import check_output
        from mltools.errors import OutputExistsError

        io.table_format(out)
        if check_output(out, overwrite=True) is not None and not yes:  # refuses devices
            if not confirm(f"overwrite {out}?"):
                raise OutputExistsError(
                    f"output {out} exists; not overwriting it", hint="pass --yes to replace it"
                )
            yes = True
    function = io.load_function(func)
    start = time.perf_counter()
    df = io.read_table(input, fmt=fmt)
    written, used = _apply(
        df,
        function,
        column,
        into,
        workers,
        backend.value,
        scheduler,
        chunksize,
        progress=not no_progress,
    )
    if out is None:
        sys.stdout.flush()
        io.write_stream(df, sys.stdout.buffer, out_fmt)
        return
    io.write_table(df, out, overwrite=yes)
    duration = time.perf_counter() - start
    if json_:
        print_json(
            {
                "input": os.fspath(input),
                "format": out_fmt,
                "output": os.fspath(out),
                "rows": len(df),
                "columns_written": written,
                "backend": used,
                "workers": 1 if used == "serial" else (workers or default_workers()),
                "duration_seconds": round(duration, 3),
            }
        )
    else:
        info(
            f"wrote {len(df)} rows to {out} ({', '.join(map(str, written))}; {used}; "
            f"{duration:.1f} s)"
        )


def _apply(
    df: Any,
    function: Any,
    column: str | None,
    into: str | None,
    workers: int | None,
    backend: str,
    scheduler: str | None,
    chunksize: int | None,
    *,
    progress: bool,
) -> tuple[list[Any], str]:
    """Run the function into ``df`` (in place); return the columns written and the backend used."""
    from mltools.errors import UsageError
    from mltools.frame import Parallel, apply_to_frame

    try:
        options = Parallel(
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            chunksize=chunksize,
            progress=progress,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        return apply_to_frame(df, function, column=column, into=into, parallel=options)
    except Exception as exc:
        _raise_function_error(exc, function)


def _raise_function_error(exc: Exception, function: Any) -> NoReturn:
    """Turn the user's function's exception into a one-line error (the library's own pass)."""
    from mltools.cli._errors import debug_enabled
    from mltools.errors import MltoolsError, first_line
    from mltools.frame import FunctionError, failure_location

    where = failure_location(exc)
    if isinstance(exc, MltoolsError) or where is None or debug_enabled():
        raise exc
    name = getattr(function, "__name__", "the function")
    message = first_line(exc) if str(exc).strip() else ""
    raise FunctionError(
        f"{name} raised {type(exc).__name__}{': ' + message if message else ''} (at {where})",
        hint="fix the function or that input; MLTOOLS_DEBUG=1 shows the traceback",
    ) from exc
