"""The fast route through a checkpoint's pickle: a validating pre-pass, then CPython's C unpickler.

``PickleVM`` runs every opcode in Python (about ten times the C unpickler's time on a
20,000-tensor ``data.pkl``). Most checkpoints use a small set of opcodes whose C semantics
are the VM's, so this module lets the C unpickler build the very same stand-ins, and only
when it can prove the outcome is the one the VM would reach:

1. ``prepass`` walks the opcode stream once with an abstract stack of small integers (what
   kind of thing each slot holds, and how deeply tuples nest). It accepts only the opcodes
   ``torch.save`` and ``pickle`` emit for plain data (no ``INST``/``OBJ``/``NEWOBJ``/``EXT``,
   no ``POP``/``DUP``, no protocol-0 text forms), every length within the bytes that are
   there, memo indices within the input's size, tuples no deeper than the VM allows,
   ``APPEND`` only to lists, ``SETITEM`` only to dicts or call results, ``BUILD`` only of
   a call result with a dict, and sums the VM's work charges for the opcodes it saw.
2. ``fast_load`` runs ``_pickle.Unpickler`` with ``find_class``/``persistent_load`` going to
   the same ``SymbolicUnpickler`` policy. Callable stand-ins are handed out wrapped, so
   every call charges the VM's budget before it runs, and its result is checked: only
   types whose C behaviour under the accepted opcodes equals the VM's pass; those ``BUILD``
   may target get a per-object ``__setstate__`` that applies the VM's rule (removed again).
3. Afterwards: the work total must be within the VM's budget, and no wrapper may have
   leaked into the result (its reference count says so).

Anything else (a rejected opcode, an exception of any kind, a budget above the VM's) returns
``None``, and the caller runs the VM, whose verdict is therefore the verdict: nothing is
imported or called either way, and the fast path never allocates more than the bytes it was
given can declare.
"""

from __future__ import annotations

import _compat_pickle
import _pickle
import collections
import gc
import io
import re
import struct
import sys
from dataclasses import dataclass
from typing import Any

from mltools.ckpt.allowlist import torch_name
from mltools.ckpt.pickle_vm import MAX_TUPLE_DEPTH, WORK_FLOOR, WORK_PER_BYTE, GlobalRef, PickleVM
from mltools.ckpt.records import OpaqueObject, TensorMeta

# An abstract stack slot is one int: (depth << 24) | (call << 3) | kind. ``depth`` is how much
# the slot adds to the depth of a tuple holding it (the VM's rule; an over-estimate is safe),
# ``call`` numbers a REDUCE (its result may be the target of a BUILD), ``kind`` what it is.
_SCALAR, _TUPLE, _LIST, _DICT, _SET, _GLOBAL, _PERSID, _CALL = range(8)
_D = 1 << 24
_ONE_TUPLE = _D | _TUPLE  # a tuple of scalars
_TOO_DEEP = (MAX_TUPLE_DEPTH + 1) << 24
_MAX_CALLS = (1 << 21) - 1
_TEMPLATES = True  # whole tensor records in one step (off: opcode by opcode, for the tests)

# opcodes that push a scalar and take a fixed-size argument: opcode -> argument bytes
_SCALARS = {
    ord("K"): 1,  # BININT1
    0x89: 0,  # NEWFALSE
    0x88: 0,  # NEWTRUE
    ord("N"): 0,  # NONE
    ord("J"): 4,  # BININT
    ord("M"): 2,  # BININT2
    ord("G"): 8,  # BINFLOAT
    ord(")"): 0,  # EMPTY_TUPLE (an empty tuple adds no depth)
}
_SCALAR_LEN = [-1] * 256
for _op, _n in _SCALARS.items():
    _SCALAR_LEN[_op] = _n
