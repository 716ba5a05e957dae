"""Tables in and out for ``mltools apply``: CSV, Parquet, JSON Lines (by extension), atomic writes,
and loading a user function from ``module:function`` or ``path.py:function``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mltools._deps import require
from mltools._inputs import InputTooLargeError, check_input, show_path
from mltools._outputs import write_atomic
from mltools.errors import (
    InputError,
    MissingDependencyError,
    MltoolsError,
    UsageError,
    first_line,
)

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: str | os.PathLike[str]) -> str:
    """``csv``, ``tsv``, ``parquet`` or ``jsonl`` from the file name (``.gz`` etc. allowed for text)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst") and len(suffixes) > 1:
        suffixes = suffixes[:-1]
        if FORMATS.get(suffixes[-1]) == "parquet":
            suffixes = []
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise UsageError(
            f"cannot tell the table format of {os.fspath(path)!r} from its extension",
            hint="use .csv, .tsv, .parquet, .pq, .jsonl or .ndjson (text formats may end in .gz)",
        )
    return fmt


STDIN = "-"
FORMAT_NAMES = ("csv", "tsv", "jsonl", "parquet")


def check_format(fmt: str) -> str:
    """``fmt`` if it names a table format (``--format``), else a usage error."""
    if fmt not in FORMAT_NAMES:
        raise UsageError(f"unknown --format {fmt!r}", hint=f"use one of: {', '.join(FORMAT_NAMES)}")
    return fmt


def read_table(path: str | os.PathLike[str], *, fmt: str | None = None) -> Any:
    """Read a CSV/TSV, Parquet or JSON Lines file into a DataFrame.

    ``path`` ``-`` reads standard input (a pipe: ``... | mltools apply - --format csv``);
    ``fmt`` names the format there, or overrides the file's extension. Only a regular
    file is read from a name (a FIFO or ``/dev/zero`` would never end), and an input
    larger than this machine's memory is refused (a file before reading starts, a pipe
    as soon as it has sent that much).
    """
    if os.fspath(path) == STDIN:
        return _read_stdin(check_format(fmt or "csv"))
    fmt = check_format(fmt) if fmt is not None else table_format(path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {show_path(p)}", hint="check the path")
    if p.is_dir():
        raise InputError(f"is a directory, not a table: {show_path(p)}")
    import psutil

    memory = psutil.virtual_memory().total
    st = check_input(p, what="table")
    if st.st_size > memory:
        raise InputTooLargeError(
            f"table is larger than this machine's memory: {show_path(p)} "
            f"({st.st_size} bytes, {memory} bytes of memory)",
            hint="mltools apply reads the whole table; split it, or use dask's own readers",
        )
    return _parse(p, fmt, show_path(p))


def _parse(source: Any, fmt: str, name: str) -> Any:
    """``source`` (a path or a binary file object) parsed as ``fmt``."""
    pd = require("pandas")
    try:
        if fmt == "csv":
            return pd.read_csv(source)
        if fmt == "tsv":
            return pd.read_csv(source, sep="\t")
        if fmt == "parquet":
            require("pyarrow")
            return pd.read_parquet(source)
        return pd.read_json(source, lines=True)
    except (PermissionError, FileNotFoundError, MissingDependencyError):
        raise
    except Exception as exc:
        first = first_line(exc)
        raise InputError(
            f"cannot read {name} as {fmt}: {first}",
            hint="check that the input is complete and that its format is the one named",
        ) from exc


def _read_stdin(fmt: str) -> Any:
    """Standard input, read whole (at most this machine's memory), parsed as ``fmt``."""
    import io

    import psutil

    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(
            "'-' reads the table from standard input, and that is a terminal",
            hint="pipe a table in: cat data.csv | mltools apply - --format csv ...",
        )
    limit = psutil.virtual_memory().total
    buffer = io.BytesIO()
    stream = sys.stdin.buffer
    while chunk := stream.read(1 << 20):
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise InputTooLargeError(
                f"standard input sent more than this machine's memory ({limit} bytes)",
                hint="mltools apply reads the whole table; split it, or use dask's own readers",
            )
    buffer.seek(0)
    return _parse(buffer, fmt, "standard input")


def write_stream(df: Any, stream: Any, fmt: str) -> None:
    """Write ``df`` (without its index) as ``fmt`` to a binary stream (stdout into a pipe)."""
    if fmt == "parquet":
        require("pyarrow")
        df.to_parquet(stream, index=False)
    elif fmt == "jsonl":
        text = df.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
        stream.write(text.encode("utf-8"))
    else:
        text = df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",")
        stream.write(text.encode("utf-8"))
    stream.flush()


