"""The ckpt modules stand in a line: readers below, verdicts above, no private names across.

Every import in ``mltools/ckpt`` (module level or inside a function) is read with ``ast``:
the graph of ckpt modules must have no cycle, no reader may import a verdict module, and no
module may take a ``_private`` name from another ckpt module (by import or by attribute).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mltools.ckpt
from mltools.ckpt.errors import CheckpointError, TruncatedCheckpointError, UnsafePickleError

CKPT = Path(mltools.ckpt.__file__).parent
# the readers: they parse files and never judge them
READERS = {
    "errors", "records", "allowlist", "paths", "formats", "pickle_vm", "pickle_fast",
    "unpickler", "zipreader", "legacy", "safetensors_header", "onefile", "sharded", "dcp",
    "reader",
}  # fmt: skip
VERDICTS = {"scan", "load", "dcp_load", "inspect", "diff", "convert", "tensors"}


def _imports() -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> [(imported ckpt module, names taken from it, line)]."""
    out: dict[str, list[tuple[str, list[str], int]]] = {}
    for path in sorted(CKPT.glob("*.py")):
        me = path.stem
        tree = ast.parse(path.read_text())
        found: list[tuple[str, list[str], int]] = []
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("mltools.ckpt."):
                    target = node.module.split(".")[2]
                    found.append((target, [a.name for a in node.names], node.lineno))
                elif node.module == "mltools.ckpt":
                    for a in node.names:
                        found.append((a.name, [], node.lineno))
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("mltools.ckpt."):
                        found.append((a.name.split(".")[2], [], node.lineno))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                found.append((aliases[node.value.id], [node.attr], node.lineno))
        out[me] = found
    return out


def test_no_private_names_across_ckpt_modules():
    bad = [
        f"{me}.py:{line} takes {name} from {target}"
        for me, found in _imports().items()
        for target, names, line in found
        for name in names
        if name.startswith("_") and target != me
    ]
    assert bad == []


def test_readers_never_import_verdicts():
    bad = [
        f"{me}.py:{line} imports {target}"
        for me, found in _imports().items()
        if me in READERS
        for target, _names, line in found
        if target in VERDICTS
    ]
    assert bad == []


def test_the_ckpt_import_graph_has_no_cycle():
    graph = {me: {t for t, _n, _l in found if t != me} for me, found in _imports().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_every_ckpt_module_is_placed():
    modules = {p.stem for p in CKPT.glob("*.py")} - {"__init__"}
    assert modules <= READERS | VERDICTS, sorted(modules - READERS - VERDICTS)


@pytest.mark.parametrize(
    ("raised", "problem"),
    [
        (TruncatedCheckpointError("storage 0 gone"), "truncated"),
        (CheckpointError("truncated? no: bad opcode (runs past the end, missing)"), "corrupt"),
        (UnsafePickleError("truncated and corrupt words", global_name="os.system"), None),
    ],
)
def test_filetype_sorts_checkpoint_errors_by_type_not_words(monkeypatch, tmp_path, raised, problem):
    """``files.ml_formats`` reads a legacy checkpoint with ``mltools.ckpt``: its verdict comes
    from the error's type; the words in the message (chosen here to mislead) play no part."""
    from mltools.ckpt import legacy
    from mltools.files import ml_formats

    def refuse(path):  # type: ignore[no-untyped-def]
        raise raised

    monkeypatch.setattr(legacy, "read_legacy_checkpoint", refuse)
    f = (tmp_path / "x.pt").open("wb+")
    try:
        assert ml_formats._torch_legacy(f).problem == problem
    finally:
        f.close()