# length-prefixed strings: opcode -> bytes of the length
_COUNTED = {
    0x8C: 1,  # SHORT_BINUNICODE
    ord("C"): 1,  # SHORT_BINBYTES
    ord("B"): 4,  # BINBYTES
    ord("U"): 1,  # SHORT_BINSTRING
    ord("T"): 4,  # BINSTRING (signed: a negative length fails in both)
    0x8A: 1,  # LONG1
}
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from


@dataclass
class Plan:
    """What the pre-pass proved: the protocol, and the VM's work for the opcodes alone."""

    proto: int
    work: int  # at least the VM's work for the opcodes (each one, and each entry they move)
    limit: int  # the VM's budget for this input
    globals: list[str]  # GLOBAL or STACK_GLOBAL, in the order find_class will be called
    built: set[int]  # the REDUCEs (numbered from 1) whose result a BUILD sets state on


def prepass(data: bytes, trace: dict[str, Any] | None = None) -> Plan | None:
    """Validate ``data`` for the fast route; ``None`` when the VM must read it.

    ``trace``, when given, receives the final abstract stack and memo (for the tests that
    hold the one-step tensor records to the opcode loop).
    """
    try:
        return _prepass(data, trace)
    except (IndexError, KeyError, ValueError, struct.error):
        return None


