"""A pickle machine with CPython's opcode semantics that never imports or calls anything real.

It is ``pickle._Unpickler`` (CPython's own reference implementation of every opcode, protocols
0 to 5), with the few places that reach outside the stack replaced:

- ``find_class`` never imports: it hands the name (as real pickle would resolve it, and as
  torch's weights_only unpickler would) to ``resolve_global``, which returns a stand-in;
- ``REDUCE``/``NEWOBJ``/``INST``/``OBJ``/``BUILD`` act on stand-ins only;
- every read is clamped to the bytes that are really there, and a budget relative to the
  input's size bounds the work (container copies, ``bytearray(n)``, memo indices, tuple
  nesting) before it happens, so a 1 KB pickle cannot take minutes or gigabytes.

While it runs it records what torch's ``weights_only`` unpickler would trip over (opcodes it
does not implement, ``APPEND`` to a non-list, ``BUILD`` of a non-tensor, ...), so a verdict
"will load" is an emulation of torch's own rules, not a guess.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import sys
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from mltools.ckpt.allowlist import torch_name
from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError

OPNAMES: dict[int, str] = {op.code.encode("latin1")[0]: op.name for op in pickletools.opcodes}

MAX_TUPLE_DEPTH = 200  # hashing a deeper tuple recurses in C
WORK_PER_BYTE = 16
WORK_FLOOR = 1 << 20


class BudgetError(CheckpointError):
    """A pickle asks for more work or memory than its size can justify."""


class _Truncated(pickle.UnpicklingError):
    pass


class BoundedReader:
    """``read``/``readline`` over a file or bytes that never asks for more than is there.

    A short read is an ``UnpicklingError`` (as CPython's C unpickler says "pickle data was
    truncated"), and a length field of 2**60 costs nothing.
    """

    def __init__(self, source: Any, end: int | None = None) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        self._f = source
        if end is None:
            here = source.tell()
            source.seek(0, io.SEEK_END)
            end = source.tell()
            source.seek(here)
        self.end = end

    def remaining(self) -> int:
        return max(self.end - self._f.tell(), 0)

    def tell(self) -> int:
        return self._f.tell()

    def read(self, n: int = -1) -> bytes:
        left = self.remaining()
        if n < 0 or n > left:
            if n > left and n != 1:
                raise _Truncated(f"pickle data was truncated (wants {n} bytes, {left} left)")
            n = left
        return self._f.read(n)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        out = []
        while self.remaining():
            chunk = self._f.readline(min(65536, self.remaining()))
            out.append(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
        line = b"".join(out)
        if not line.endswith(b"\n"):
            raise _Truncated("pickle data was truncated (a line has no end)")
        return line


@dataclass
class GlobalRef:
    """One global a pickle names: as written, as real pickle resolves it, as torch looks it up."""

    raw: str  # module.name as written
    name: str  # what CPython's pickle would import (py2 names mapped below protocol 3)
    torch: str  # what torch's weights_only unpickler looks up (py2 names always mapped)
    opcode: str


def _lenof(x: Any) -> int:
    try:
        return (
            len(x)
            if isinstance(x, (str, bytes, bytearray, list, tuple, dict, set, frozenset))
            else 1
        )
    except Exception:
        return 1


class PickleVM(pickle._Unpickler):  # type: ignore[name-defined]
    """Run a pickle's opcodes over stand-ins. Subclasses implement ``resolve_global``."""

    dispatch: ClassVar[dict[int, Callable[..., Any]]] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: Any, *, size: int | None = None, encoding: str = "latin1") -> None:
        self._reader = file if isinstance(file, BoundedReader) else BoundedReader(file)
        super().__init__(self._reader, encoding=encoding)
        size = self._reader.remaining() if size is None else size
        self.work_limit = WORK_FLOOR + WORK_PER_BYTE * size
        self.work = 0
        self.ops = 0
        self.opcodes: set[str] = set()
        self.refs: list[GlobalRef] = []
        self.violations: list[str] = []  # what torch's weights_only unpickler would refuse
        self._made_by: dict[int, tuple[Any, str]] = {}  # id(stand-in) -> (it, torch name)
        self._tuple_depth: dict[int, tuple[Any, int]] = {}

    # --- budget -------------------------------------------------------------------------
    def charge(self, units: int, what: str = "work") -> None:
        self.work += max(int(units), 0)
        if self.work > self.work_limit:
            raise BudgetError(
                f"corrupt or hostile pickle: {what} beyond the budget of a "
                f"{(self.work_limit - WORK_FLOOR) // WORK_PER_BYTE}-byte input"
            )

    def _violate(self, what: str) -> None:
        if len(self.violations) < 50 and what not in self.violations:
            self.violations.append(what)

    def _tuple(self, items: Any) -> tuple[Any, ...]:
        t = tuple(items)
        depth = 1
        for item in t:
            if type(item) is tuple and item:
                entry = self._tuple_depth.get(id(item))
                inner = entry[1] if entry is not None and entry[0] is item else 1
                depth = max(depth, inner + 1)
        if depth > MAX_TUPLE_DEPTH:
            raise BudgetError(
                f"corrupt or hostile pickle: tuples nested over {MAX_TUPLE_DEPTH} deep"
            )
        if depth > 1:
            self._tuple_depth[id(t)] = (t, depth)
        return t

    # --- the loop ------------------------------------------------------------------------
    def load(self) -> Any:
        self._unframer = pickle._Unframer(self._reader.read, self._reader.readline)  # type: ignore[attr-defined]
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack = []
        self.stack = []
        self.append = self.stack.append
        self.proto = 0
        read = self.read
        dispatch = self.dispatch
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError("pickle data was truncated (no STOP)")
                code = key[0]
                self.ops += 1
                name = OPNAMES.get(code)
                if name is None:
                    raise pickle.UnpicklingError(f"invalid load key, {key!r}")
                self.opcodes.add(name)
                self.charge(1)
                dispatch[code](self)
        except pickle._Stop as stop:  # type: ignore[attr-defined]
            return stop.value

    # --- globals -------------------------------------------------------------------------
    def resolve_global(self, ref: GlobalRef) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _global(self, module: str, name: str, opcode: str) -> Any:
        raw = f"{module}.{name}"
        resolved_module, resolved_name = module, name
        if self.proto < 3:
            import _compat_pickle

            if (module, name) in _compat_pickle.NAME_MAPPING:
                resolved_module, resolved_name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                resolved_module = _compat_pickle.IMPORT_MAPPING[module]
        ref = GlobalRef(raw, f"{resolved_module}.{resolved_name}", torch_name(module, name), opcode)
        self.refs.append(ref)
        obj = self.resolve_global(ref)
        self._made_by[id(obj)] = (obj, ref.torch)
        return obj

    def find_class(self, module: str, name: str) -> Any:
        return self._global(module, name, "EXT")

    def load_global(self) -> None:
        module = self.readline()[:-1].decode("utf-8")
        name = self.readline()[:-1].decode("utf-8")
        self.append(self._global(module, name, "GLOBAL"))

    def load_stack_global(self) -> None:
        name = self.stack.pop()
        module = self.stack.pop()
        if type(name) is not str or type(module) is not str:
            raise pickle.UnpicklingError("STACK_GLOBAL requires str")
        self.append(self._global(module, name, "STACK_GLOBAL"))

    def load_inst(self) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        klass = self._global(module, name, "INST")
        self._call(klass, self.pop_mark(), "INST")

    def load_obj(self) -> None:
        args = self.pop_mark()
        cls = args.pop(0)
        self._call(cls, args, "OBJ")

    dispatch[pickle.GLOBAL[0]] = load_global
    dispatch[pickle.STACK_GLOBAL[0]] = load_stack_global
    dispatch[pickle.INST[0]] = load_inst
    dispatch[pickle.OBJ[0]] = load_obj

    # --- calls ---------------------------------------------------------------------------
    def allowed_callable(self, func: Any) -> bool:
        """Whether torch's weights_only unpickler would call ``func`` (override)."""
        return False

    def call_standin(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call a stand-in made by ``resolve_global`` (override to police the arguments)."""
        return func(*args, **kwargs)

    def call_result_of_non_global(self, func: Any, args: tuple[Any, ...]) -> Any:
        """What a call of something that is not a global yields (override)."""
        raise pickle.UnpicklingError("a call of an object that is not a global")

    def _call(self, func: Any, args: Any, how: str, kwargs: dict[str, Any] | None = None) -> None:
        if not isinstance(args, (tuple, list)):
            raise pickle.UnpicklingError(f"{how} arguments are not a tuple")
        self.charge(sum(_lenof(a) for a in args) + len(args), "arguments")
        made = self._made_by.get(id(func))
        if made is None or made[0] is not func:
            self._violate(f"{how} of an object that is not a global")
            self.append(self.call_result_of_non_global(func, tuple(args)))
            return
        if not self.allowed_callable(func):
            self._violate(f"{how} of {made[1]}")
        self.append(self.call_standin(func, tuple(args), kwargs or {}))

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack.pop()
        self._call(func, args, "REDUCE")

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._call(cls, args, "NEWOBJ")

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(kwargs, dict):
            raise pickle.UnpicklingError("NEWOBJ_EX keyword arguments are not a dict")
        self._call(cls, args, "NEWOBJ_EX", {str(k): v for k, v in kwargs.items()})

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def build(self, inst: Any, state: Any) -> None:
        """``BUILD``: subclasses set state on their stand-ins; nothing real is touched."""
        raise pickle.UnpicklingError(f"BUILD of a {type(inst).__name__}")

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        self.charge(_lenof(state))
        self.build(inst, state)

    dispatch[pickle.BUILD[0]] = load_build

    # --- containers: CPython's semantics, torch's restrictions recorded ------------------
    def load_append(self) -> None:
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            self._violate(f"APPEND to a {type(target).__name__}")
            if not hasattr(target, "append") or isinstance(target, type):
                raise pickle.UnpicklingError(f"APPEND to a {type(target).__name__}")
        target.append(value)

    def load_appends(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        self.charge(len(items))
        if type(target) is not list:
            self._violate(f"APPENDS to a {type(target).__name__}")
            if isinstance(target, type):
                raise pickle.UnpicklingError("APPENDS to a class")
        if isinstance(target, (bytearray, str, bytes, tuple, int, float)):
            raise pickle.UnpicklingError(f"APPENDS to a {type(target).__name__}")
        extend = getattr(target, "extend", None)
        if extend is not None:
            extend(items)
            return
        for item in items:
            target.append(item)

    def _dict_target(self, what: str) -> Any:
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict, Counter):
            self._violate(f"{what} on a {type(target).__name__}")
            if isinstance(target, (type, list, bytearray, str, bytes, tuple, int, float)):
                raise pickle.UnpicklingError(f"{what} on a {type(target).__name__}")
        return target

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._dict_target("SETITEM")[key] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        target = self._dict_target("SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_additems(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        target = self.stack[-1]
        if not isinstance(target, (set, frozenset)) and not hasattr(target, "add"):
            raise pickle.UnpicklingError(f"ADDITEMS on a {type(target).__name__}")
        if isinstance(target, set):
            target.update(items)
        else:
            for item in items:
                target.add(item)

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        self.append(frozenset(items))

    def load_tuple(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        self.append(self._tuple(items))

    def load_tuple1(self) -> None:
        self.stack[-1] = self._tuple((self.stack[-1],))

    def load_tuple2(self) -> None:
        self.stack[-2:] = [self._tuple((self.stack[-2], self.stack[-1]))]

    def load_tuple3(self) -> None:
        self.stack[-3:] = [self._tuple((self.stack[-3], self.stack[-2], self.stack[-1]))]

    def load_list(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        self.append(items)

    def load_dict(self) -> None:
        items = self.pop_mark()
        self.charge(len(items))
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.FROZENSET[0]] = load_frozenset
    dispatch[pickle.TUPLE[0]] = load_tuple
    dispatch[pickle.TUPLE1[0]] = load_tuple1
    dispatch[pickle.TUPLE2[0]] = load_tuple2
    dispatch[pickle.TUPLE3[0]] = load_tuple3
    dispatch[pickle.LIST[0]] = load_list
    dispatch[pickle.DICT[0]] = load_dict

    # --- memo and sizes ------------------------------------------------------------------
    def _memo_index(self, i: int) -> int:
        if i < 0:
            raise ValueError("negative PUT argument")
        if i > self.work_limit:
            raise BudgetError(f"corrupt or hostile pickle: memo index {i} beyond its size")
        return i

    def load_put(self) -> None:
        i = int(self.readline()[:-1])
        self.memo[self._memo_index(i)] = self.stack[-1]

    def load_long_binput(self) -> None:
        (i,) = struct.unpack("<I", self.read(4))
        self.memo[self._memo_index(i)] = self.stack[-1]

    dispatch[pickle.PUT[0]] = load_put
    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput

    def load_frame(self) -> None:
        (frame_size,) = struct.unpack("<Q", self.read(8))
        if frame_size > self._reader.remaining():
            raise _Truncated(
                f"pickle data was truncated (a frame of {frame_size} bytes, "
                f"{self._reader.remaining()} left)"
            )
        self._unframer.load_frame(frame_size)

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise _Truncated(f"pickle data was truncated (a bytearray of {n} bytes)")
        self.append(bytearray(data))

    def load_long4(self) -> None:
        (n,) = struct.unpack("<i", self.read(4))
        if n < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        self.append(pickle.decode_long(self.read(n)))

    def load_binpersid(self) -> None:
        pid = self.stack.pop()
        if type(pid) is not tuple and type(pid) is not int:
            self._violate("BINPERSID of a non-tuple")
        self.append(self.persistent_load(pid))

    def load_persid(self) -> None:
        self._violate("PERSID")
        try:
            pid = self.readline()[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise pickle.UnpicklingError(
                "persistent IDs in protocol 0 must be ASCII strings"
            ) from None
        self.append(self.persistent_load(pid))

    dispatch[pickle.FRAME[0]] = load_frame
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.LONG4[0]] = load_long4
    dispatch[pickle.BINPERSID[0]] = load_binpersid
    dispatch[pickle.PERSID[0]] = load_persid


def run_guarded(vm: PickleVM) -> Any:
    """``vm.load()`` with every failure turned into a one-line ``CheckpointError``."""
    try:
        return vm.load()
    except CheckpointError:
        raise
    except (_Truncated, EOFError) as exc:
        raise TruncatedCheckpointError(f"truncated checkpoint: {exc}") from None
    except RecursionError:
        raise CheckpointError("corrupt checkpoint: its pickle is nested too deeply") from None
    except MemoryError:
        raise BudgetError(
            "corrupt or hostile pickle: it asks for more memory than there is"
        ) from None
    except Exception as exc:
        raise CheckpointError(
            f"corrupt checkpoint: its pickle cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


assert sys.version_info >= (3, 10)
