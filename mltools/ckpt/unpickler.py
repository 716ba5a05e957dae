"""A restricted, symbolic unpickler: it reads a checkpoint's pickle without running any of it.

``find_class`` never hands back a real callable from the pickle: torch's rebuild
functions become recorders that produce ``TensorMeta``, a few pure-data builtins
(``OrderedDict``, ``set``, ...) are real, every other global becomes an
``OpaqueObject`` subclass, and globals that can run code (``os.system``,
``builtins.eval``, ``subprocess.*`` ...) are refused with ``UnsafePickleError``.
No torch import is needed.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import pickletools
from collections.abc import Callable
from typing import Any

from mltools.ckpt.errors import CheckpointError, UnsafePickleError
from mltools.ckpt.records import OpaqueObject, StorageRef, TensorMeta, opaque_class

# Globals torch's weights_only unpickler accepts by default (torch 2.13, _get_allowed_globals),
# plus the dtype and storage names matched by pattern below.
WEIGHTS_ONLY_ALLOWED: frozenset[str] = frozenset(
    {
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.set",
        "collections.Counter",
        "collections.OrderedDict",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch._tensor._rebuild_from_type_v2",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_wrapper_subclass",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.per_channel_affine",
        "torch.per_channel_affine_float_qparams",
        "torch.per_channel_symmetric",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
    }
)

# Modules whose globals can run code, touch files, processes or the network. Refused everywhere.
DANGEROUS_MODULES: frozenset[str] = frozenset(
    {
        "os",
        "posix",
        "nt",
        "posixpath",
        "ntpath",
        "subprocess",
        "sys",
        "shutil",
        "socket",
        "importlib",
        "runpy",
        "pty",
        "code",
        "codeop",
        "webbrowser",
        "ctypes",
        "multiprocessing",
        "pickle",
        "_pickle",
        "marshal",
        "dill",
        "cloudpickle",
        "joblib",
        "tempfile",
        "signal",
        "asyncio",
        "threading",
        "_thread",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "requests",
        "pdb",
        "bdb",
        "timeit",
        "platform",
        "commands",
        "popen2",
        "inspect",
        "linecache",
        "site",
        "sysconfig",
        "distutils",
        "setuptools",
        "pip",
        "torch.hub",
        "torch.utils.cpp_extension",
        "torch.jit",
        "torch.ops",
        "torch._dynamo",
        "torch._inductor",
        "numpy.testing",
        "numpy.f2py",
    }
)
DANGEROUS_NAMES: frozenset[str] = frozenset(
    {
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.open",
        "builtins.__import__",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.breakpoint",
        "builtins.input",
        "builtins.exit",
        "builtins.quit",
        "builtins.help",
        "builtins.memoryview",
        "builtins.apply",
        "builtins.execfile",
        "__builtin__.eval",
        "__builtin__.exec",
        "__builtin__.getattr",
        "__builtin__.open",
        "__builtin__.__import__",
        "__builtin__.execfile",
        "io.open",
        "io.FileIO",
        "_io.open",
        "_io.FileIO",
        "operator.attrgetter",
        "operator.methodcaller",
        "functools.reduce",
        "copyreg._reconstructor",
        "types.FunctionType",
        "types.LambdaType",
        "types.CodeType",
        "types.MethodType",
        "types.ModuleType",
        "torch.load",
        "torch.save",
        "torch.classes",
        "numpy.load",
        "numpy.save",
        "numpy.loadtxt",
        "numpy.fromfile",
        "numpy.lib.npyio.load",
        "pathlib.Path.write_text",
    }
)

# Attribute names that, anywhere after the module (protocol 4 resolves dotted names such as
# ``pathlib.os.system``), reach code execution or the interpreter's internals.
DANGEROUS_COMPONENTS: frozenset[str] = frozenset(
    {
        "os",
        "posix",
        "nt",
        "sys",
        "subprocess",
        "builtins",
        "__builtins__",
        "importlib",
        "system",
        "popen",
        "spawnl",
        "spawnv",
        "execl",
        "execv",
        "execve",
        "eval",
        "exec",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "globals",
        "__globals__",
        "__subclasses__",
        "__code__",
        "__dict__",
        "__class__",
        "__base__",
        "__bases__",
        "__mro__",
        "__init__",
        "__call__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__setstate__",
        "load",
        "loads",
    }
)

_STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
    "Float8_e4m3fnStorage": "float8_e4m3fn",
    "Float8_e5m2Storage": "float8_e5m2",
    "UInt16Storage": "uint16",
    "UInt32Storage": "uint32",
    "UInt64Storage": "uint64",
}
_DTYPE_NAMES = frozenset(
    {
        "float64",
        "float32",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
        "complex128",
        "complex64",
        "complex32",
        "float8_e4m3fn",
        "float8_e5m2",
        "float8_e4m3fnuz",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
        "float4_e2m1fn_x2",
        "qint8",
        "quint8",
        "qint32",
        "quint4x2",
        "quint2x4",
        "bits8",
        "bits16",
        "bits1x8",
        "bits2x4",
        "bits4x2",
        "int1",
        "int2",
        "int3",
        "int4",
        "int5",
        "int6",
        "int7",
        "uint1",
        "uint2",
        "uint3",
        "uint4",
        "uint5",
        "uint6",
        "uint7",
    }
)

ALLOWED = "allowed"
NEEDS_ALLOWLIST = "needs-allowlist"
DANGEROUS = "dangerous"


def classify_global(name: str) -> str:
    """``allowed`` (weights_only=True accepts it), ``dangerous`` (can run code) or ``needs-allowlist``."""
    module, _, attr = name.rpartition(".")
    if name in DANGEROUS_NAMES:
        return DANGEROUS
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) in DANGEROUS_MODULES:
            return DANGEROUS
    if any(part in DANGEROUS_COMPONENTS for part in name.split(".")[1:]):
        return DANGEROUS
    if name in WEIGHTS_ONLY_ALLOWED:
        return ALLOWED
    if module in ("torch", "torch.cuda") and (
        attr in _DTYPE_NAMES or attr in _STORAGE_DTYPES or attr.endswith("Tensor")
    ):
        return ALLOWED
    if module in ("torch.sparse", "torch.cuda.sparse") and attr.endswith("Tensor"):
        return ALLOWED
    return NEEDS_ALLOWLIST


def unsafe_error(name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"refusing to unpickle: the checkpoint imports {name}, which can run code",
        global_name=name,
        hint="do not load this file; `mltools ckpt scan` lists every global it would import",
    )


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: carries the dtype only."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _DType(str):
    """Stand-in for a ``torch.dtype`` global: its name."""


def _size(*args: Any) -> tuple[int, ...]:
    return tuple(args[0]) if args else ()


def _device(*args: Any) -> str:
    if len(args) == 2:
        return f"{args[0]}:{args[1]}"
    return str(args[0]) if args else "cpu"


def _tensor_from_storage(
    storage: Any, storage_offset: Any, size: Any, stride: Any, dtype: str | None = None
) -> TensorMeta:
    if not isinstance(storage, StorageRef):
        raise CheckpointError("corrupt checkpoint: a tensor refers to no storage")
    return TensorMeta(
        dtype=dtype or storage.dtype,
        shape=tuple(int(s) for s in size),
        stride=tuple(int(s) for s in stride) if stride is not None else None,
        storage_offset=int(storage_offset),
        storage=storage,
        device=storage.device,
    )


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> TensorMeta:
    return _tensor_from_storage(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: Any, size: Any, stride: Any, *_rest: Any
) -> TensorMeta:
    return _tensor_from_storage(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    *_rest: Any,
) -> TensorMeta:
    return _tensor_from_storage(storage, storage_offset, size, stride, str(dtype))


def _rebuild_qtensor(
    storage: Any, storage_offset: Any, size: Any, stride: Any, *_rest: Any
) -> TensorMeta:
    return _tensor_from_storage(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    if isinstance(data, TensorMeta):
        data.parameter = True
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    return func(*args)


def _rebuild_meta(dtype: Any, size: Any, stride: Any, *_rest: Any) -> TensorMeta:
    return TensorMeta(
        dtype=str(dtype), shape=tuple(size), stride=tuple(stride) if stride else None, device="meta"
    )


_RECORDERS: dict[str, Callable[..., Any]] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_qtensor": _rebuild_qtensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta,
    "torch.Size": _size,
    "torch.device": _device,
    # pure-data builtins: real, since they cannot run anything
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.complex": complex,
    "builtins.bytearray": bytearray,
    "builtins.slice": slice,
    "_codecs.encode": codecs.encode,
}


class SymbolicUnpickler(pickle.Unpickler):
    """Unpickles into plain containers, ``TensorMeta`` and ``OpaqueObject`` without running code.

    ``storages`` maps a storage key to a ``StorageRef`` (the caller fills in where the bytes
    are). With ``record_only=True`` dangerous globals are recorded instead of refused (scan).
    ``legacy=True`` reads the legacy format's persistent ids (with a view-metadata field).
    """

    def __init__(
        self, file: Any, *, record_only: bool = False, legacy: bool = False, file_name: str = ""
    ) -> None:
        super().__init__(file)
        self.record_only = record_only
        self.legacy = legacy
        self.file_name = file_name
        self.storages: dict[str, StorageRef] = {}
        self.globals: list[str] = []
        self._classes: dict[str, type[OpaqueObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        qualname = f"{module}.{name}"
        if qualname not in self.globals:
            self.globals.append(qualname)
        if classify_global(qualname) == DANGEROUS and not self.record_only:
            raise unsafe_error(qualname)
        if qualname in _RECORDERS:
            return _RECORDERS[qualname]
        if module in ("torch", "torch.cuda"):
            if name in _STORAGE_DTYPES:
                return _StorageType(_STORAGE_DTYPES[name])
            if name in _DTYPE_NAMES:
                return _DType(name)
        if qualname == "torch.storage.UntypedStorage":
            return _StorageType("uint8")
        if qualname not in self._classes:
            self._classes[qualname] = opaque_class(qualname)
        return self._classes[qualname]

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError(f"corrupt checkpoint: unknown persistent id {pid!r:.60}")
        if self.legacy:
            # ('storage', storage_type, root_key, location, numel, view_metadata)
            _, storage_type, key, location, numel = pid[:5]
        else:
            # ('storage', storage_type, key, location, numel)
            _, storage_type, key, location, numel = pid
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else "uint8"
        key = str(key)
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(
                key=key, dtype=dtype, numel=int(numel), device=str(location), file=self.file_name
            )
            self.storages[key] = ref
        return ref


def symbolic_load(
    data: bytes | io.BufferedIOBase, *, record_only: bool = False, file_name: str = ""
) -> tuple[Any, SymbolicUnpickler]:
    """Unpickle ``data`` symbolically; corrupt input becomes ``CheckpointError``."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    unpickler = SymbolicUnpickler(stream, record_only=record_only, file_name=file_name)
    try:
        obj = unpickler.load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("corrupt checkpoint: its pickle is nested too deeply") from None
    except Exception as exc:
        raise CheckpointError(
            f"corrupt checkpoint: its pickle cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    return obj, unpickler


def pickle_globals(data: bytes) -> list[str]:
    """Globals named by GLOBAL/INST/STACK_GLOBAL opcodes, read with pickletools (no execution).

    STACK_GLOBAL takes its names from the stack; this follows the string pushes and the
    memo the way the pickler writes them. It is a cross-check of ``find_class``'s record,
    and still works on a pickle that breaks off early.
    """
    found: list[str] = []
    memo: dict[int, Any] = {}
    recent: list[Any] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.append(f"{module}.{attr}")
                recent.append(None)
            elif name == "STACK_GLOBAL":
                if len(recent) >= 2 and all(isinstance(x, str) for x in recent[-2:]):
                    found.append(f"{recent[-2]}.{recent[-1]}")
                else:
                    found.append("<unresolved STACK_GLOBAL>")
                recent.append(None)
            elif name in ("MEMOIZE",):
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = recent[-1] if recent else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg)))
            elif (isinstance(arg, str) and "UNICODE" in name) or name in (
                "STRING",
                "SHORT_BINSTRING",
            ):
                recent.append(arg)
            elif name not in ("FRAME", "PROTO", "MARK", "STOP"):
                recent.append(None)
            if len(recent) > 64:
                del recent[:-8]
    except Exception:
        pass  # a truncated pickle: report what was seen
    return list(dict.fromkeys(found))