def _prepass(data: bytes, trace: dict[str, Any] | None) -> Plan | None:
    end = len(data)
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[int, int] = {}
    push = stack.append
    pop = stack.pop
    u32 = _U32
    scalar_len = _SCALAR_LEN
    counted = _COUNTED
    record = _RECORD.match
    templates = _TEMPLATES
    kinds: list[str] = []
    built: set[int] = set()
    calls = 0
    items = 0  # container charges: the entries each MARK-popping opcode takes
    proto = 0
    i = 0
    if end >= 2 and data[0] == 0x80:
        proto = data[1]
        i = 2
    while i < end:
        op = data[i]
        n = scalar_len[op]
        if n >= 0:
            push(0)
            i += 1 + n
        elif op == 0x72:  # LONG_BINPUT
            idx = u32(data, i + 1)[0]
            if idx > end:
                return None
            memo[idx] = stack[-1]
            i += 5
            continue
        elif op == 0x68:  # BINGET
            if data[i + 2] == 0x28 and templates and (m := record(data, i)) is not None:
                moved = _record(m.groups(), stack, memo, end, calls)
                if moved < 0:
                    return None
                calls += 2
                items += moved
                i = m.end()
                continue
            push(memo[data[i + 1]])
            i += 2
        elif op == 0x28:  # MARK
            marks.append(len(stack))
            i += 1
            continue
        elif op == 0x58:  # BINUNICODE
            i += 5 + u32(data, i + 1)[0]
            if i > end:
                return None
            push(0)
        elif op == 0x74:  # TUPLE
            at = marks.pop()
            if at < len(stack):
                slot = ((max(stack[at:]) >> 24) + 1) << 24 | _TUPLE
                items += len(stack) - at
                del stack[at:]
                if slot >= _TOO_DEEP:
                    return None
            else:
                slot = _ONE_TUPLE
            push(slot)
            i += 1
        elif op == 0x86:  # TUPLE2
            slot = ((max(pop(), stack[-1]) >> 24) + 1) << 24 | _TUPLE
            if slot >= _TOO_DEEP:
                return None
            stack[-1] = slot
            i += 1
        elif op == 0x52:  # REDUCE
            calls += 1
            args = pop() >> 24
            stack[-1] = (args or 1) << 24 | calls << 3 | _CALL
            i += 1
        elif op == 0x51:  # BINPERSID
            stack[-1] = _PERSID
            i += 1
        elif op == 0x71:  # BINPUT
            memo[data[i + 1]] = stack[-1]
            i += 2
            continue
        elif op == 0x85 or op == 0x87:  # TUPLE1, TUPLE3
            if op == 0x85:
                slot = ((stack[-1] >> 24) + 1) << 24 | _TUPLE
            else:
                slot = ((max(pop(), pop(), stack[-1]) >> 24) + 1) << 24 | _TUPLE
            if slot >= _TOO_DEEP:
                return None
            stack[-1] = slot
            i += 1
        elif op == 0x6A:  # LONG_BINGET
            if data[i + 5] == 0x28 and templates and (m := record(data, i)) is not None:
                moved = _record(m.groups(), stack, memo, end, calls)
                if moved < 0:
                    return None
                calls += 2
                items += moved
                i = m.end()
                continue
            push(memo[u32(data, i + 1)[0]])
            i += 5
        elif op == 0x94:  # MEMOIZE
            memo[len(memo)] = stack[-1]
            i += 1
            continue
        elif op in counted:
            width = counted[op]
            if width == 1:
                n = data[i + 1]
            elif op == 0x54:
                n = _I32(data, i + 1)[0]
                if n < 0:
                    return None
            else:
                n = u32(data, i + 1)[0]
            i += 1 + width + n
            if i > end:
                return None
            push(0)
        elif op == 0x75 or op == 0x64:  # SETITEMS, DICT
            at = marks.pop()
            count = len(stack) - at
            if count % 2:
                return None
            items += count
            del stack[at:]
            if op == 0x64:
                push(_DICT)
            elif stack[-1] & 7 not in (_DICT, _CALL):
                return None
            i += 1
        elif op == 0x73:  # SETITEM
            del stack[-2:]
            if stack[-1] & 7 not in (_DICT, _CALL):
                return None
            i += 1
        elif op == 0x65 or op == 0x6C:  # APPENDS, LIST
            at = marks.pop()
            items += len(stack) - at
            del stack[at:]
            if op == 0x6C:
                push(_LIST)
            elif stack[-1] != _LIST:
                return None
            i += 1
        elif op == 0x61:  # APPEND
            pop()
            if stack[-1] != _LIST:
                return None
            i += 1
        elif op == 0x7D:  # EMPTY_DICT
            push(_DICT)
            i += 1
        elif op == 0x5D:  # EMPTY_LIST
            push(_LIST)
            i += 1
        elif op == 0x8F:  # EMPTY_SET
            push(_SET)
            i += 1
        elif op == 0x62:  # BUILD
            state = pop()
            target = stack[-1]
            if state != _DICT or target & 7 != _CALL:
                return None
            built.add((target >> 3) & _MAX_CALLS)
            i += 1
        elif op == 0x63:  # GLOBAL: two lines
            j = data.index(b"\n", i + 1)
            j = data.index(b"\n", j + 1)
            kinds.append("GLOBAL")
            push(_GLOBAL)
            i = j + 1
        elif op == 0x93:  # STACK_GLOBAL
            del stack[-2:]
            kinds.append("STACK_GLOBAL")
            push(_GLOBAL)
            i += 1
        elif op == 0x90 or op == 0x91:  # ADDITEMS, FROZENSET
            at = marks.pop()
            items += len(stack) - at
            del stack[at:]
            if op == 0x91:
                push(_SCALAR)
            elif stack[-1] != _SET:
                return None
            i += 1
        elif op == 0x95:  # FRAME
            if _U64(data, i + 1)[0] > end - i - 9:
                return None
            i += 9
            continue
        elif op == 0x2E:  # STOP
            if i + 1 != end or not stack:
                return None  # trailing bytes or an empty stack: the VM says what that is
            break
        else:
            return None
        # most pushes are memoized at once: take the put here, without another round
        if i < end - 4 and data[i] == 0x72:
            idx = u32(data, i + 1)[0]
            if idx > end:
                return None
            memo[idx] = stack[-1]
            i += 5
    else:
        return None  # no STOP
    if proto > 5 or calls > _MAX_CALLS:
        return None
    if trace is not None:
        trace.update(stack=stack, memo=memo, marks=marks, calls=calls, items=items)
    # every opcode is at least one byte: ``end`` bounds the VM's one unit per opcode
    return Plan(
        proto=proto,
        work=end + items,
        limit=WORK_FLOOR + WORK_PER_BYTE * end,
        globals=kinds,
        built=built,
    )


