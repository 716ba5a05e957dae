"""The one option policy for numbers: nan, inf, negative and absurd values are usage errors.

``harden(command)`` walks a built Click command (groups included) and gives every
INT/FLOAT option a bounded range type: floats must be finite, and every number
must lie in the range of ``LIMITS`` (by option name), else the default: floats
(all of them are seconds here) at most a week, ints at most 2**31 - 1. The error
is Click's usage error (exit 2) naming the allowed range, e.g.
``Invalid value for '--grace': 'nan' is not a finite number in the range 0<=x<=604800.``

The root group applies it when it builds a command, so a new option is covered
without anyone remembering to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from typer._click import types as click_types

from mltools.errors import UsageError
from mltools.units import parse_age, parse_size

WEEK_SECONDS = 7 * 86400
INT_MAX = 2**31 - 1
MAX_WORKERS = 256  # worker processes: filetype -j, apply -w
MAX_RANKS = 64  # local ranks a smoke test starts

# option name -> (min, max); None keeps what the command declared
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "--pid": (1, INT_MAX),  # pid_t; a bigger one cannot even be looked up
    "--port": (1, 65535),
    "--gpu": (0, 1023),
    "--gpus": (0, 1024),
    "--count": (1, 1024),
    "--samples": (1, 1000),
    "--nproc": (1, MAX_RANKS),
    "--inject-rank": (0, MAX_RANKS - 1),
    "--max-bytes": (None, 2**40),
    "--depth": (1, 10000),
    "--top": (1, 10**6),
    "--workers": (1, MAX_WORKERS),
    "--chunksize": (1, INT_MAX),
}


# text options read by a parser later (sizes, ages), by option name: checked at parse time so
# a bad value is Click's usage error that names the option
CHECKED_TEXT: dict[str, Callable[[str], Any]] = {
    "--smaller": parse_size,
    "--larger": parse_size,
    "--min-free-mem": parse_size,
    "--older-than": parse_age,
    "--newer-than": parse_age,
}


class CheckedText(click_types.StringParamType):
    """A size or an age, refused at parse time with the option's name (``Invalid value for
    '--older-than': not an age: ''``); the value stays the text the user wrote, so
    ``clean --print-cron`` replays ``7d``, not seconds."""

    def __init__(self, parse: Callable[[str], Any]) -> None:
        self.parse = parse

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        text = super().convert(value, param, ctx)
        try:
            self.parse(text)
        except UsageError as exc:
            self.fail(f"{exc.message} ({exc.hint})" if exc.hint else exc.message, param, ctx)
        return text


def _fail_not_finite(self: Any, value: Any, param: Any, ctx: Any) -> None:
    if isinstance(value, (str, float)):
        try:
            number = float(value)
        except ValueError:
            return
        if not math.isfinite(number):
            self.fail(
                f"{value!r} is not a finite number in the range {self._describe_range()}.",
                param,
                ctx,
            )


class FiniteFloatRange(click_types.FloatRange):
    """A float range that also refuses nan and inf (``1e309`` is inf)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        _fail_not_finite(self, value, param, ctx)
        return super().convert(value, param, ctx)


class BoundedIntRange(click_types.IntRange):
    """An int range whose error names the allowed range."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        _fail_not_finite(self, value, param, ctx)
        return super().convert(value, param, ctx)


def _long_name(param: Any) -> str | None:
    names = [o for o in param.opts if o.startswith("--")]
    return names[0] if names else None


def _bounded(param: Any) -> Any | None:
    t = param.type
    is_float = isinstance(t, click_types.FloatParamType)
    is_int = isinstance(t, click_types.IntParamType)
    if not (is_float or is_int) or isinstance(t, (FiniteFloatRange, BoundedIntRange)):
        return None
    lo = getattr(t, "min", None)
    hi = getattr(t, "max", None)
    min_open = getattr(t, "min_open", False)
    max_open = getattr(t, "max_open", False)
    want_lo, want_hi = LIMITS.get(_long_name(param) or "", (None, None))
    if want_lo is not None and (lo is None or lo < want_lo):
        lo, min_open = want_lo, False
    if want_hi is not None and (hi is None or hi > want_hi):
        hi, max_open = want_hi, False
    if hi is None:
        hi = WEEK_SECONDS if is_float else INT_MAX
    if lo is None:
        lo = 0  # no command takes a negative number
    if is_float:
        return FiniteFloatRange(lo, hi, min_open=min_open, max_open=max_open)
    return BoundedIntRange(int(lo), int(hi), min_open=min_open, max_open=max_open)


def harden(command: Any) -> Any:
    """Give every numeric option of ``command`` (and its subcommands) a bounded type, and
    every size or age option (:data:`CHECKED_TEXT`) a checked one."""
    for param in getattr(command, "params", []):
        new = _bounded(param)
        if new is not None:
            param.type = new
        parse = CHECKED_TEXT.get(_long_name(param) or "")
        if parse is not None and type(param.type) is click_types.StringParamType:
            param.type = CheckedText(parse)
    for sub in getattr(command, "commands", {}).values():
        harden(sub)
    return command
