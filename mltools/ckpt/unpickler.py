"""A restricted, symbolic unpickler: it reads a checkpoint's pickle without running any of it.

It runs on ``PickleVM`` (CPython's opcode semantics, nothing imported or called): torch's
rebuild functions become recorders that produce ``TensorMeta``, a few pure-data builtins
(``OrderedDict``, ``set``, ...) are real, every other global becomes an ``OpaqueObject``
subclass, and globals known to run code (``os.system``, ``builtins.eval``,
``subprocess.*`` ...) are refused with ``UnsafePickleError`` (or recorded, for scan).
Whether a global is *safe* is never decided here by that denylist: it is torch's own
``weights_only`` allowlist (``mltools.ckpt.allowlist``). No torch import is needed.
"""

from __future__ import annotations

import collections
import io
import pickletools
from collections.abc import Callable
from typing import Any

from mltools.ckpt.allowlist import TORCH_BLOCKED_MODULES, allowed_globals
from mltools.ckpt.errors import CheckpointError, UnsafePickleError
from mltools.ckpt.pickle_vm import BoundedReader, GlobalRef, PickleVM, run_guarded
from mltools.ckpt.records import OpaqueObject, StorageRef, TensorMeta, opaque_class

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
        # GHSA-style gadgets: stdlib/torch helpers that run code, commands or files
        "cProfile",
        "profile",
        "trace",
        "pydoc",
        "doctest",
        "ensurepip",
        "venv",
        "logging.config",
        "logging.handlers",
        "torch.utils.collect_env",
        "torch.utils.data.datapipes",
        "torch._export",
        "torch.fx",
        "torch.package",
        "torch.multiprocessing",
        "torch.testing",
        "torch.utils.bottleneck",
        "torch.utils.tensorboard",
        "torch.distributed.run",
        "torch.distributed.elastic",
        "torch.distributed.launcher",
        "_posixsubprocess",
        "_osx_support",
        "_aix_support",
        "imp",
        "zipimport",
        "pkgutil",
        "xmlrpc",
        "socketserver",
        "telnetlib",
        "imaplib",
        "poplib",
        "nntplib",
        "smtpd",
        "wsgiref",
        "idlelib",
        "lib2to3",
        "tkinter",
        "turtle",
        "antigravity",
        "shelve",
        "dbm",
        "sqlite3",
        "tarfile",
        "zipfile",
        "fileinput",
        "mailbox",
        "glob",
        "filecmp",
        "compileall",
        "py_compile",
        "unittest",
        "test",
        "urllib2",
        "httplib",
        "cPickle",
        "copy_reg",
        "operator",
        "_ctypes",
        "cffi",
        "gc",
        "resource",
        "faulthandler",
        "tracemalloc",
        "pstats",
        "readline",
        "rlcompleter",
        "getpass",
        "mmap",
        "select",
        "selectors",
        "ssl",
        "bz2",
        "gzip",
        "lzma",
        "torch.utils._config_module",
        "torch.utils.benchmark",
        "torch.compiler",
        "torch.export",
        "torch.onnx",
        "torch.utils.hipify",
        "torch.utils._cpp_embed_headers",
        "_pyrepl",
        "pydoc_data",
        "aiohttp",
        "httpx",
        "urllib3",
        "paramiko",
        "fabric",
        "invoke",
        "sh",
        "plumbum",
        "pexpect",
        "IPython",
        "jupyter_client",
        "nbconvert",
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
        "pathlib.Path.write_bytes",
        "pathlib.Path.unlink",
        "pathlib.Path.rmdir",
        "pathlib.Path.open",
        "pathlib.PosixPath.write_text",
        "pathlib.PosixPath.write_bytes",
        "pathlib.PosixPath.unlink",
        "pathlib.PosixPath.open",
        "uuid._get_command_stdout",
        "uuid._popen",
        "uuid._find_mac",
        "uuid._find_mac_near_keyword",
        "uuid._ifconfig_getnode",
        "uuid._ip_getnode",
        "uuid._arp_getnode",
        "uuid._lanscan_getnode",
        "uuid._netstat_getnode",
        "uuid.getnode",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "torch.storage._load_from_bytes",
        "torch.serialization.load",
        "torch._weights_only_unpickler.load",
        "torch.nn.Module.load_state_dict",
        "builtins.__builtins__",
        "builtins.type",
        "builtins.object",
        "builtins.super",
        "builtins.classmethod",
        "builtins.staticmethod",
        "builtins.property",
        "builtins.print",
        "builtins.map",
        "builtins.filter",
        "builtins.iter",
        "builtins.next",
        "builtins.dir",
        "builtins.hasattr",
        "builtins.isinstance",
        "builtins.__build_class__",
        "_codecs.decode",
        "codecs.open",
        "codecs.decode",
        "codecs.lookup",
        "numpy.memmap",
        "numpy.ctypeslib",
        "numpy.lib.format.open_memmap",
        "numpy.core._multiarray_umath._reconstruct",
        "pandas.read_pickle",
        "logging.FileHandler",
        "logging.basicConfig",
        "logging.makeLogRecord",
        "logging.config",
        "numpy.savez",
        "numpy.savez_compressed",
        "numpy.savetxt",
        "numpy.genfromtxt",
        "numpy.fromregex",
        "pandas.io.pickle.read_pickle",
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
        "touch",
        "mkdir",
        "makedirs",
        "write_text",
        "write_bytes",
        "unlink",
        "rmdir",
        "rmtree",
        "symlink_to",
        "hardlink_to",
        "chmod",
        "tofile",
        "to_csv",
        "to_pickle",
        "to_parquet",
        "savefig",
        "runcode",
        "runsource",
        "runctx",
        "runcall",
        "run_path",
        "run_module",
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
UNKNOWN = "unknown"


