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
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from mltools.cli._tables import Column as Column
from mltools.cli._tables import renderable

# the policies live below the CLI (the TUI and the library use them too); the CLI imports
# them from here, its one module for output ("X as X": re-exported)
from mltools.jsonable import dumps, versioned
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
    """Write ``data`` (an object) as indented JSON to stdout, ``schema_version`` first (valid
    UTF-8 whatever file names it holds)."""
    sys.stdout.write(dumps(versioned(data)) + "\n")
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
    columns: Sequence[str | Column],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    justify: Sequence[str] | None = None,
) -> None:
    """Print a table: fitted to the terminal on a TTY, plain aligned columns when piped.

    ``columns`` are header strings or ``Column``s (kind, priority, minimum width: how
    the column gives way on a narrow terminal, see ``mltools.cli._tables``). ``justify``
    gives "left"/"right" per plain header (default: left).
    """
    rows = [list(map(safe_text, row)) for row in rows]
    if rich_stdout():
        stdout_console().print(_fitted(title, columns, rows, justify))
        return
    headers = [safe_text(c.header if isinstance(c, Column) else c) for c in columns]
    justify = _justify(columns, justify)
    if title:
        sys.stdout.write(safe_text(title) + "\n")
    # each column as wide as its widest cell; one format string pads a whole row
    # (ljust/rjust per cell took most of a 20,000-row table's time)
    widths = [max(map(len, column)) for column in zip(headers, *rows)]
    line = "  ".join(
        f"{{:{'>' if just == 'right' else '<'}{w}}}" for w, just in zip(widths, justify)
    ).format
    text = [line(*row[: len(widths)]).rstrip() for row in [headers, *rows]]
    sys.stdout.write("\n".join(text) + "\n")
    sys.stdout.flush()


def _justify(columns: Sequence[str | Column], justify: Sequence[str] | None) -> list[str]:
    """Each column's "left"/"right": its ``Column``'s, else ``justify``'s, else left."""
    given = list(justify or ["left"] * len(columns))
    return [c.justify if isinstance(c, Column) else j for c, j in zip(columns, given)]


def _fitted(
    title: str | None,
    columns: Sequence[str | Column],
    rows: list[list[str]],
    justify: Sequence[str] | None,
) -> Any:
    """The table fitted to stdout's terminal width (``_tables.renderable``), text escaped."""
    cols = [
        dataclasses.replace(c, header=safe_text(c.header))
        if isinstance(c, Column)
        else safe_text(c)
        for c in columns
    ]
    safe_title = None if title is None else safe_text(title)
    return renderable(safe_title, cols, rows, _justify(columns, justify), stdout_console().width)


@dataclass
class Section:
    """A titled table: what ``print_sections`` prints and ``watch`` redraws."""

    title: str | None
    columns: Sequence[str | Column]
    rows: list[Sequence[Any]]
    justify: Sequence[str] | None = None


def print_sections(sections: Iterable[Section]) -> None:
    """Print several tables one after the other, separated by a blank line."""
    for i, section in enumerate(sections):
        if i:
            sys.stdout.write("\n")
        print_table(section.columns, section.rows, title=section.title, justify=section.justify)


def rich_sections(sections: Iterable[Section]) -> Any:
    """The same tables as one rich renderable (for ``rich.live.Live``), fitted to the terminal."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = []
    for i, section in enumerate(sections):
        if i:
            parts.append(Text(""))
        rows = [[safe_text(c) for c in row] for row in section.rows]
        parts.append(_fitted(section.title, section.columns, rows, section.justify))
    return Group(*parts)


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
    """Write ``data`` as one line of JSON (JSON Lines: the ``--watch --json`` format), with
    ``schema_version`` like every document."""
    sys.stdout.write(dumps(versioned(data), indent=None) + "\n")
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
    # on a terminal a long value wraps between words under itself, never inside a word
    wrap = stdout_console().width - width - 2 if rich_stdout() else 0
    for key, value in pairs:
        lines = _wrap_words(value, wrap) if wrap > 0 else [value]
        sys.stdout.write(f"{key + ':':<{width + 1}} {lines[0]}\n")
        for line in lines[1:]:
            sys.stdout.write(f"{'':<{width + 1}} {line}\n")
    sys.stdout.flush()


def wrap_lines(lines: Iterable[str], width: int | None) -> list[str]:
    """Report lines for a terminal ``width`` wide (``None``: as they are, e.g. piped).

    A long line wraps between words, never inside one; its continuation lines start
    under its text, after a ``label: `` prefix (``  fix:   Read this rank's ...``).
    """
    out: list[str] = []
    for line in lines:
        line = safe_text(line)
        if width is None or len(line) <= width:
            out.append(line)
            continue
        label = re.match(r"\s*(?:[^:]{1,30}?:\s+)?", line)
        indent = len(label.group(0)) if label else 0
        if indent > width // 2:
            indent = len(line) - len(line.lstrip())
        head, body = line[:indent], line[indent:]
        wrapped = _wrap_words(body, width - indent)
        out.append(head + wrapped[0])
        out.extend(" " * indent + w for w in wrapped[1:])
    return out


def terminal_width(stream: Any) -> int | None:
    """The width of the terminal ``stream`` shows on, or ``None`` when it is not a rich TTY."""
    if stream is sys.stdout and rich_stdout():
        return stdout_console().width
    if stream is sys.stderr and rich_stderr():
        return stderr_console().width
    return None


def _wrap_words(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken between words only."""
    import textwrap

    return textwrap.wrap(
        text, width, break_long_words=False, break_on_hyphens=False, drop_whitespace=True
    ) or [""]


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
