"""How a table fits the terminal: one policy for every command, declared once per column.

On a TTY a table gets exactly the terminal's width, as nvidia-smi and gpustat do:
text columns are abbreviated with an ellipsis (a path keeps its end: ``…/run/last.ckpt``),
then the least useful columns are hidden, and a note under the table names them. A word,
a number or a path is never split across lines: numbers and short words (``fixed``)
never shrink; only ``prose`` cells (messages, fixes) wrap, and only between words.
When stdout is piped nothing is abbreviated (scripts get every cell whole).

A command declares each column's kind, priority and minimum width with ``Column``;
plain strings are never hidden: ``fixed`` when right-aligned (numbers), else ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ELLIPSIS = "…"
GAP = 2  # spaces between two columns

Kind = Literal["fixed", "text", "path", "prose"]
# a piece of a number: digits and their punctuation (cut there, a number would lie)
_NUMBER_PIECE = re.compile(r"[\d.,:/%+-]*\d[\d.,:/%+-]*")
# the narrowest a shrinkable column gets unless its Column says otherwise
_DEFAULT_MIN = {"text": 8, "path": 16, "prose": 16}


@dataclass(frozen=True)
class Column:
    """One column of a table and how it gives way on a narrow terminal.

    ``kind``: ``fixed`` never shrinks (numbers, sizes, states, ids); ``text`` is cut at
    its end with an ellipsis (names, command lines); ``path`` is cut at its start so the
    file name stays visible; ``prose`` wraps between words (messages, fixes).
    ``priority``: 0 is always shown; a higher number is hidden earlier.
    ``short``: the header to show when the column is narrower than ``header``.
    """

    header: str
    justify: Literal["left", "right"] = "left"
    kind: Kind = "text"
    priority: int = 0
    min_width: int | None = None
    short: str | None = None


def as_column(column: str | Column, justify: str = "left") -> Column:
    """A ``Column`` for a plain header string, never hidden: a right-aligned one holds
    numbers (``fixed``: never cut), a left-aligned one text (cut with an ellipsis)."""
    if isinstance(column, Column):
        return column
    if justify == "right":
        return Column(column, justify="right", kind="fixed")
    return Column(column)


@dataclass
class Layout:
    """Which columns are shown, how wide each is and under which header."""

    kept: list[int]
    widths: list[int]
    headers: list[str]
    hidden: list[str]


def _longest_word(cells: Sequence[str]) -> int:
    return max((len(w) for c in cells for w in c.split()), default=0)


def _minimum(column: Column, cells: Sequence[str], natural: int) -> int:
    header = len(column.short or column.header)
    if column.kind == "fixed":  # its cells whole; only a long header gives way to ``short``
        return max([header, *(len(c) for c in cells)])
    floor = column.min_width if column.min_width is not None else _DEFAULT_MIN[column.kind]
    if column.kind == "prose":  # a whole word per line when it can
        floor = max(floor, min(_longest_word(cells), 2 * floor))
    return min(natural, max(header, floor))


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Layout:
    """Choose the shown columns and their widths so that a row is at most ``width`` wide.

    Columns first shrink (least useful first) down to their minimum; when the minimums
    do not fit, the column with the highest ``priority`` number is hidden and the rest
    get the room back. Priority 0 columns are never hidden.
    """
    n = len(columns)
    cells = [[row[i] for row in rows] for i in range(n)]
    natural = [max([len(columns[i].header), *(len(c) for c in cells[i])]) for i in range(n)]
    minimum = [_minimum(columns[i], cells[i], natural[i]) for i in range(n)]
    kept = list(range(n))
    # hidden first: the highest priority number, then the rightmost
    droppable = sorted((i for i in range(n) if columns[i].priority > 0),
                       key=lambda i: (-columns[i].priority, -i))  # fmt: skip

    def room(keep: list[int]) -> int:
        return width - GAP * max(len(keep) - 1, 0)

    while droppable and sum(minimum[i] for i in kept) > room(kept):
        kept.remove(droppable.pop(0))
    widths = {i: natural[i] for i in kept}
    excess = sum(widths.values()) - room(kept)
    # shrink the least useful first (highest priority number); within one priority the
    # widest column gives a character at a time, so two prose columns end up sharing
    for level in sorted({columns[i].priority for i in kept}, reverse=True):
        while excess > 0:
            can = [i for i in kept if columns[i].priority == level and widths[i] > minimum[i]]
            if not can:
                break
            widest = max(can, key=lambda i: (widths[i], i))
            widths[widest] -= 1
            excess -= 1
    # still too wide (a terminal narrower than the essential columns): squeeze what can be
    for i in sorted(kept, key=lambda i: -widths[i]):
        if excess <= 0 or columns[i].kind == "fixed":
            continue
        give = min(excess, widths[i] - 1)
        widths[i] -= give
        excess -= give
    headers = [
        columns[i].header
        if widths[i] >= len(columns[i].header) or not columns[i].short
        else columns[i].short
        for i in kept
    ]
    return Layout(
        kept=kept,
        widths=[widths[i] for i in kept],
        headers=[shorten(h, w, "text") for h, w in zip(headers, (widths[i] for i in kept))],
        hidden=[columns[i].header for i in range(n) if i not in kept],
    )


def shorten(text: str, width: int, kind: Kind) -> str:
    """``text`` in at most ``width`` characters: cut at the end, or at the start for a path.

    ``prose`` keeps its length (it wraps) but any single word longer than ``width`` is cut.
    """
    if kind == "prose":
        words = text.split(" ")
        if all(len(w) <= width for w in words):
            return text
        return " ".join(shorten(w, width, "path" if "/" in w else "text") for w in words)
    if len(text) <= width or kind == "fixed":
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if kind == "path":
        return ELLIPSIS + text[len(text) - width + 1 :]
    head = text[: width - 1]
    space = head.rfind(" ")
    cut_word = head[space + 1 :] if text[width - 1] != " " else ""
    # end at a word boundary when that keeps half the room, or when the cut word is a number
    if space > 0 and (space >= width // 2 or _NUMBER_PIECE.fullmatch(cut_word)):
        head = head[:space]
    elif _NUMBER_PIECE.fullmatch(cut_word):
        head = ""
    return head.rstrip() + ELLIPSIS


def renderable(
    title: str | None,
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[str]],
    justify: Sequence[str],
    width: int,
) -> Any:
    """The table (title, rows, a note naming hidden columns) fitted to ``width``, for rich."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cols = [as_column(c, j) for c, j in zip(columns, justify)]
    layout = fit(cols, rows, width)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        collapse_padding=True,
    )
    for i, w, header in zip(layout.kept, layout.widths, layout.headers):
        c = cols[i]
        table.add_column(
            Text(header, style="bold"),
            justify=c.justify,
            width=w,
            min_width=w,
            max_width=w,
            no_wrap=c.kind != "prose",
            overflow="fold" if c.kind == "prose" else "ellipsis",
        )
    for row in rows:
        table.add_row(
            *(Text(shorten(row[i], w, cols[i].kind)) for i, w in zip(layout.kept, layout.widths))
        )
    parts: list[Any] = []
    if title is not None:
        parts.append(Text(title, no_wrap=True, overflow="ellipsis"))
    parts.append(table)
    if layout.hidden:
        note = f"{len(layout.hidden)} hidden to fit {width} columns: {', '.join(layout.hidden)} (--json has all)"
        parts.append(Text(note, style="dim", no_wrap=True, overflow="ellipsis"))
    return Group(*parts)
