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
    _output.print_json({"rows": [Row("é", 1, Path("p"))]})
    assert json.loads(capsys.readouterr().out) == {
        "schema_version": 1,
        "rows": [{"name": "é", "size_bytes": 1, "path": "p"}],
    }


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


# --- every --json document is an object whose first key is schema_version --------------------


def _json_commands(tmp_path):
    """A --json run of every command that can run here without a GPU, torch job or network."""
    import torch

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("hello\n")
    (tmp_path / "d" / "x.tmp").write_text("junk\n")
    torch.save({"w": torch.zeros(2)}, tmp_path / "m.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "n.pt")
    log = tmp_path / "job.log"
    log.write_text("[rank1]: torch.OutOfMemoryError: CUDA out of memory.\n")
    d, m, n = str(tmp_path / "d"), str(tmp_path / "m.pt"), str(tmp_path / "n.pt")
    return [
        ("cpu", "--json", "--interval", "0.1"),
        ("du", d, "--json"),
        ("filetype", d, "--json"),
        ("filetype", d, "--summary", "--json"),
        ("clean", d, "--name", "*.tmp", "--json"),
        ("kill", "no-such-process-pattern-xyz", "--json"),
        ("ckpt", "inspect", m, "--json"),
        ("ckpt", "scan", m, "--json"),
        ("ckpt", "diff", m, n, "--json"),
        ("ddp-doctor", "log", str(log), "--json"),
        ("ddp-doctor", "env", "--list", "--json"),
        ("ddp-doctor", "check", "--json"),
        ("gpu", "--json"),  # no driver here: the documented empty document
    ]


def test_every_json_document_starts_with_schema_version(cli, tmp_path):
    """Only `gpu --json` had a schema_version; scripts need one to tell shapes apart."""
    for args in _json_commands(tmp_path):
        result = cli(*args)
        doc = json.loads(result.stdout)
        assert isinstance(doc, dict), args
        assert next(iter(doc)) == "schema_version", args
        assert isinstance(doc["schema_version"], int), args


def test_print_json_refuses_a_bare_list():
    from mltools.jsonable import versioned

    assert versioned({"a": 1}) == {"schema_version": 1, "a": 1}
    assert versioned({"schema_version": 3, "a": 1}) == {"schema_version": 3, "a": 1}
    moved = versioned({"a": 1, "schema_version": 3})
    assert list(moved) == ["schema_version", "a"] and moved["schema_version"] == 3
    with pytest.raises(TypeError, match="not list"):
        versioned([1, 2])