def is_dangerous(name: str) -> bool:
    """Whether ``name`` is on the list of globals known to run code (a name, never a verdict of safety)."""
    if name in DANGEROUS_NAMES:
        return True
    parts = name.split(".")
    for i in range(1, len(parts)):
        if (
            ".".join(parts[:i]) in DANGEROUS_MODULES
            or ".".join(parts[: i + 1]) in DANGEROUS_MODULES
        ):
            return True
    if any(part in DANGEROUS_COMPONENTS for part in parts[1:]):
        return True
    return any(
        part.startswith("__") and part.endswith("__") and part != "__main__" for part in parts[1:]
    )


def classify_global(name: str, *, user_allowed: frozenset[str] | set[str] = frozenset()) -> str:
    """``allowed`` (in torch's weights_only allowlist, or the user's), ``dangerous`` (known to run
    code) or ``needs-allowlist`` (anything else: not safe until someone vouches for it)."""
    module = name.rpartition(".")[0]
    if module.split(".")[0] in TORCH_BLOCKED_MODULES:
        return DANGEROUS
    if name in allowed_globals() or name in user_allowed:
        return ALLOWED
    if is_dangerous(name):
        return DANGEROUS
    return NEEDS_ALLOWLIST


def classify_ref(ref: GlobalRef, user_allowed: frozenset[str] | set[str] = frozenset()) -> str:
    """A global as written, as pickle imports it and as torch looks it up: the worst of the three."""
    names = dict.fromkeys((ref.name, ref.raw, ref.torch))
    if any(classify_global(n) == DANGEROUS for n in names):
        return DANGEROUS
    return classify_global(ref.torch, user_allowed=user_allowed)


def unsafe_error(name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"refusing to unpickle: the checkpoint imports {name}, which can run code",
        global_name=name,
        hint="do not load this file; `mltools ckpt scan` lists every global it would import",
    )


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: carries the dtype only."""

    __slots__ = ("dtype",)  # no __dict__: a BUILD of it fails in C as in the VM

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _DType(str):
    """Stand-in for a ``torch.dtype`` global: its name."""

    __slots__ = ()  # no __dict__: a BUILD of it fails in C as in the VM


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
        dtype or storage.dtype,
        tuple(map(int, size)),
        tuple(map(int, stride)) if stride is not None else None,
        int(storage_offset),
        storage,
        storage.device,
    )


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> TensorMeta:
    return _tensor_from_storage(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: Any, size: Any, stride: Any, *_rest: Any
) -> TensorMeta:
    # _tensor_from_storage, inlined: one call per tensor of a 20,000-tensor file counts
    if not isinstance(storage, StorageRef):
        raise CheckpointError("corrupt checkpoint: a tensor refers to no storage")
    return TensorMeta(
        storage.dtype,
        tuple(map(int, size)),
        tuple(map(int, stride)) if stride is not None else None,
        int(storage_offset),
        storage,
        storage.device,
    )


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
    storage: Any, storage_offset: Any, size: Any, stride: Any, quantizer: Any = None, *_rest: Any
) -> TensorMeta:
    meta = _tensor_from_storage(storage, storage_offset, size, stride)
    if isinstance(quantizer, tuple) and quantizer:
        scheme = getattr(quantizer[0], "qualname", str(quantizer[0]))
        meta.quantizer = (scheme, *quantizer[1:])
    return meta


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


_SPARSE_PARTS = {
    "torch.sparse_coo": ("indices", "values", "size"),
    "torch.sparse_csr": ("crow_indices", "col_indices", "values", "size"),
    "torch.sparse_csc": ("ccol_indices", "row_indices", "values", "size"),
    "torch.sparse_bsr": ("crow_indices", "col_indices", "values", "size"),
    "torch.sparse_bsc": ("ccol_indices", "row_indices", "values", "size"),
}


def _rebuild_sparse(layout: Any, data: Any, *_rest: Any) -> OpaqueObject:
    """A sparse tensor: its parts (indices, values ...) are tensors of their own."""
    obj = opaque_class("torch.sparse_tensor")()
    state: dict[str, Any] = {"layout": str(layout)}
    names = _SPARSE_PARTS.get(str(layout), ())
    parts = data if isinstance(data, (tuple, list)) else (data,)
    for i, part in enumerate(parts):
        state[names[i] if i < len(names) else f"part{i}"] = part
    obj.state = state
    return obj


def _rebuild_nested(
    buffer: Any, sizes: Any, strides: Any, offsets: Any, *_rest: Any
) -> OpaqueObject:
    obj = opaque_class("torch.nested_tensor")()
    obj.state = {"buffer": buffer, "sizes": sizes, "strides": strides, "offsets": offsets}
    return obj


def _encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> Any:
    """``_codecs.encode`` as torch's pickles use it (``str`` to ``latin1`` bytes), nothing else."""
    if isinstance(obj, str) and encoding in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        return obj.encode(encoding, errors if errors in ("strict", "surrogatepass") else "strict")
    return opaque_class("_codecs.encode")(obj, encoding, errors)


