"""The plain (piped) table writer against the per-cell ljust/rjust loop it replaced."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.cli import _output
from mltools.cli._tables import Column
from mltools.terminal import safe_text


def reference(columns: list[Any], rows: list[list[Any]], justify: list[str] | None) -> str:
    """The loop ``print_table`` ran before (plain output), verbatim apart from names."""
    out = io.StringIO()
    rows = [[safe_text(c) for c in row] for row in rows]
    headers = [safe_text(c.header if isinstance(c, Column) else c) for c in columns]
    justify = _output._justify(columns, justify)
    widths = [len(c) for c in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    for row in [headers, *rows]:
        cells = [
            cell.rjust(w) if just == "right" else cell.ljust(w)
            for cell, w, just in zip(row, widths, justify)
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    return out.getvalue()


cells = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.floats(allow_nan=True))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(0, 4),
    rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=6),
    justify=st.lists(st.sampled_from(["left", "right"]), min_size=0, max_size=5),
    use_columns=st.booleans(),
)
def test_plain_table_text_is_the_old_loops(
    width: int,
    rows: list[list[Any]],
    justify: list[str],
    use_columns: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = [f"h{i}{'{x}' if i % 2 else ''}" for i in range(width)]
    columns: list[Any] = [Column(h, kind="fixed") for h in headers] if use_columns else headers
    given_justify = None if use_columns or not justify else (justify * 5)[:width]
    out = io.StringIO()
    with monkeypatch.context() as m:  # the same stubs for every generated input
        m.setattr(_output, "rich_stdout", lambda: False)
        m.setattr(sys, "stdout", out)
        _output.print_table(columns, rows, justify=given_justify)
    assert out.getvalue() == reference(columns, rows, given_justify)
