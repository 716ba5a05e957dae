"""A command's own invocation as an argv, to print for later (``clean --print-cron``).

Built from the parsed parameters themselves, so a new option is replayed with no edit
here: every option whose value differs from its default, in the order the command
declares them; path arguments made absolute (cron starts in $HOME).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Collection
from typing import Any


def mltools_argv() -> list[str]:
    """How to start this mltools again: its console script on PATH, else ``python -m``."""
    exe = shutil.which("mltools")
    return [exe] if exe else [sys.executable, "-m", "mltools"]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def replay_argv(ctx: Any, *, drop: Collection[str] = (), paths: Collection[str] = ()) -> list[str]:
    """``[mltools, SUBCOMMAND..., ARGS..., OPTIONS...]`` for the invocation ``ctx`` parsed.

    ``drop``: parameter names left out (the option that asked for the replay, output
    modes); ``paths``: argument names whose values are made absolute.
    """
    argv: list[str] = [*mltools_argv(), *ctx.command_path.split()[1:]]
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name
        value = ctx.params.get(name)
        if name in drop or value is None:
            continue
        if param.param_type_name == "argument":
            values = [str(v) for v in _as_list(value)]
            argv += [os.path.abspath(v) for v in values] if name in paths else values
            continue
        if value == param.default or (param.multiple and not value):
            continue
        flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        if param.is_flag:
            if value is True:
                options.append(flag)
            continue
        for v in _as_list(value) if param.multiple else [value]:
            options += [flag, str(v)]
    return argv + options
