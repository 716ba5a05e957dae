"""The one terminal policy: when escape codes may be written, and how any text is made safe.

Below the CLI so that every layer that draws (the CLI, the TUI, a library progress bar)
asks the same questions. With ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``
nothing writes an escape code: no colour, no bold, no progress bar, no redraw in place.
Every user- or system-supplied string goes through :func:`safe_text` before it reaches a
terminal, and rich is given ``Text`` objects, never markup.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def plain_requested() -> bool:
    """``NO_COLOR`` set or ``TERM=dumb``: no escape codes at all."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def rich_stdout() -> bool:
    """Whether stdout may get rich output (tables, redraws): a TTY that wants escape codes."""
    return stdout_is_tty() and not plain_requested()


def rich_stderr() -> bool:
    """Whether stderr may get progress bars and status lines redrawn in place."""
    return stderr_is_tty() and not plain_requested()


def color_enabled() -> bool:
    """Colour only on a TTY and only when neither ``NO_COLOR`` nor ``TERM=dumb`` is set."""
    return rich_stdout()


# C0 controls, DEL and C1 controls (a terminal may take 0x9b as CSI) -> visible escapes.
_CONTROL_ESCAPES = (
    {i: f"\\x{i:02x}" for i in range(32)}
    | {i: f"\\x{i:02x}" for i in range(0x7F, 0xA0)}
    | {10: "\\n", 9: "\\t", 13: "\\r"}
)


def safe_text(value: Any) -> str:
    """``value`` as text that is safe to print on a terminal, exactly as the user would type it.

    Control characters become ``\\n``, ``\\t``, ``\\x1b`` ...; undecodable bytes in
    file names (lone surrogates) become ``\\xNN``. Markup is not touched here: rich
    gets the result as a ``Text``, so ``[bold]`` stays ``[bold]``.
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.translate(_CONTROL_ESCAPES)


def console(*, stderr: bool) -> Any:
    """A rich Console that parses no markup and, with NO_COLOR/TERM=dumb, writes no style codes."""
    from rich.console import Console

    plain = plain_requested()
    # color_system=None: rich writes no style codes at all (no_color alone keeps bold).
    return Console(
        stderr=stderr,
        no_color=plain,
        color_system=None if plain else "auto",
        highlight=False,
        markup=False,
        emoji=False,
    )