# ``torch.save``'s protocol-2 record of one tensor, after its first (whose globals are
# GLOBAL opcodes): ``rebuild((storage, type, key, location, numel) as a persistent id,
# offset, shape, stride, requires_grad, OrderedDict()))``, every object memoized. A 20,000-
# tensor pickle is 20,000 of these (32 opcodes each); ``_record`` applies one match's
# effect on the abstract stack and memo exactly as the opcode loop would, in one step.
def _template() -> re.Pattern[bytes]:
    get = rb"(?:h(.)|j(.{4}))"
    put = rb"(?:q(.)|r(.{4}))"
    num = rb"(?:K.|M..|J.{4})"
    shape = rb"(\)|" + num + rb"\x85|" + num + rb"{2}\x86|" + num + rb"{3}\x87|\(" + num + rb"*t)"
    key = b"|".join(re.escape(bytes([n])) + rb"\x00\x00\x00.{%d}" % n for n in range(1, 17))
    return re.compile(
        get  # the rebuild function
        + rb"\(\("
        + get  # 'storage'
        + get  # the storage type
        + rb"(?:X(?:"
        + key
        + rb")"
        + put
        + rb"|"
        + get
        + rb")"  # the key: new, or memoized
        + get  # the location
        + num  # numel
        + rb"t"
        + put  # the persistent id
        + rb"Q"
        + num  # BINPERSID, the offset
        + shape
        + put  # shape
        + shape
        + put  # stride
        + rb"[\x88\x89]"  # requires_grad
        + get  # OrderedDict
        + rb"\)R"
        + put  # OrderedDict(): the backward hooks
        + rb"t"
        + put  # the arguments
        + rb"R"
        + put,  # the tensor
        re.DOTALL,
    )


_RECORD = _template()


def _index(short: bytes | None, long: bytes | None) -> int:
    return short[0] if short is not None else _U32(long)[0]  # type: ignore[arg-type]


_INT_WIDTH = {ord("K"): 2, ord("M"): 3, ord("J"): 5}


def _marked(shape: bytes | None) -> int:
    """How many ints a shape written as MARK ... TUPLE holds (0 for the short forms)."""
    if shape is None or shape[0] != 0x28:
        return 0
    count, at = 0, 1
    while shape[at] != 0x74:
        at += _INT_WIDTH[shape[at]]
        count += 1
    return count


def _record(
    groups: tuple[bytes | None, ...], stack: list[int], memo: dict[int, int], end: int, calls: int
) -> int:
    """Apply one ``_RECORD`` match (``calls`` REDUCEs before it): the entries its MARK
    opcodes moved, or -1 where the loop refuses.

    The same steps as the loop, in the same order: each GET reads the memo (a missing
    entry refuses), each LONG_BINPUT index is bounded by the input, the persistent id's
    tuple takes its depth from what it holds, and the two REDUCEs are numbered.
    """
    g = groups
    fn = memo[_index(g[0], g[1])]  # noqa: F841 (read for the KeyError a missing entry gives)
    depth = max(memo[_index(g[2], g[3])], memo[_index(g[4], g[5])])
    if g[8] is not None or g[9] is not None:
        depth = max(depth, memo[_index(g[8], g[9])])
    else:
        put = _index(g[6], g[7])
        if g[7] is not None and put > end:
            return -1
        memo[put] = 0
    depth = max(depth, memo[_index(g[10], g[11])])
    slot = ((depth >> 24) + 1) << 24 | _TUPLE  # the persistent id's tuple
    if slot >= _TOO_DEEP:
        return -1
    for short, long, value in (
        (g[12], g[13], slot),
        (g[15], g[16], 0 if g[14] == b")" else _ONE_TUPLE),
        (g[18], g[19], 0 if g[17] == b")" else _ONE_TUPLE),
    ):
        put = _index(short, long)
        if long is not None and put > end:
            return -1
        memo[put] = value
    memo[_index(g[20], g[21])]  # the OrderedDict global: read, as BINGET reads it
    hooks = _D | (calls + 1) << 3 | _CALL
    args = 2 << 24 | _TUPLE  # holds the hooks' call (depth 1)
    tensor = 2 << 24 | (calls + 2) << 3 | _CALL
    for short, long, value in ((g[22], g[23], hooks), (g[24], g[25], args), (g[26], g[27], tensor)):
        put = _index(short, long)
        if long is not None and put > end:
            return -1
        memo[put] = value
    stack.append(tensor)
    return 11 + _marked(g[14]) + _marked(g[17])  # the two tuples' entries, marked shapes


