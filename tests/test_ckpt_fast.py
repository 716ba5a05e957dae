"""The fast route (validating pre-pass + C unpickler) against the VM it must agree with.

For every input: either the fast route declines and the VM decides, or both give the same
object tree (same types, same sharing, same stand-ins) and record the same globals and
storages. Real ``torch.save`` files must take the fast route; hostile ones must not, and must
get the VM's own error. A byte-mutation fuzz compares outcomes on thousands of near-real
pickles.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.pickle_fast import fast_load, prepass
from mltools.ckpt.pickle_vm import BoundedReader, run_guarded
from mltools.ckpt.records import OpaqueObject, StorageRef, TensorMeta
from mltools.ckpt.unpickler import SymbolicUnpickler, symbolic_load
from tests import _ckpt_hostile as hostile

torch = pytest.importorskip("torch")


def canon(obj, seen=None):  # type: ignore[no-untyped-def]
    """A comparable picture of a result tree: types, values, stand-ins and shared parts."""
    if seen is None:
        seen = {}
    if isinstance(obj, (int, float, str, bytes, bool, type(None), complex, slice)):
        return (type(obj).__name__, obj if obj == obj else "nan")
    if id(obj) in seen:
        return ("shared", seen[id(obj)])
    seen[id(obj)] = len(seen)
    if isinstance(obj, TensorMeta):
        return ("tensor", obj.dtype, obj.shape, obj.stride, obj.storage_offset,
                canon(obj.storage, seen), obj.device, obj.parameter, canon(obj.quantizer, seen),
                sorted(vars(obj)))  # fmt: skip
    if isinstance(obj, StorageRef):
        return ("storage", obj.key, obj.dtype, obj.numel, obj.device, obj.file)
    if isinstance(obj, OpaqueObject):
        return ("opaque", obj.qualname, canon(obj.args, seen), canon(obj.kwargs, seen),
                canon(obj.state, seen), canon(obj.items, seen), sorted(vars(obj)))  # fmt: skip
    if isinstance(obj, dict):
        extra = sorted(vars(obj)) if hasattr(obj, "__dict__") else None
        attrs = [(k, canon(v, seen)) for k, v in sorted(vars(obj).items())] if extra else []
        return (type(obj).__name__, [(canon(k, seen), canon(v, seen)) for k, v in obj.items()],
                attrs)  # fmt: skip
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [canon(v, seen) for v in obj])
    if isinstance(obj, (set, frozenset)):
        return (type(obj).__name__, sorted(repr(canon(v, seen)) for v in obj))
    if isinstance(obj, type):
        return ("class", getattr(obj, "qualname", obj.__qualname__))
    return (type(obj).__name__, repr(obj))


def vm_outcome(data: bytes):  # type: ignore[no-untyped-def]
    vm = SymbolicUnpickler(BoundedReader(data))
    try:
        root = run_guarded(vm)
    except CheckpointError as exc:
        return ("error", type(exc).__name__, str(exc)), None
    return ("ok", canon(root)), vm


def fast_outcome(data: bytes):  # type: ignore[no-untyped-def]
    try:
        root, unpickler = symbolic_load(data)
    except CheckpointError as exc:
        return ("error", type(exc).__name__, str(exc)), None
    return ("ok", canon(root)), unpickler


def took_fast_route(data: bytes) -> bool:
    return fast_load(data, SymbolicUnpickler(BoundedReader(data)))[0]


def data_pkl(obj) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    torch.save(obj, buf)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
        return zf.read(name)


def _real_objects() -> dict[str, object]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    base = torch.arange(12.0)
    return {
        "state_dict": model.state_dict(),  # an OrderedDict with _metadata: a BUILD
        "train": {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": 3,
            "best": 0.5,
            "tags": ["a", "b"],
            "lr": (1e-3, 2e-3),
        },
        "parameters": {"w": torch.nn.Parameter(torch.ones(2, 2))},
        "views": {"a": base[2:6], "b": base.view(3, 4).t(), "c": base},  # shared storage
        "dtypes": {
            str(d): torch.zeros(3, dtype=d)
            for d in (torch.bfloat16, torch.float16, torch.int8, torch.bool, torch.int64)
        },
        "empty": {"e": torch.empty(0), "s": torch.tensor(3.0)},
        "many": {f"layers.{i}.weight": torch.zeros(2) for i in range(300)},
    }


@pytest.mark.parametrize("name", list(_real_objects()))
@pytest.mark.parametrize("protocol", [2, 4])
def test_real_checkpoints_take_the_fast_route_and_match_the_vm(name, protocol, monkeypatch):
    obj = _real_objects()[name]
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    assert took_fast_route(data), f"{name} (protocol {protocol}) left the fast route"
    want, vm = vm_outcome(data)
    got, fast = fast_outcome(data)
    assert want[0] == "ok"
    assert got == want
    assert fast.globals == vm.globals
    assert fast.storages == vm.storages
    assert [(r.raw, r.name, r.torch, r.opcode) for r in fast.refs] == [
        (r.raw, r.name, r.torch, r.opcode) for r in vm.refs
    ]


def test_build_hooks_are_removed_after_a_fast_load():
    data = data_pkl(_real_objects()["state_dict"])
    assert b"b" in data and prepass(data).built  # the OrderedDict's _metadata is a BUILD
    root, _ = symbolic_load(data)
    assert type(root) is collections.OrderedDict
    assert "__setstate__" not in vars(root)
    assert isinstance(root._metadata, collections.OrderedDict)
    for value in root.values():
        assert "__setstate__" not in vars(value)


def _u(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _budget_by_calls() -> bytes:
    """A 50k-item list passed 400 times to an opaque class: cheap in C, over the VM's budget."""
    items = b"(" + b"K\x01" * 50_000 + b"l" + b"q\x00"
    calls = b"cfoo\nBar\nh\x00\x85R" * 400
    return b"\x80\x02" + items + b"](" + calls + b"e."