_RECORDERS: dict[str, Callable[..., Any]] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_qtensor": _rebuild_qtensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta,
    "torch._utils._rebuild_sparse_tensor": _rebuild_sparse,
    "torch._utils._rebuild_nested_tensor": _rebuild_nested,
    "torch.Size": _size,
    "torch.serialization._get_layout": lambda name="torch.strided": str(name),
    "torch.device": _device,
    # pure-data builtins: real, since they cannot run anything
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.complex": complex,
    "builtins.bytearray": bytearray,
    "builtins.bytes": bytes,
    "builtins.slice": slice,
    "_codecs.encode": _encode,
}


class SymbolicUnpickler(PickleVM):
    """Unpickles into plain containers, ``TensorMeta`` and ``OpaqueObject`` without running code.

    ``storages`` maps a storage key to a ``StorageRef`` (the caller fills in where the bytes
    are). With ``record_only=True`` dangerous globals are recorded instead of refused (scan),
    and a stand-in that fails on its arguments becomes an opaque object so the scan goes on.
    ``legacy=True`` reads the legacy format's persistent ids (with a view-metadata field).
    ``on_nested(data)`` is called with the bytes of a nested pickle
    (``torch.storage._load_from_bytes``).
    """

    def __init__(
        self,
        file: Any,
        *,
        record_only: bool = False,
        legacy: bool = False,
        file_name: str = "",
        size: int | None = None,
        on_nested: Callable[[bytes], None] | None = None,
    ) -> None:
        super().__init__(file, size=size)
        self.record_only = record_only
        self.legacy = legacy
        self.file_name = file_name
        self.on_nested = on_nested
        self.storages: dict[str, StorageRef] = {}
        self.globals: list[str] = []
        self._classes: dict[str, type[OpaqueObject]] = {}
        self._allowed = allowed_globals()

    def resolve_global(self, ref: GlobalRef) -> Any:
        qualname = ref.name
        if qualname not in self.globals:
            self.globals.append(qualname)
        if ref.torch not in self._allowed:
            self._violate(f"GLOBAL {ref.torch}")
        if classify_ref(ref) == DANGEROUS and not self.record_only:
            raise unsafe_error(qualname)
        for name in (ref.torch, qualname):
            if name in _RECORDERS:
                return _RECORDERS[name]
            module, _, attr = name.rpartition(".")
            if module in ("torch", "torch.cuda"):
                if attr in _STORAGE_DTYPES:
                    return _StorageType(_STORAGE_DTYPES[attr])
                if attr in _DTYPE_NAMES:
                    return _DType(attr)
            if name == "torch.storage.UntypedStorage":
                return _StorageType("uint8")
        if qualname not in self._classes:
            self._classes[qualname] = opaque_class(qualname)
        return self._classes[qualname]

    def allowed_callable(self, func: Any) -> bool:
        made = self._made_by.get(id(func))
        return made is not None and made[1] in self._allowed

    def call_result_of_non_global(self, func: Any, args: tuple[Any, ...]) -> Any:
        if not self.record_only:
            raise UnsafePickleError(
                "refusing to unpickle: the checkpoint calls an object that is not a global "
                "(a gadget chain)",
                global_name="",
            )
        return opaque_class("<call of a call result>")(*args)

    def call_standin(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if func in (bytearray, bytes) and args and isinstance(args[0], int):
            self.charge(args[0], f"bytearray({args[0]})")
        name = self._made_by.get(id(func), (None, "?"))[1]
        nested = name == "torch.storage._load_from_bytes" and args and isinstance(args[0], bytes)
        if nested and self.on_nested is not None:
            self.on_nested(args[0])
        try:
            return func(*args, **kwargs)
        except CheckpointError:
            if not self.record_only:
                raise
        except Exception as exc:
            if not self.record_only:
                raise CheckpointError(
                    f"corrupt checkpoint: {name}(...) fails ({type(exc).__name__}: {str(exc)[:100]})"
                ) from None
        return opaque_class(name)(*args)

    def build(self, inst: Any, state: Any) -> None:
        if isinstance(inst, OpaqueObject):
            inst.__setstate__(state)
            return
        if isinstance(inst, TensorMeta):
            return  # torch's legacy set_() / tensor attributes: nothing to record
        if type(inst) in (collections.OrderedDict, collections.Counter):
            slotstate = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slotstate = state
            for part in (state, slotstate):
                if part and isinstance(part, dict):
                    for k, v in part.items():
                        if type(k) is str:
                            inst.__dict__[k] = v
                elif part:
                    raise CheckpointError(
                        "corrupt checkpoint: BUILD with a state that is not a dict"
                    )
            return
        self._violate(f"BUILD of a {type(inst).__name__}")
        if not self.record_only:
            raise CheckpointError(f"corrupt checkpoint: BUILD of a {type(inst).__name__}")

    def persistent_load(self, pid: Any) -> Any:
        if (
            self.legacy
            and isinstance(pid, tuple)
            and len(pid) == 4
            and pid[0] in ("module", b"module")
        ):
            return pid[1]  # ('module', class, source file, source): a pickled module's class
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise CheckpointError(f"corrupt checkpoint: unknown persistent id {pid!r:.60}")
        try:
            if self.legacy:
                # ('storage', storage_type, root_key, location, numel, view_metadata)
                _, storage_type, key, location, numel = pid[:5]
            else:
                # ('storage', storage_type, key, location, numel)
                _, storage_type, key, location, numel = pid
            numel = int(numel)
        except (ValueError, TypeError):
            raise CheckpointError(f"corrupt checkpoint: bad persistent id {pid!r:.60}") from None
        if numel < 0:
            raise CheckpointError(f"corrupt checkpoint: a storage of {numel} elements")
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else "uint8"
        key = str(key)
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(
                key=key, dtype=dtype, numel=numel, device=str(location), file=self.file_name
            )
            self.storages[key] = ref
        return ref


def symbolic_load(
    data: bytes | io.BufferedIOBase,
    *,
    record_only: bool = False,
    file_name: str = "",
    legacy: bool = False,
) -> tuple[Any, SymbolicUnpickler]:
    """Unpickle ``data`` symbolically; corrupt input becomes a one-line ``CheckpointError``.

    Bytes of a plain-data pickle take the fast route (``pickle_fast``: a validating pre-pass,
    then the C unpickler over the same stand-ins); anything it cannot prove runs on the VM.
    """
    if isinstance(data, bytes) and not record_only and not legacy:
        from mltools.ckpt.pickle_fast import fast_load

        unpickler = SymbolicUnpickler(BoundedReader(data), file_name=file_name)
        done, root = fast_load(data, unpickler)
        if done:
            return root, unpickler
    unpickler = SymbolicUnpickler(
        BoundedReader(data), record_only=record_only, file_name=file_name, legacy=legacy
    )
    return run_guarded(unpickler), unpickler


def pickle_globals(data: bytes) -> list[str]:
    """Globals named by GLOBAL/INST opcodes, read with pickletools (no execution).

    A cross-check that still works on a pickle that breaks off early. A ``STACK_GLOBAL``
    takes its names from the stack; pickletools cannot know them, so it is listed as
    ``<unknown STACK_GLOBAL>`` (which is never allowed and never suggested).
    """
    found: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.append(f"{module}.{attr}")
            elif op.name == "STACK_GLOBAL":
                found.append("<unknown STACK_GLOBAL>")
    except Exception:
        pass  # a truncated pickle: report what was seen
    return list(dict.fromkeys(found))