class _Fallback(Exception):
    """The fast route cannot prove the VM's outcome: let the VM read the pickle."""


class _Callee:
    """A callable stand-in as the C unpickler sees it: charges, calls, checks the result."""

    __slots__ = ("fn", "name", "nested_pickle", "run", "sizes")

    def __init__(self, fn: Any, name: str, run: _FastRun) -> None:
        self.fn = fn
        self.name = name
        self.run = run
        self.sizes = fn in (bytearray, bytes)  # bytearray(n) allocates n bytes
        self.nested_pickle = name == "torch.storage._load_from_bytes"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = self.run
        units = len(args)  # the VM's charge: one per argument, plus each sized one's length
        for a in args:
            units += len(a) if isinstance(a, _SIZED) else 1
        if self.sizes and args and isinstance(args[0], int):
            units += args[0]
        run.work += units
        if run.work > run.limit or self.nested_pickle:
            raise _Fallback  # over the budget, or a nested pickle: the VM's business
        if run.nested:  # a stand-in calling one it was given: no REDUCE of its own
            return run.checked(self.fn(*args, **kwargs), False)
        run.calls += 1
        call = run.calls
        run.nested = True
        result = self.fn(*args, **kwargs)  # an exception ends the fast route: no reset needed
        run.nested = False
        if type(result) in _PASSING and call not in run.built_calls:
            return result  # what ``checked`` passes without a BUILD hook
        return run.checked(result, call in run.built_calls)

    # recorders look at a stand-in's name (``qualname``) or text: answer as the stand-in
    def __getattr__(self, attr: str) -> Any:
        return getattr(self.fn, attr)

    def __str__(self) -> str:
        return str(self.fn)

    def __repr__(self) -> str:
        return repr(self.fn)

    def __format__(self, spec: str) -> str:
        return format(self.fn, spec)


# results whose behaviour under the accepted opcodes is the same in C and in the VM
_PLAIN_RESULTS = frozenset(
    {set, frozenset, complex, slice, bytes, str, tuple, int, float, bool, type(None)}
)
_BUILDABLE = (TensorMeta, OpaqueObject, collections.OrderedDict, collections.Counter)
_KEPT = (*_BUILDABLE, str)  # str subclasses: the dtype stand-ins
# the exact types ``checked`` lets through: a stand-in call's result of one of these, that
# no BUILD targets, needs no look at all
_PASSING = _PLAIN_RESULTS | {TensorMeta, collections.OrderedDict, collections.Counter}


