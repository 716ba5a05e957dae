"""What crosses the process boundary: a chunk's recorded calls, exceptions and warnings.

Workers never hand a raw exception or a raw result to the backend's own
pickling: a class whose ``__init__`` takes two arguments pickles but does not
unpickle, a lock does not pickle at all, and either can break or hang a pool.
``run_task`` returns bytes (see ``encode``); an exception travels as
``Carried``, which rebuilds the original when it can and a faithful stand-in
(same type name and message, same built-in base, the row label) when it cannot.
"""

from __future__ import annotations

import importlib
import pickle
import traceback
from dataclasses import dataclass, field
from typing import Any

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def dumps(obj: Any) -> bytes:
    """pickle, then cloudpickle (lambdas, local classes) when plain pickle refuses."""
    try:
        return pickle.dumps(obj, protocol=_PROTOCOL)
    except Exception:
        import cloudpickle

        return cloudpickle.dumps(obj, protocol=_PROTOCOL)


class RemoteTraceback(Exception):
    """The traceback of an exception as it was in the worker (set as its ``__cause__``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StandIn(Exception):
    """Mixed into the stand-in class of an exception that could not be rebuilt in the caller."""


@dataclass
class Carried:
    """An exception from a worker, with everything needed to raise it (or its twin) here."""

    blob: bytes | None
    module: str
    qualname: str
    message: str
    bases: tuple[str, ...]
    args_blob: bytes | None = None
    state_blob: bytes | None = None
    location: str | None = None
    notes: tuple[str, ...] = ()
    remote_tb: str = ""
    role: str = "func"  # "func": func raised; "pandas": pandas raised; "transport": a result

    @classmethod
    def of(cls, exc: BaseException, *, role: str = "func") -> Carried:
        blob = None
        try:
            blob = dumps(exc)
            pickle.loads(blob)  # a class with a 2-argument __init__ pickles, then fails here
        except Exception:
            blob = None
        kind = type(exc)
        bases = tuple(t.__name__ for t in kind.__mro__ if t.__module__ == "builtins")
        args_blob = _try_dumps(exc.args)
        state = {k: v for k, v in vars(exc).items() if k != "__notes__"}
        return cls(
            blob=blob,
            module=kind.__module__,
            qualname=kind.__qualname__,
            message=_safe_str(exc),
            bases=bases,
            args_blob=args_blob,
            state_blob=_try_dumps(state),
            location=getattr(exc, "mltools_location", None),
            notes=tuple(getattr(exc, "__notes__", ()) or ()),
            remote_tb="".join(traceback.format_exception(exc)),
            role=role,
        )

    def rebuild(self) -> BaseException:
        exc = None
        if self.blob is not None:
            try:
                exc = pickle.loads(self.blob)
            except Exception:
                exc = None
        if exc is None:
            exc = self._twin()
        if exc.__cause__ is None and self.remote_tb:
            exc.__cause__ = RemoteTraceback(f"\n'''\n{self.remote_tb}'''")
        return exc

    def _twin(self) -> BaseException:
        """The original class (made without ``__init__``) if it imports here, else a stand-in."""
        kind = _import_class(self.module, self.qualname)
        exc: BaseException | None = None
        if kind is not None:
            try:
                exc = kind.__new__(kind)
                exc.args = _try_loads(self.args_blob, (self.message,))
                state = _try_loads(self.state_blob, {})
                for key, value in state.items():
                    setattr(exc, key, value)
                if _safe_str(exc) != self.message:
                    exc = None
            except Exception:
                exc = None
        if exc is None:
            import builtins

            base = next(
                (
                    getattr(builtins, name)
                    for name in self.bases
                    if isinstance(getattr(builtins, name, None), type)
                    and issubclass(getattr(builtins, name), Exception)
                ),
                Exception,
            )
            name = self.qualname.rsplit(".", 1)[-1]
            stand_in = type(
                name,
                (base, StandIn) if base is not Exception else (StandIn,),
                {"__module__": self.module, "__qualname__": self.qualname},
            )
            exc = stand_in(*_try_loads(self.args_blob, (self.message,)))
            if _safe_str(exc) != self.message:
                exc = stand_in(self.message)
            if self.location is not None:
                exc.mltools_location = self.location  # type: ignore[attr-defined]
        if self.notes and not getattr(exc, "__notes__", None):
            exc.__notes__ = list(self.notes)  # type: ignore[attr-defined]
        return exc


@dataclass
class Raised:
    """A call of ``func`` that raised (pandas may have caught it and gone on)."""

    error: Carried


@dataclass
class Warned:
    """A warning that ``func`` raised during call ``call`` of a chunk."""

    call: int
    category: Any
    message: str
    filename: str
    lineno: int


@dataclass
class ChunkResult:
    """What a worker sends back for one chunk."""

    values: list[Any]
    warned: list[Warned] = field(default_factory=list)
    escaped: Carried | None = None  # the exception that ended pandas' call on the chunk
    recovered: bool = False  # pandas caught an exception of func and called it again


def encode(result: ChunkResult, describe: Any) -> bytes:
    """The chunk's result as bytes; an unpicklable value becomes a one-line error naming it."""
    try:
        return dumps(result)
    except Exception as exc:
        for k, value in enumerate(result.values):
            try:
                dumps(value)
            except Exception as bad:
                where = describe(k)
                error = TypeError(
                    f"the function returned a value that cannot be sent back from a worker "
                    f"process ({type(value).__name__} at {where}: {_safe_str(bad)})"
                )
                error.mltools_location = where  # type: ignore[attr-defined]
                return dumps(ChunkResult(values=[], escaped=Carried.of(error, role="transport")))
        warned = [w for w in result.warned if _try_dumps(w) is not None]
        if len(warned) != len(result.warned):
            return encode(
                ChunkResult(result.values, warned, result.escaped, result.recovered), describe
            )
        error = TypeError(f"a chunk's result cannot be sent back from a worker process: {exc}")
        return dumps(ChunkResult(values=[], escaped=Carried.of(error, role="transport")))


def decode(blob: bytes) -> ChunkResult:
    try:
        return pickle.loads(blob)
    except Exception as exc:
        error = TypeError(
            f"a value the function returned cannot be rebuilt in the calling process: "
            f"{type(exc).__name__}: {_safe_str(exc)}"
        )
        return ChunkResult(values=[], escaped=Carried.of(error, role="transport"))


def _try_dumps(obj: Any) -> bytes | None:
    try:
        blob = dumps(obj)
        pickle.loads(blob)
        return blob
    except Exception:
        return None


def _try_loads(blob: bytes | None, default: Any) -> Any:
    if blob is None:
        return default
    try:
        return pickle.loads(blob)
    except Exception:
        return default


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return repr(exc.args)


def _import_class(module: str, qualname: str) -> type | None:
    if "<locals>" in qualname:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None