def write_table(df: Any, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Write ``df`` (without its index) to ``path`` atomically: a temp file, then a rename.

    A crash, Ctrl-C or SIGTERM never leaves a half-written ``path`` or a temp file;
    the old file, if any, stays until the new one is complete. An existing ``path``
    is replaced only with ``overwrite`` (and never when it is not a regular file);
    its mode is kept, a new file gets the umask's (``mltools._outputs``).
    """
    fmt = table_format(path)
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"the output directory does not exist: {show_path(directory)}")
    compression = _compression(target)

    def write(tmp: Path) -> None:
        if fmt == "csv":
            df.to_csv(tmp, index=False, compression=compression)
        elif fmt == "tsv":
            df.to_csv(tmp, index=False, sep="\t", compression=compression)
        elif fmt == "parquet":
            require("pyarrow")
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(
                tmp,
                orient="records",
                lines=True,
                date_format="iso",
                force_ascii=False,
                compression=compression,
            )

    def guarded(tmp: Path) -> None:
        try:
            write(tmp)
        except (OSError, MltoolsError):
            raise
        except Exception as exc:
            first = first_line(exc)
            raise InputError(
                f"cannot write the result as {fmt}: {first}",
                hint="a column holds values this format cannot store; try .jsonl or .csv",
            ) from exc

    write_atomic(target, guarded, overwrite=overwrite)


def _compression(path: Path) -> str | None:
    return {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}.get(path.suffix.lower())


def load_function(spec: str) -> Callable[..., Any]:
    """Load ``module:function`` (importable, or from the current directory) or ``file.py:function``.

    A function from a file is pickled by value, so that worker processes that
    cannot import the file still get it.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise UsageError(
            f"--func must look like module:function or path.py:function, not {spec!r}",
            hint="e.g. --func mypackage.features:score or --func ./features.py:score",
        )
    if where.endswith(".py") or os.sep in where:
        module = _module_from_file(Path(where))
    else:
        module = _import_module(where)
    func: Any = module
    for part in name.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise UsageError(
                f"{where} has no function {name!r}",
                hint=f"define {name} in {where}, or check the spelling",
            )
    if not callable(func):
        raise UsageError(f"{spec} is a {type(func).__name__}, not a function")
    return func


def _import_module(name: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UsageError(
                f"cannot import module {name!r} for --func",
                hint="check the name, or give a file: --func path/to/file.py:function",
            ) from exc
        raise InputError(f"importing {name} failed: {exc}") from exc
    except Exception as exc:
        raise InputError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc
    top = sys.modules[name.partition(".")[0]]
    if _found_in(top, cwd):
        _pickle_by_value(top)  # workers elsewhere (a Dask cluster) cannot import it by name
    return module


def _found_in(top: Any, folder: str) -> bool:
    """Whether the top-level module or package ``top`` was found in ``folder`` itself
    (``folder/name.py`` or ``folder/name/__init__.py``), as the current directory's entry
    on ``sys.path`` finds it."""
    where = getattr(top, "__file__", None)
    if where is None:
        return False
    path = Path(where)
    home = path.parent.parent if path.name == "__init__.py" else path.parent
    try:
        return home.resolve() == Path(folder).resolve()
    except OSError:
        return False


def _module_from_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"--func file not found: {path}", hint="check the path to the .py file")
    module_name = f"_mltools_func_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise InputError(f"running {path} failed: {type(exc).__name__}: {exc}") from exc
    _pickle_by_value(module)
    return module


def _pickle_by_value(module: Any) -> None:
    """Tell cloudpickle (joblib's copy, and dask's) to ship this module's functions by value."""
    for name in ("joblib.externals.cloudpickle", "cloudpickle"):
        try:
            cloudpickle = importlib.import_module(name)
        except ImportError:
            continue
        cloudpickle.register_pickle_by_value(module)
