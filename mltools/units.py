"""Parse human SIZE and AGE strings (``10M``, ``1.5GiB``, ``8d``, ``2h30m``): one rule everywhere.

Sizes use binary multiples for single letters (``K`` = 1024), like ``find -size``,
``du`` and sysfs (``32K`` caches); ``KiB``/``MiB`` are binary and ``KB``/``MB``
decimal, as written. Used by ``clean --larger/--smaller``, ``gpu pick
--min-free-mem`` and the CPU cache sizes read from sysfs.
"""

from __future__ import annotations

import re

from mltools.errors import UsageError

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "p": 1024**5,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "pb": 1000**5,
}

_AGE_UNITS: dict[str, float] = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}

_MAX_SIZE = 2**64
_MAX_AGE_SECONDS = 1000 * 365 * 86400.0
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_AGE_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")


def parse_size(text: str) -> int:
    """``"10M"`` -> 10485760 bytes. Raises ``UsageError`` on anything else."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise UsageError(
            f"not a size: {text!r}",
            hint="write a number with an optional unit: 500, 10k, 1.5M, 2G, 100MB, 3GiB",
        )
    number = match.group(1)
    # exact integer arithmetic (a 400-digit size must not overflow a float)
    whole, _, frac = number.partition(".")
    scale = _SIZE_UNITS[unit]
    size = int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    if size > _MAX_SIZE:
        raise UsageError(f"size too large: {text!r}", hint="at most 16 EiB (2**64 bytes)")
    return size


def parse_age(text: str) -> float:
    """``"8d"`` -> 691200.0 seconds; parts add up (``"1d12h"``). Raises ``UsageError``."""
    cleaned = text.strip().lower()
    parts = _AGE_PART_RE.findall(cleaned)
    if not parts or _AGE_PART_RE.sub("", cleaned).strip():
        raise UsageError(
            f"not an age: {text!r}",
            hint="write a number with a unit: 90s, 30m (minutes), 12h, 8d, 2w, 1y, or 1d12h",
        )
    total = 0.0
    for number, unit in parts:
        if unit not in _AGE_UNITS:
            raise UsageError(
                f"unknown age unit {unit!r} in {text!r}", hint="use s, m, h, d, w or y"
            )
        total += float(number) * _AGE_UNITS[unit]
    if not total <= _MAX_AGE_SECONDS:  # also catches inf and nan from 400-digit numbers
        raise UsageError(f"age too large: {text!r}", hint="at most 1000 years")
    return total


def human_bytes(n: float | None) -> str:
    """1536 -> '1.5 KiB' (binary units, like ``ls -h`` and ``free -h``); ``None`` -> 'n/a'."""
    if n is None:
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
