"""The indented JSON writer gives ``json.dumps``'s own text (differential, on generated values)."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mltools import jsonable


@dataclasses.dataclass
class Row:
    name: str
    shape: list[int]
    extra: Any = None


@dataclasses.dataclass
class Empty:
    pass


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def reference(data: Any, indent: int | None) -> str:
    """What ``dumps`` wrote before the indented writer: ``json.dumps`` with the converter."""
    return jsonable._dumps(data, indent)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # surrogates included: the undecodable-bytes path
    st.sampled_from([Color.RED, Level.HIGH, Path("/a/b"), b"\xffraw", 1.5, "é", '\x00\n"\\']),
)
keys = st.one_of(st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none(), st.floats())


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=5),
        st.dictionaries(st.text(max_size=6), children, max_size=5),
        st.builds(Row, st.text(max_size=5), st.lists(st.integers(0, 9), max_size=4), children),
        st.just(Empty()),
        st.lists(  # rows of one dataclass: the unrolled writer
            st.builds(
                Row, st.text(max_size=5), st.lists(st.integers(-5, 2**65), max_size=4), children
            ),
            min_size=1,
            max_size=4,
        ),
        st.frozensets(st.integers(0, 5), max_size=3),
    )


values = st.recursive(scalars, containers, max_leaves=40)


@settings(max_examples=600, deadline=None)
@given(values, st.sampled_from([2, 0, 4, None]))
def test_writer_text_equals_json_dumps(data: Any, indent: int | None) -> None:
    assert jsonable.dumps(data, indent=indent) == reference(data, indent)


def test_writer_takes_the_fast_way_on_plain_reports() -> None:
    """Rows of dataclasses with int lists: written without the general encoder, same text."""
    rows = [
        Row(f"layers.{i}.weight", [4, i], {"lr": 0.1, "ok": True, "n": None}) for i in range(50)
    ]
    doc = {
        "schema_version": 1,
        "tensors": rows,
        "totals": {"bytes": 7, "by": {}},
        "e": [],
        "dicts": [{"a": 1}, {"b": [1, 2]}],
        "mixed": [Row("x", [], None), Empty(), Row("y", [1], [Row("z", [2], 0.5)])],
        "empties": [Empty(), Empty()],
    }
    text = jsonable._Indented("  ").value(doc, 0)
    assert text == reference(doc, 2)
    assert json.loads(text)["tensors"][3] == {
        "name": "layers.3.weight",
        "shape": [4, 3],
        "extra": {"lr": 0.1, "ok": True, "n": None},
    }


def test_unusual_values_go_the_general_way() -> None:
    """NaN, enums, paths, non-str keys and undecodable names keep the converter's text."""
    for doc in (
        {"x": math.nan},
        {"c": Color.RED},
        {"p": Path("/tmp")},
        {1: "a", None: "b"},
        {True: "b", 2.5: "c"},
        {"name": "bad\udcffname"},
        {"lvl": Level.HIGH},
    ):
        assert jsonable.dumps(doc) == reference(doc, 2)
    assert jsonable.dumps({"x": math.inf}) == '{\n  "x": null\n}'
    assert jsonable.dumps({"name": "bad\udcffname"}) == '{\n  "name": "bad\\\\xffname"\n}'
