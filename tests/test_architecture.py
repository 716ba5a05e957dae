"""The house rules that keep the layers apart, checked on the source (ast), not by convention:

- no library module imports ``mltools.cli`` or ``mltools.tui`` (at any depth: a function-level
  import counts too), and the TUI does not import the CLI;
- no private name (``_x``) of one module is used by another, neither imported nor reached as
  ``module._x`` (package-private *modules* such as ``mltools._signals`` are fine: the
  underscore there says "not public API", and the package itself is their user);
- no exit status is decided in ``cli/`` except by the one error table: no literal
  ``typer.Exit(N)``/``sys.exit(N)``.

Each test also runs its walker on a small planted example, so a walker that found nothing
because it was broken would fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mltools"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Iterator[tuple[Path, str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, module_name(path), ast.parse(path.read_text(), str(path))


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(
    module: str, tree: ast.Module, is_package: bool = False
) -> Iterator[tuple[str, str | None, int, str]]:
    """(imported module, imported name or None, line, local name) for every import anywhere
    in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, is_package)
            for alias in node.names:
                yield target, alias.name, node.lineno, alias.asname or alias.name


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_violations(module: str, tree: ast.Module, is_package: bool = False) -> list[str]:
    if module.startswith("mltools.cli") or module == "mltools.__main__":
        return []
    forbidden = (
        ("mltools.cli",) if module.startswith("mltools.tui") else ("mltools.cli", "mltools.tui")
    )
    out = []
    for target, name, line, _ in imports(module, tree, is_package):
        full = f"{target}.{name}" if name else target
        if any(
            full == f or full.startswith(f + ".") or target == f or target.startswith(f + ".")
            for f in forbidden
        ):
            out.append(f"{module}:{line} imports {full}")
    return out


def private_violations(module: str, tree: ast.Module, is_package: bool = False) -> list[str]:
    out = []
    aliases: dict[str, str] = {}  # local name -> an mltools module it stands for
    for target, name, line, local in imports(module, tree, is_package):
        if not target.startswith("mltools"):
            continue
        if name is None:
            if local != target:  # import mltools.x as y
                aliases[local] = target
            continue
        full = f"{target}.{name}"
        if is_module(full):
            aliases[local] = full
            continue
        if name.startswith("_") and not name.startswith("__") and target != module:
            out.append(f"{module}:{line} imports {name} from {target}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and aliases[node.value.id] != module
            and not is_module(f"{aliases[node.value.id]}.{node.attr}")
        ):
            out.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return out


def exit_violations(module: str, tree: ast.Module) -> list[str]:
    """``typer.Exit(...)``, ``sys.exit(...)``, ``SystemExit(...)`` with an argument that is
    not the error table's answer (``_errors.report(exc)``)."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = ast.unparse(node.func)
        if func not in ("typer.Exit", "sys.exit", "SystemExit", "Exit", "exit"):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Call) and ast.unparse(arg.func) == "_errors.report":
            continue
        out.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    return out


# ------------------------------------------------------------------------------ the walkers work


PLANTED = """
import mltools.cli._output
from mltools.tui import app
from mltools.gpu.snapshot import _read_gpu, snapshot
from mltools.gpu import nvml
from mltools.ddp import hang as h
import mltools.cpu as cpu_lib
import sys, typer

def f():
    from ..cli import gpu
    nvml._lost(None)
    h._report()
    cpu_lib._psutil_times()
    nvml.field(None, None)
    raise typer.Exit(5)

def g(exc):
    sys.exit(_errors.report(exc))
"""


def test_the_walkers_find_what_is_planted():
    tree = ast.parse(PLANTED)
    layers = layer_violations("mltools.gpu.fake", tree)
    assert sorted(layers) == [
        "mltools.gpu.fake:11 imports mltools.cli.gpu",
        "mltools.gpu.fake:2 imports mltools.cli._output",
        "mltools.gpu.fake:3 imports mltools.tui.app",
    ]
    private = private_violations("mltools.gpu.fake", tree)
    assert sorted(private) == sorted(
        [
            "mltools.gpu.fake:4 imports _read_gpu from mltools.gpu.snapshot",
            "mltools.gpu.fake:12 uses mltools.gpu.nvml._lost",
            "mltools.gpu.fake:13 uses mltools.ddp.hang._report",
            "mltools.gpu.fake:14 uses mltools.cpu._psutil_times",
        ]
    )
    assert exit_violations("mltools.cli.fake", tree) == ["mltools.cli.fake:16 typer.Exit(5)"]
    assert layer_violations("mltools.tui.fake", ast.parse("from mltools.cli import _output")) == [
        "mltools.tui.fake:1 imports mltools.cli._output"
    ]


# ------------------------------------------------------------------------------ the house


def test_no_library_module_imports_the_cli_or_the_tui():
    found = [
        v
        for path, mod, tree in sources()
        for v in layer_violations(mod, tree, path.name == "__init__.py")
    ]
    assert found == []


def test_no_private_name_is_used_across_modules():
    found = [
        v
        for path, mod, tree in sources()
        for v in private_violations(mod, tree, path.name == "__init__.py")
    ]
    assert found == []


def test_no_literal_exit_status_in_the_cli():
    found = [
        v
        for path, mod, tree in sources()
        if mod.startswith("mltools.cli")
        for v in exit_violations(mod, tree)
    ]
    assert found == []
