"""The one conversion of results to JSON: dataclasses, paths, enums, dates, sets, NaN, bytes.

Every ``--json`` document and every ``--watch --json`` line is made here, so a field
looks the same in all of them: numbers stay numbers, NaN/inf become ``null``, and a file
name with undecodable bytes becomes valid UTF-8 with ``\\xNN`` escapes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
import operator
import os
from json.encoder import encode_basestring
from pathlib import PurePath
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, paths, enums, datetimes, sets and NaN to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "backslashreplace")
    return obj


#: the version of every ``--json`` document's shape that has no version of its own (the GPU
#: snapshot and the run recorder's files carry theirs); raised when a shape changes
SCHEMA_VERSION = 1


def versioned(data: Any) -> dict[str, Any]:
    """``data`` (a mapping or a dataclass) as a document whose first key is ``schema_version``.

    Scripts key on it to tell shapes apart, so every ``--json`` document and every
    ``--watch --json`` line carries one; a document that has its own is left as it is. A
    list is refused: a bare JSON array has no place for the version (name the list in an
    object instead).
    """
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    if not isinstance(data, dict):
        raise TypeError(f"a --json document is an object, not {type(data).__name__}")
    if next(iter(data), None) == "schema_version":
        return data
    # first, whatever the document's own version is (the GPU snapshot carries its own)
    return {"schema_version": data.get("schema_version", SCHEMA_VERSION), **data}


def valid_text(path: str) -> str:
    """A path (or any str from the OS) as valid text: undecodable bytes become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _valid(value: Any) -> Any:
    """Every string in ``value`` made valid UTF-8 (``\\xNN`` for undecodable bytes)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {_valid(k): _valid(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid(v) for v in value]
    return value


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON text (``indent=None``: one line), valid UTF-8 whatever it holds.

    Plain JSON values are dumped as they are (no per-value conversion walk: 20,000
    filetype rows took 1.2 s that way); anything else goes through :func:`to_jsonable`,
    and the whole document does when NaN/inf or undecodable file-name bytes are in it.
    Indented documents of plain values and dataclasses are written by ``_Indented``
    (CPython's encoder has no C path for ``indent``); its text is ``json.dumps``'s own.
    """
    if indent is not None:
        try:
            text = _Indented(" " * indent).value(data, 0)
            text.encode("utf-8")
            return text
        except (_Unusual, RecursionError, UnicodeEncodeError):
            pass  # a value only the converter knows how to write: the general way
    return _dumps(data, indent)


def _dumps(data: Any, indent: int | None) -> str:
    """``json.dumps`` with :func:`to_jsonable` for whatever it cannot take."""
    try:
        text = json.dumps(
            data, indent=indent, ensure_ascii=False, allow_nan=False, default=to_jsonable
        )
    except (ValueError, TypeError):  # NaN/inf, a key json cannot take: the converter's way
        text = json.dumps(to_jsonable(data), indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a name with undecodable bytes: escape them as \xNN
        text = json.dumps(_valid(to_jsonable(data)), indent=indent, ensure_ascii=False)
    return text


class _Unusual(Exception):
    """A value the indented writer leaves to ``json.dumps`` and :func:`to_jsonable`."""


_STR = encode_basestring  # the C function where CPython has it
_INT = int.__repr__
_FLOAT = float.__repr__
_INTS = {int}
_STRS = {str}
_NONE = type(None)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _record_names(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass (cached), ``None`` for any other type."""
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(kind):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _field_names(kind: type) -> tuple[str, ...]:
    names = _record_names(kind)
    if names is None:
        raise _Unusual
    return names


class _Indented:
    """``json.dumps(data, indent=..., ensure_ascii=False)``'s text, built with joins.

    It takes dicts with str keys, lists, tuples, str, int, bool, None, finite floats and
    dataclasses (written as :func:`to_jsonable` writes them); anything else (an enum, a
    path, NaN, an int subclass ...) raises ``_Unusual`` and the caller starts over the
    general way, so the text is always the one ``json.dumps`` gives. Runs of ints or
    strings are joined by C functions: this is several times the pure-Python encoder's
    speed on a 20,000-row report.
    """

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.breaks: list[str] = ["\n"]
        self.keys: dict[str, str] = {}  # key -> its text and ": "

    def newline(self, level: int) -> str:
        breaks = self.breaks
        while len(breaks) <= level:
            breaks.append(breaks[-1] + self.unit)
        return breaks[level]

    def value(self, obj: Any, level: int) -> str:
        kind = type(obj)
        if kind is str:
            return _STR(obj)
        if kind is int:
            return _INT(obj)
        if kind is dict:
            return self.mapping(obj.items(), level) if obj else "{}"
        if kind is list or kind is tuple:
            return self.sequence(obj, level)
        if kind is bool:
            return "true" if obj else "false"
        if obj is None:
            return "null"
        if kind is float:
            if not math.isfinite(obj):
                raise _Unusual  # NaN/inf: null, the converter's way
            return _FLOAT(obj)
        names = _field_names(kind)
        if not names:
            return "{}"
        return self.mapping([(name, getattr(obj, name)) for name in names], level)

    def sequence(self, items: Any, level: int) -> str:
        if not items:
            return "[]"
        inner = self.newline(level + 1)
        kinds = set(map(type, items))
        if kinds == _INTS:
            body = ("," + inner).join(map(_INT, items))
        elif kinds == _STRS:
            body = ("," + inner).join(map(_STR, items))
        elif len(kinds) == 1 and (names := _record_names(kinds.pop())):  # rows of a dataclass
            body = ("," + inner).join(self.records(items, names, level + 1))
        else:
            value = self.value
            level += 1
            body = ("," + inner).join([value(v, level) for v in items])
            level -= 1
        return "[" + inner + body + self.breaks[level] + "]"

    def records(self, items: Any, names: tuple[str, ...], level: int) -> list[str]:
        """Dataclass instances of one class at ``level``: ``mapping`` of each, unrolled
        (fields fetched by one ``attrgetter``, int lists joined in place)."""
        inner = self.newline(level + 1)
        deeper = self.newline(level + 2)
        close, list_close = self.breaks[level], self.breaks[level + 1]
        sep, list_sep = "," + inner, "," + deeper
        heads = [_STR(name) + ": " for name in names]
        fetch = operator.attrgetter(*names) if len(names) > 1 else lambda o: (getattr(o, names[0]),)
        value = self.value
        rows = []
        for values in map(fetch, items):
            parts = []
            for head, item in zip(heads, values):
                kind = type(item)
                if kind is str:
                    parts.append(head + _STR(item))
                elif kind is int:
                    parts.append(head + _INT(item))
                elif kind is list and item and set(map(type, item)) == _INTS:
                    parts.append(
                        head + "[" + deeper + list_sep.join(map(_INT, item)) + list_close + "]"
                    )
                else:
                    parts.append(head + value(item, level + 1))
            rows.append("{" + inner + sep.join(parts) + close + "}")
        return rows

    def mapping(self, pairs: Any, level: int) -> str:
        inner = self.newline(level + 1)
        keys = self.keys
        parts = []
        add = parts.append
        for key, item in pairs:
            head = keys.get(key)
            if head is None:
                if type(key) is not str:
                    raise _Unusual
                head = keys[key] = _STR(key) + ": "
            kind = type(item)
            if kind is str:
                add(head + _STR(item))
            elif kind is int:
                add(head + _INT(item))
            else:
                add(head + self.value(item, level + 1))
        return "{" + inner + ("," + inner).join(parts) + self.breaks[level] + "}"
