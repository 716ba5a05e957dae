"""The one place that turns results into JSON, CSV, tables and stderr messages.

Conventions: stdout carries data only; hints, warnings and progress go to
stderr. Tables are rich tables on a TTY and plain aligned text when stdout is
piped. With ``NO_COLOR`` set or ``TERM=dumb`` nothing writes an escape code: no
colour, no bold, no progress bars, no redraw in place (plain text as when piped).

Every string that reaches the terminal goes through ``safe_text`` first (file
names, command lines, messages with paths in them): control characters are shown
as ``\\n``/``\\x1b``, and rich is only ever given ``Text`` objects, never markup,
so a file named ``[bold]x`` prints as ``[bold]x``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

# the policies live below the CLI (the TUI and the library use them too); the CLI imports
# them from here, its one module for output ("X as X": re-exported)
from mltools.jsonable import dumps
from mltools.jsonable import to_jsonable as to_jsonable
from mltools.jsonable import valid_text as valid_text
from mltools.terminal import color_enabled as color_enabled
from mltools.terminal import console
from mltools.terminal import plain_requested as plain_requested
from mltools.terminal import rich_stderr as rich_stderr
from mltools.terminal import rich_stdout as rich_stdout
from mltools.terminal import safe_text as safe_text
from mltools.terminal import stderr_is_tty as stderr_is_tty
from mltools.terminal import stdout_is_tty as stdout_is_tty
from mltools.units import human_bytes as human_bytes

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout (stable keys).")
]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")]


def rich_text(value: Any, style: str = "") -> Any:
    """A rich ``Text`` of ``safe_text(value)``: shown verbatim, never parsed as markup."""
    from rich.text import Text

    return Text(safe_text(value), style=style)


def markup_escape(value: Any) -> str:
    """``safe_text(value)`` escaped for a rich markup string (``[`` -> ``\\[``)."""
    from rich.markup import escape

    return escape(safe_text(value))


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (valid UTF-8 whatever file names it holds)."""
    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()


def print_csv(
    rows: Iterable[dict[str, Any]], fields: Sequence[str], *, header: bool = True
) -> None:
    """Write ``rows`` as CSV with the header ``fields`` (``header=False``: rows only) to stdout."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(fields), extrasaction="ignore")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in to_jsonable(row).items()})
    sys.stdout.flush()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    justify: Sequence[str] | None = None,
) -> None:
    """Print a table: rich on a TTY, plain aligned columns when piped.

    ``justify`` gives "left"/"right" per column (default: left).
    """
    rows = [[safe_text(c) for c in row] for row in rows]
    columns = [safe_text(c) for c in columns]
    justify = list(justify or ["left"] * len(columns))
    if rich_stdout():
        stdout_console().print(_rich_table(title, columns, rows, justify))
        return
    if title:
        sys.stdout.write(safe_text(title) + "\n")
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    for row in [list(columns), *rows]:
        cells = [
            cell.rjust(w) if just == "right" else cell.ljust(w)
            for cell, w, just in zip(row, widths, justify)
        ]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
    sys.stdout.flush()


@dataclass
class Section:
    """A titled table: what ``print_sections`` prints and ``watch`` redraws."""

    title: str | None
    columns: Sequence[str]
    rows: list[Sequence[Any]]
    justify: Sequence[str] | None = None


def print_sections(sections: Iterable[Section]) -> None:
    """Print several tables one after the other, separated by a blank line."""
    for i, section in enumerate(sections):
        if i:
            sys.stdout.write("\n")
        print_table(section.columns, section.rows, title=section.title, justify=section.justify)


def _rich_table(
    title: str | None, columns: Sequence[Any], rows: Iterable[Sequence[Any]], justify: Sequence[str]
) -> Any:
    """A rich Table whose title, headers and cells are all ``Text`` (no markup parsing)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=None if title is None else rich_text(title),
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for name, just in zip(columns, justify):
        table.add_column(rich_text(name), justify=just, overflow="fold")
    for row in rows:
        table.add_row(*(rich_text(c) for c in row))
    return table


def rich_sections(sections: Iterable[Section]) -> Any:
    """The same tables as one rich renderable (for ``rich.live.Live``)."""
    from rich.console import Group

    tables = []
    for section in sections:
        justify = list(section.justify or ["left"] * len(section.columns))
        tables.append(_rich_table(section.title, section.columns, section.rows, justify))
    return Group(*tables)


def watch_loop(frame: Callable[[bool], None], interval: float, *, at_start: bool = True) -> None:
    """The one refresh loop: ``frame(first)`` on every tick of ``ticks(interval)`` until Ctrl-C.

    The ticks are drift-free (a slow frame skips a tick, never bunches them).
    ``at_start=False`` skips the tick at time 0, for frames that report what happened
    since the previous tick. Ctrl-C ends the loop with exit 0, like top; SIGTERM/SIGHUP
    propagate (128+N).
    """
    from mltools.sampler import ticks

    try:
        first = True
        for k, _ in enumerate(ticks(interval)):
            if k == 0 and not at_start:
                continue
            frame(first)
            first = False
    except KeyboardInterrupt as exc:  # Ctrl-C ends a watch with 0, like top
        if getattr(exc, "signum", None):  # SIGTERM/SIGHUP: 128+N (mltools.errors.Interrupted)
            raise
        return


def print_json_line(data: Any) -> None:
    """Write ``data`` as one line of JSON (JSON Lines: the ``--watch --json`` format)."""
    sys.stdout.write(dumps(data, indent=None) + "\n")
    sys.stdout.flush()


def watch(render: Callable[[], list[Section]], interval: float, *, at_start: bool = True) -> None:
    """Redraw ``render()`` on every tick of ``watch_loop`` until Ctrl-C.

    On a TTY the screen is redrawn in place (rich Live); when piped, each frame is
    printed after the previous one.
    """
    if rich_stdout():
        from rich.live import Live

        with Live(console=stdout_console(), auto_refresh=False, screen=False) as live:
            watch_loop(
                lambda first: live.update(rich_sections(render()), refresh=True),
                interval,
                at_start=at_start,
            )
        return

    def frame(first: bool) -> None:
        print_sections(render())
        sys.stdout.write("\n")
        sys.stdout.flush()

    watch_loop(frame, interval, at_start=at_start)


def print_kv(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print ``key: value`` lines (a small report block), aligned."""
    pairs = [(safe_text(k), safe_text(v)) for k, v in pairs]
    if title:
        sys.stdout.write(safe_text(title) + "\n")
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        sys.stdout.write(f"{key + ':':<{width + 1}} {value}\n")
    sys.stdout.flush()


def stdout_console() -> Any:
    """A rich Console on stdout: no markup parsing; no escape codes with NO_COLOR/TERM=dumb."""
    return console(stderr=False)


def stderr_console() -> Any:
    """A rich Console on stderr for hints, warnings and progress."""
    return console(stderr=True)


def _err(prefix: str, message: str) -> None:
    sys.stderr.write(f"{prefix}{safe_text(message)}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    """A warning on stderr."""
    _err("warning: ", message)


def hint(message: str) -> None:
    """A hint (what to do next) on stderr."""
    _err("hint: ", message)


def info(message: str) -> None:
    """A status line on stderr."""
    _err("", message)


class _NullProgress:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        pass

    def describe(self, description: str) -> None:
        pass


class _RichProgress(_NullProgress):
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        self._progress.update(self._task, completed=completed, total=total)

    def describe(self, description: str) -> None:
        self._progress.update(self._task, description=safe_text(description))


@contextmanager
def progress(
    description: str, total: float | None = None, *, enabled: bool = True
) -> Iterator[_NullProgress]:
    """A transient rich progress bar on stderr; a no-op when stderr is not a TTY (or plain)."""
    if not (enabled and rich_stderr()):
        yield _NullProgress()
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(safe_text(description), total=total)
        yield _RichProgress(bar, task)


def confirm(question: str) -> bool:
    """Ask yes/no on a TTY; without a TTY on stdin, the answer is no."""
    if not sys.stdin.isatty():
        return False
    return typer.confirm(safe_text(question), default=False, err=True)