class _FastRun:
    """One fast load: the policy (the ``SymbolicUnpickler`` whose stand-ins are used), the
    budget, the wrappers."""

    def __init__(self, policy: PickleVM, plan: Plan) -> None:
        self.policy = policy
        self.plan = plan
        self.work = plan.work
        self.callees: dict[int, _Callee] = {}
        self.built: list[Any] = []
        self.calls = 0  # REDUCEs so far (calls made by the C unpickler itself)
        self.nested = False
        self.limit = plan.limit
        self.built_calls = plan.built

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.limit:
            raise _Fallback

    def checked(self, result: Any, build_target: bool) -> Any:
        kind = type(result)
        if not (kind is TensorMeta or kind in _PLAIN_RESULTS or isinstance(result, _KEPT)):
            raise _Fallback  # a list, a dict, a storage, a class ...: the VM decides
        if build_target:
            if not isinstance(result, _BUILDABLE):
                raise _Fallback  # BUILD of it fails in the VM; C might not fail
            d = result.__dict__
            if "__setstate__" not in d:
                d["__setstate__"] = _Setstate(self, result)
                self.built.append(result)
        return result

    def build(self, inst: Any, state: Any) -> None:
        units = len(state) if isinstance(state, _SIZED) else 1
        self.charge(units)
        if isinstance(state, dict) and "__setstate__" in state:
            raise _Fallback
        if isinstance(inst, OpaqueObject):
            type(inst).__setstate__(inst, state)
        elif not isinstance(inst, TensorMeta):
            self.policy.build(inst, state)

    def find_class(self, module: str, name: str) -> Any:
        policy = self.policy
        resolved_module, resolved_name = module, name
        if self.plan.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                resolved_module, resolved_name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                resolved_module = _compat_pickle.IMPORT_MAPPING[module]
        ref = GlobalRef(
            f"{module}.{name}",
            f"{resolved_module}.{resolved_name}",
            torch_name(module, name),
            self.plan.globals[len(policy.refs)],
        )
        policy.refs.append(ref)
        obj = policy.resolve_global(ref)
        if not callable(obj):
            return obj
        callee = self.callees.get(id(obj))
        if callee is None or callee.fn is not obj:
            callee = _Callee(obj, ref.torch, self)
            self.callees[id(obj)] = callee
        return callee

    def finish(self) -> None:
        """Remove the ``BUILD`` hooks; refuse when a wrapper stayed in the result."""
        for obj in self.built:
            obj.__dict__.pop("__setstate__", None)
        self.built.clear()
        for callee in self.callees.values():
            # the dict's reference, this loop's, and getrefcount's argument
            if sys.getrefcount(callee) > 3:
                raise _Fallback
        self.callees.clear()


class _Setstate:
    """``BUILD`` of a call result: the VM's rule, charged like the VM charges it."""

    __slots__ = ("inst", "run")

    def __init__(self, run: _FastRun, inst: Any) -> None:
        self.run = run
        self.inst = inst

    def __call__(self, state: Any) -> None:
        self.run.build(self.inst, state)


class _CUnpickler(_pickle.Unpickler):
    def __init__(self, file: Any, run: _FastRun) -> None:
        super().__init__(file, encoding="latin1")
        self._run = run
        # the policy's own method, called by C without a frame of ours in between
        self.persistent_load = run.policy.persistent_load

    def find_class(self, module: str, name: str) -> Any:
        return self._run.find_class(module, name)


def fast_load(data: bytes, policy: PickleVM) -> tuple[bool, Any]:
    """``(True, root)`` when the C route proved the VM's result, else ``(False, None)``.

    ``policy`` is a fresh, unused ``SymbolicUnpickler``; on success it holds what the VM
    would have recorded (globals, storages); on ``False`` it must be thrown away.
    """
    plan = prepass(data)
    if plan is None:
        return False, None
    run = _FastRun(policy, plan)
    unpickler = _CUnpickler(io.BytesIO(data), run)
    collecting = gc.isenabled()
    gc.disable()  # the pre-pass bounded the objects made; a collection per 700 is waste
    try:
        root = unpickler.load()
        del unpickler
        run.finish()
    except Exception:
        for obj in run.built:
            obj.__dict__.pop("__setstate__", None)
        return False, None
    finally:
        if collecting:
            gc.enable()
    policy.work = run.work
    return True, root
