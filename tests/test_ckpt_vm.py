"""The pickle VM against CPython's own unpickler, opcode by opcode, protocols 0 to 5.

Pure-data pickles (no globals, or only the real pure-data ones the VM hands back: OrderedDict,
Counter, set, frozenset, complex, bytearray, slice) must give the same object as
``pickle.loads``; truncated or broken ones must fail in both. A table maps every opcode of
``pickletools`` to a test pickle, so a new opcode fails the test until it is covered.
"""

from __future__ import annotations

import collections
import pickle
import pickletools

import pytest

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.pickle_vm import OPNAMES
from mltools.ckpt.unpickler import symbolic_load

VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    255,
    256,
    65535,
    65536,
    -(2**31),
    2**31 - 1,
    2**31,
    2**64 + 7,
    -(2**200),
    0.0,
    -1.5,
    float("inf"),
    1e308,
    "",
    "a",
    "é\u20ac\U0001f600",
    "x" * 300,
    "line\nbreak",
    b"",
    b"\x00\xff" * 200,
    bytearray(b"abc"),
    (),
    (1,),
    (1, 2),
    (1, 2, 3),
    (1, 2, 3, 4),
    [],
    [1, [2, [3]]],
    {},
    {"a": 1, 2: "b", (1, 2): [3]},
    set(),
    {1, 2, 3},
    frozenset(),
    frozenset({"a", "b"}),
    complex(1, -2),
    collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.Counter("hello"),
    slice(1, 10, 2),
    list(range(2000)),
    {i: str(i) for i in range(1500)},
]


def _shared() -> list:
    inner = [1, 2]
    outer = [inner, inner, (inner,)]
    outer.append(outer)  # a cycle
    return outer


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, list) and a and a[-1] is a:  # the cycle
        return isinstance(b, list) and b[-1] is b and _same(a[:-1], b[:-1]) and b[0] is b[1]
    return a == b


@pytest.mark.parametrize("protocol", range(6))
def test_vm_matches_real_pickle(protocol):
    mismatches = []
    for value in [*VALUES, _shared()]:
        data = pickle.dumps(value, protocol=protocol)
        got, _ = symbolic_load(data)
        want = pickle.loads(data)
        if not _same(got, want):
            mismatches.append((protocol, repr(value)[:60], repr(got)[:60]))
    assert mismatches == []


# a hand-made pickle for each opcode pickle.dumps does not write by itself
_MANUAL = {
    "DUP": b"\x80\x02K\x012\x86.",  # 1, DUP, TUPLE2 -> (1, 1)
    "NEWOBJ": b"\x80\x02ccollections\nOrderedDict\n)\x81.",
    "BUILD": b"\x80\x02ccollections\nOrderedDict\n)\x81}X\x01\x00\x00\x00aK\x01sb.",
    "POP": b"K\x01K\x020.",
    "POP_MARK": b"K\x01(K\x02K\x031.",
    "INT": b"I42\n.",
    "LONG": b"L12345678901234567890L\n.",
    "FLOAT": b"F1.5\n.",
    "STRING": b"S'abc'\n.",
    "BINSTRING": b"T\x03\x00\x00\x00abc.",
    "SHORT_BINSTRING": b"U\x03abc.",
    "UNICODE": b"Vabc\n.",
    "DICT": b"(K\x01K\x02d.",
    "LIST": b"(K\x01K\x02l.",
    "TUPLE": b"(K\x01K\x02t.",
    "APPEND": b"]K\x01a.",
    "SETITEM": b"}K\x01K\x02s.",
    "GET": b"K\x07p0\n0g0\n.",
    "PUT": b"K\x07p0\n.",
    "LONG_BINGET": b"K\x07r\x00\x00\x00\x000j\x00\x00\x00\x00.",
    "LONG_BINPUT": b"K\x07r\x00\x00\x00\x00.",
    "LONG4": b"\x80\x02\x8b\x02\x00\x00\x00\xff\x7f.",
    "BINUNICODE8": b"\x80\x04\x8d\x03\x00\x00\x00\x00\x00\x00\x00abc.",
    "BINBYTES8": b"\x80\x04\x8e\x03\x00\x00\x00\x00\x00\x00\x00abc.",
    "BYTEARRAY8": b"\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00abc.",
    "READONLY_BUFFER": b"\x80\x05C\x03abc\x98.",
    "ADDITEMS": b"\x80\x04\x8f(K\x01K\x02\x90.",
    "FROZENSET": b"\x80\x04(K\x01K\x02\x91.",
    "OBJ": b"(ccollections\nOrderedDict\no.",
    "INST": b"(icollections\nOrderedDict\n.",
    "NEWOBJ_EX": b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)}\x92.",
    "EMPTY_SET": b"\x80\x04\x8f.",
}
# these need something outside the pickle (persistent ids, out-of-band buffers, the copyreg
# extension registry): both sides must refuse them the same way
_REFUSED = {"PERSID", "BINPERSID", "NEXT_BUFFER", "EXT1", "EXT2", "EXT4"}
_REFUSED_DATA = {
    "PERSID": b"P1\n.",
    "BINPERSID": b"K\x01Q.",
    "NEXT_BUFFER": b"\x80\x05\x97.",
    "EXT1": b"\x80\x02\x82\x01.",
    "EXT2": b"\x80\x02\x83\x01\x00.",
    "EXT4": b"\x80\x02\x84\x01\x00\x00\x00.",
}


