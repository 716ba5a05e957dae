"""The output layer: JSON conversion, plain tables, CSV and byte formatting."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from pathlib import Path

import pytest

from mltools.cli import _output


@dataclasses.dataclass
class Row:
    name: str
    size_bytes: int
    path: Path


class Color(enum.Enum):
    RED = "red"


def test_to_jsonable_handles_dataclasses_paths_enums_nan_sets() -> None:
    value = {
        "row": Row("a", 3, Path("/x")),
        "color": Color.RED,
        "nan": math.nan,
        "ids": {3, 1, 2},
        "raw": b"\xffok",
    }
    assert _output.to_jsonable(value) == {
        "row": {"name": "a", "size_bytes": 3, "path": "/x"},
        "color": "red",
        "nan": None,
        "ids": [1, 2, 3],
        "raw": "\\xffok",
    }


def test_print_json_is_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_json([Row("é", 1, Path("p"))])
    assert json.loads(capsys.readouterr().out) == [{"name": "é", "size_bytes": 1, "path": "p"}]


def test_plain_table_aligns_columns(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_table(
        ["name", "size"], [["a", 1], ["long-name", 12345]], justify=["left", "right"]
    )
    assert capsys.readouterr().out.splitlines() == [
        "name        size",
        "a              1",
        "long-name  12345",
    ]


def test_csv_quotes_and_serialises_lists(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_csv([{"a": "x,y", "b": [1, 2], "c": None}], ["a", "b", "c"])
    assert capsys.readouterr().out.splitlines() == ["a,b,c", '"x,y","[1, 2]",']


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB"), (None, "n/a")],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert _output.human_bytes(n) == text


def test_messages_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _output.warn("careful")
    _output.hint("do this")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "warning: careful\nhint: do this\n"


def test_confirm_without_tty_is_no(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert _output.confirm("delete?") is False


def test_progress_without_tty_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with _output.progress("work", total=3) as bar:
        bar.advance()
        bar.update(completed=3)
    assert capsys.readouterr() == ("", "")