HOSTILE = {
    "memo_index": hostile.memo_index(),
    "big_bytearray": hostile.big_bytearray(),
    "deep_tuples_201": b"\x80\x02}N" + b"\x85" * 201 + b"Ns.",
    "frame_lie": hostile.frame_lie(),
    "quadratic_set": hostile.quadratic_set(),
    "budget_by_calls": _budget_by_calls(),
    "build_of_a_list": b"\x80\x02]}b.",
    "build_none_on_a_set": b"\x80\x02cbuiltins\nset\n)RNb.",
    "setitem_on_a_list": b"\x80\x02]K\x00K\x01s.",
    "append_to_a_dict": b"\x80\x02}K\x01a.",
    "setstate_key": b"\x80\x02ccollections\nOrderedDict\n)R}X\x0c\x00\x00\x00__setstate__K\x01sb.",
    "dangerous_global": b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.",
    "call_of_a_list": b"\x80\x02])R.",
    "trailing_bytes": b"\x80\x02K\x01.junk",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_pickles_get_the_vms_verdict(name):
    data = HOSTILE[name]
    assert not took_fast_route(data)
    want, _ = vm_outcome(data)
    got, _ = fast_outcome(data)
    assert got == want


def test_the_budget_case_is_the_vms_budget_error():
    got, _ = fast_outcome(_budget_by_calls())
    assert got[0] == "error" and got[1] == "BudgetError"
    assert "arguments beyond the budget" in got[2]


def test_a_global_kept_as_data_comes_back_as_the_vms_stand_in():
    # {'cls': collections.OrderedDict, 'obj': foo.Bar(1)}: the class object itself is data
    data = (
        b"\x80\x02}(X\x03\x00\x00\x00clsccollections\nOrderedDict\n"
        b"X\x03\x00\x00\x00objcfoo\nBar\nK\x01\x85Ru."
    )
    assert prepass(data) is not None
    assert not took_fast_route(data)  # the wrapper leaked into the result: refused
    root, _ = symbolic_load(data)
    assert root["cls"] is collections.OrderedDict
    assert isinstance(root["obj"], OpaqueObject) and root["obj"].args == (1,)


def test_opaque_objects_built_in_c_match_the_vm():
    # foo.Bar(1) with BUILD {'x': 2}, as a list item
    data = b"\x80\x02](cfoo\nBar\nK\x01\x85R}X\x01\x00\x00\x00xK\x02sbe."
    assert took_fast_route(data)
    want, _ = vm_outcome(data)
    got, _ = fast_outcome(data)
    assert got == want
    root, _ = symbolic_load(data)
    assert root[0].state == {"x": 2} and "__setstate__" not in vars(root[0])


def test_fast_route_declines_what_it_does_not_model():
    for data in (
        pickle.dumps([1, 2], protocol=0),  # text opcodes
        b"\x80\x02K\x01K\x020.",  # POP
        b"\x80\x02ccollections\nOrderedDict\n)\x81.",  # NEWOBJ
    ):
        assert prepass(data) is None


_SEEDS = [
    data_pkl({"w": torch.zeros(2, 3), "b": torch.ones(3), "step": 7, "names": ["x", "y"]}),
    data_pkl(_real_objects()["state_dict"]),
    pickle.dumps({"a": (1, (2, (3,))), "b": [b"xy", 1.5, None, True], "c": {1, 2}}, protocol=4),
]


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.sampled_from(range(len(_SEEDS))),
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_pickles_get_the_same_outcome(seed, edits):
    data = bytearray(_SEEDS[seed])
    for pos, byte, how in edits:
        pos %= len(data) + 1
        if how == "s" and pos < len(data):
            data[pos] = byte
        elif how == "i":
            data[pos:pos] = bytes([byte])
        elif pos < len(data):
            del data[pos]
    data = bytes(data)
    want, vm = vm_outcome(data)
    got, fast = fast_outcome(data)
    assert got == want
    if want[0] == "ok":
        assert fast.globals == vm.globals and fast.storages == vm.storages


def test_fast_route_is_taken_by_the_fuzz_seeds():
    # the fuzz compares the two routes only if the seeds themselves go the fast way
    assert all(took_fast_route(s) for s in _SEEDS)


def test_memo_index_bound_is_the_input_size():
    body = b"\x80\x02N" + b"r" + struct.pack("<I", 40) + b"."
    assert prepass(body) is None  # index 40 in a 9-byte pickle
    ok = b"\x80\x02N" + b"r" + struct.pack("<I", 3) + b"."
    assert prepass(ok) is not None