def _auto_samples() -> dict[str, bytes]:
    """The first pickle in VALUES x protocols that uses each opcode."""
    found: dict[str, bytes] = {}
    for protocol in range(6):
        for value in [*VALUES, _shared()]:
            data = pickle.dumps(value, protocol=protocol)
            for op, _arg, _pos in pickletools.genops(data):
                found.setdefault(op.name, data)
    return found


def test_every_opcode_is_covered_and_agrees():
    samples = {**_auto_samples(), **_MANUAL}
    missing = sorted(set(OPNAMES.values()) - set(samples) - _REFUSED)
    assert missing == []
    disagreements = []
    for name, data in samples.items():
        try:
            want = pickle.loads(data)
        except Exception as exc:
            disagreements.append(f"{name}: sample invalid ({exc})")
            continue
        got, _ = symbolic_load(data)
        if isinstance(want, memoryview):
            want, got = bytes(want), bytes(got)
        if not _same(got, want):
            disagreements.append(f"{name}: {got!r:.60} != {want!r:.60}")
    assert disagreements == []
    for data in _REFUSED_DATA.values():
        with pytest.raises((pickle.UnpicklingError, ValueError, KeyError)):
            pickle.loads(data)
        with pytest.raises(CheckpointError):
            symbolic_load(data)


def test_truncation_fails_in_both():
    data = pickle.dumps({"a": list(range(50)), "b": "x" * 50}, protocol=4)
    for cut in range(1, len(data)):
        with pytest.raises((pickle.UnpicklingError, EOFError, ValueError, IndexError)):
            pickle.loads(data[:cut])
        with pytest.raises(CheckpointError):
            symbolic_load(data[:cut])


def test_globals_as_real_pickle_resolves_them():
    """Python 2 names are mapped below protocol 3 (and always, as torch does, for the torch name)."""
    from mltools.ckpt.pickle_vm import BoundedReader
    from mltools.ckpt.unpickler import SymbolicUnpickler

    for data, name, torch_name in [
        (b"\x80\x02c__builtin__\nset\n)R.", "builtins.set", "builtins.set"),
        (b"\x80\x03c__builtin__\nset\n)R.", "__builtin__.set", "builtins.set"),
        (
            b"\x80\x02ccopy_reg\n_reconstructor\n.",
            "copyreg._reconstructor",
            "copyreg._reconstructor",
        ),
        (b"\x80\x04\x8c\x07pathlib\x8c\tos.system\x93.", "pathlib.os.system", "pathlib.os.system"),
    ]:
        vm = SymbolicUnpickler(BoundedReader(data), record_only=True)
        vm.load()
        assert (vm.refs[0].name, vm.refs[0].torch) == (name, torch_name)
