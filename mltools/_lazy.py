"""Lazy package attributes: ``from mltools.x import name`` imports only what defines ``name``.

Packages whose submodules pull in heavy dependencies (torch, pandas, pynvml,
libmagic) use this so that importing the package, and running ``mltools
--help`` or a TAB completion, stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def attach(
    package: str, names: dict[str, str], *, renamed: dict[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    ``names`` maps each public name to the module that defines it; ``renamed``
    maps a public alias to the name it has in that module.
    """
    renamed = renamed or {}
    public = sorted({*names, *renamed})

    def __getattr__(name: str) -> Any:
        target = renamed.get(name, name)
        module_name = names.get(name) or names.get(target)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), target)
        importlib.import_module(package).__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__, public
