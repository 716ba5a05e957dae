"""Every option of every command is passed on a command line by some test.

The test walks the real command tree (every command, built the way `mltools` builds it)
and reads every test function in tests/ (with its decorators and the same-file helpers and
fixtures it uses). An option counts as passed when one test function names the option and
every word of the command's path (`gpu`, `pick`) in string literals, not counting what a
comparison expects (`"--x" in result.stderr`): a message that names an option passes nothing.

A renamed option, or a new one nobody tests, fails here with its command and the module
that defines it; the fix is a test that passes it and checks its effect.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

SKIP = {"--help", "-h"}


def command_options() -> Iterator[tuple[tuple[str, ...], tuple[str, ...], str]]:
    """(command path, option names, defining module) for every visible option."""
    import typer

    from mltools.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.make_context("mltools", ["--help"], resilient_parsing=True)

    def walk(command, path: tuple[str, ...]):
        module = getattr(command.callback, "__module__", "mltools.cli.app")
        for param in command.params:
            if getattr(param, "param_type_name", "") != "option" or param.hidden:
                continue
            names = tuple(n for n in (*param.opts, *param.secondary_opts) if n not in SKIP)
            if names:
                yield path, names, module
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), (*path, name))

    yield from walk(root, ())


def _words(node: ast.AST, skip: set[int]) -> set[str]:
    words: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip:
            for word in n.value.split():
                words.add(word)
                words.add(word.split("=", 1)[0])  # --depth=2
    return words


def test_function_words(path: Path) -> list[set[str]]:
    """The words each test function of ``path`` could put on a command line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        # what a comparison or an assert message says is expected, not passed ("--x" in err);
        # a call inside an assert still passes its arguments (assert cli("--x").exit_code)
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                passed = {
                    id(n) for c in ast.walk(side) if isinstance(c, ast.Call) for n in ast.walk(c)
                }
                skip.update(id(n) for n in ast.walk(side) if id(n) not in passed)
        if isinstance(node, ast.Assert) and node.msg is not None:
            skip.update(id(n) for n in ast.walk(node.msg))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # docstrings
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    units = []
    for name, fn in functions.items():
        if not name.startswith("test"):
            continue
        words = _words(fn, skip)
        called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call)
                  if isinstance(n.func, ast.Name)}  # fmt: skip
        fixtures = {a.arg for a in fn.args.args}
        for helper in (called | fixtures) & functions.keys():
            words |= _words(functions[helper], skip)
        units.append(words)
    return units


test_function_words.__test__ = False  # a helper, not a test


def untested_options() -> list[str]:
    this = Path(__file__).resolve()
    units = [
        words
        for path in sorted((REPO / "tests").rglob("*.py"))
        if path.resolve() != this
        for words in test_function_words(path)
    ]
    missing = []
    for path, names, module in command_options():
        if not any(set(names) & words and set(path) <= words for words in units):
            missing.append(f"mltools {' '.join(path)} {'/'.join(names)}  ({module})")
    return missing


def test_every_option_is_passed_by_some_test():
    missing = untested_options()
    assert not missing, (
        f"{len(missing)} option(s) that no test passes on a command line; add a test that "
        "passes each and checks its effect:\n  " + "\n  ".join(missing)
    )


def test_the_walker_sees_the_whole_tree_and_an_untested_option():
    found = {(" ".join(p), n) for p, names, _ in command_options() for n in names}
    assert ("gpu pick", "--exclusive") in found and ("ckpt convert", "--add-prefix") in found
    assert ("", "--version") in found and ("sync", "--include") in found
    assert not any(n in SKIP for _, n in found)
    assert len(found) > 150


def test_the_walker_ignores_asserts_and_docstrings(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        'def test_a(cli):\n    """gpu pick --max-util"""\n'
        '    r = cli("gpu", "pick")\n    assert "--exclusive" in r.stderr, "--count"\n'
        '    assert cli("gpu", "--csv").exit_code == 0\n'
        'def _helper():\n    return ["--min-free-mem=1G"]\n'
        "def test_b(cli):\n    cli('gpu pick', *_helper())\n"
    )
    a, b = test_function_words(sample)
    assert {"gpu", "pick", "--csv"} <= a
    assert not {"--max-util", "--exclusive", "--count"} & a
    assert {"gpu", "pick", "--min-free-mem"} <= b


def _is_usage_code(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and node.value == 2) or (
        isinstance(node, ast.Attribute) and node.attr == "USAGE"
    )


def test_no_usage_error_is_checked_by_its_exit_code_alone():
    """Click exits 2 for "No such option" too: a test that checks exit 2 also reads stderr
    (or calls conftest's usage_error, which does)."""
    offenders = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        source = path.read_text()
        for fn in ast.walk(ast.parse(source)):
            if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("test")):
                continue
            checks_code = any(
                isinstance(n, ast.Compare)
                and isinstance(n.left, ast.Attribute)
                and n.left.attr in ("exit_code", "returncode")
                and any(_is_usage_code(c) for c in n.comparators)
                for n in ast.walk(fn)
            )
            text = ast.get_source_segment(source, fn) or ""
            if checks_code and not any(w in text for w in ("stderr", "usage_error(", ".output")):
                offenders.append(f"{path.relative_to(REPO)}::{fn.name}")
    assert offenders == []
