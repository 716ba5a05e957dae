"""Build mltools/ddp/messages.tsv: the exception messages torch and the training stacks raise.

Users quote an error's message without its class ("Expected all tensors to be on the same
device, but found at least two devices, cuda:0 and cpu!", "NCCL Error 5: invalid usage"):
a write-up's one-line paste, an issue title, a chat message. No hand-written pattern list
keeps up with those sentences, but the libraries' own source has every one of them: this
script reads the places that raise (C++ ``TORCH_CHECK``-style checks and ``throw``s,
Python ``raise X(...)`` and ``assert cond, msg``) and writes each message's first line as its literal pieces, in
order; the analyser (``mltools.ddp.messages``) reads a line that starts with one as an
exception's message.

Usage::

    python scripts/gen_ddp_messages.py --cpp torch=SRC_DIR --py torch=PKG_DIR --py ray=... \\
        > mltools/ddp/messages.tsv

``--cpp NAME=DIR`` reads C/C++/CUDA sources under DIR (torch's: aten/, c10/, torch/csrc/);
``--py NAME=DIR`` reads Python sources under DIR (an installed package or an unpacked
wheel). Test directories are skipped. Output: one message per line, ``piece<TAB>piece...
<TAB>NAME``, where a value the message formats in stands between two pieces; sorted by the
message, unique.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

# the message's start must be long enough to name it alone, and the whole literal text too
HEAD_MIN = 8
LITERAL_MIN = 24
WORDS_MIN = 4

# C++ checks: the macro, and how many leading arguments are not the message
_CPP_MACROS = {
    "TORCH_CHECK": 1,
    "TORCH_CHECK_VALUE": 1,
    "TORCH_CHECK_INDEX": 1,
    "TORCH_CHECK_TYPE": 1,
    "TORCH_CHECK_LINALG": 1,
    "TORCH_CHECK_NOT_IMPLEMENTED": 1,
    "TORCH_CHECK_WITH": 2,
    "TORCH_CHECK_MSG": 1,
    "AT_ERROR": 0,
    "TORCH_SYM_CHECK": 1,
    "C10_THROW_ERROR": 1,
    "C10D_THROW_ERROR": 1,
    "C10D_CHECK_WITH": 2,
}
_CPP_THROW = re.compile(
    r"\b(?:(?P<macro>" + "|".join(_CPP_MACROS) + r")\s*\("
    r"|throw\s+(?:std::(?:runtime_error|invalid_argument|logic_error|out_of_range|domain_error)"
    r"|c10::(?:\w+Error)|\w+Error)\s*\()"
)
_CPP_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_CPP_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'", "r": "\r"}
_SKIP_DIRS = {"test", "tests", "testing", "benchmarks", "examples", "third_party", "_vendor"}
_PY_SKIP_CLASSES = re.compile(r"Warning$|^StopIteration$|^SystemExit$|^KeyboardInterrupt$")


def _cpp_unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _CPP_ESCAPES.get(m.group(1), ""), body)


def _balanced(text: str, start: int) -> str | None:
    """The text inside the parenthesis that opens just before ``start``; None if unbalanced."""
    depth, i, n = 1, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _CPP_STRING.match(text, i)
            if m is None:
                return None
            i = m.end()
            continue
        if c == "'":
            i = text.find("'", i + 2 if text.startswith("\\", i + 1) else i + 1) + 1 or n
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def _split_top(args: str, seps: str = ",") -> list[str]:
    """Split at the separators that stand outside parentheses, brackets and strings."""
    parts, depth, current, i = [], 0, [], 0
    while i < len(args):
        c = args[i]
        if c == '"':
            m = _CPP_STRING.match(args, i)
            end = m.end() if m else len(args)
            current.append(args[i:end])
            i = end
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in seps and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _cpp_pieces(args: list[str]) -> list[str]:
    """Literal pieces of a message built from arguments: adjacent literals join, any other
    expression is a value (``+``-joined string expressions are split first)."""
    pieces: list[str] = [""]
    hole = False
    for arg in (p for a in args for p in _split_top(a, "+")):
        arg = arg.strip()
        literals = _CPP_STRING.findall(arg)
        if literals and _CPP_STRING.sub("", arg).strip() == "":
            if hole:
                pieces.append("")
                hole = False
            pieces[-1] += "".join(_cpp_unescape(s) for s in literals)
        elif arg:
            hole = True
    return pieces


_CPP_STREAM_THROW = re.compile(r"\bthrow\s+[\w:]+\s*\(\s*(\w+)\.str\(\)\s*\)")


def _stream_pieces(text: str, end: int, name: str) -> list[str]:
    """The message a ``std::ostringstream`` built before ``throw X(name.str())``: every
    ``name << ... ;`` statement in the 800 characters above, in order."""
    args = [
        part
        for statement in re.finditer(rf"\b{name}\s*<<([^;]*);", text[max(0, end - 800) : end])
        for part in _split_top(statement.group(1), "<")
    ]
    return _cpp_pieces(args)


def cpp_messages(root: Path) -> Iterator[list[str]]:
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".cpp", ".cc", ".h", ".hpp", ".cu", ".cuh"} or not path.is_file():
            continue
        if _SKIP_DIRS & set(path.relative_to(root).parts[:-1]):
            continue
        text = path.read_text(errors="replace")
        for m in _CPP_THROW.finditer(text):
            inside = _balanced(text, m.end())
            if inside is None:
                continue
            args = _split_top(inside)
            skip = _CPP_MACROS[m.group("macro")] if m.group("macro") else 0
            yield _cpp_pieces(args[skip:])
        for m in _CPP_STREAM_THROW.finditer(text):
            yield _stream_pieces(text, m.start(), m.group(1))


def _py_pieces(node: ast.expr) -> list[str] | None:
    """Literal pieces of a message expression; None when it has no literal part."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        pieces = [""]
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                pieces[-1] += value.value
            else:
                pieces.append("")
        return pieces
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _py_pieces(node.left), _py_pieces(node.right)
        left, right = left or ["", ""], right or ["", ""]
        return [*left[:-1], left[-1] + right[0], *right[1:]]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        fmt = _py_pieces(node.left)
        return (
            [p for f in fmt for p in re.split(r"%[-#0 +]*\d*(?:\.\d+)?[sdrifgx]", f)]
            if fmt
            else None
        )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        fmt = _py_pieces(node.func.value)
        return [p for f in fmt for p in re.split(r"\{[^{}]*\}", f)] if fmt else None
    return None


def _message_args(func: ast.AST, in_error_class: bool) -> Iterator[ast.expr]:
    """The message expressions a function raises, asserts with, or hands to an exception's
    constructor (``super().__init__(msg)`` in an exception class), a local name read back to
    its last string assignment (``msg = f"..."; raise X(msg)``)."""
    names: dict[str, ast.expr] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _py_pieces(node.value):
                names[target.id] = node.value
    for node in ast.walk(func):
        call = None
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            called = node.exc.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if not _PY_SKIP_CLASSES.search(name):
                call = node.exc
        elif (
            in_error_class
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
        ):
            call = node
            if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "self":
                call = ast.Call(func=node.func, args=node.args[1:], keywords=[])
        if isinstance(node, ast.Assert) and node.msg is not None:  # an AssertionError's
            msg = node.msg
            yield names.get(msg.id, msg) if isinstance(msg, ast.Name) else msg
        if call is None or not call.args:
            continue
        # a raise's message is its first argument; an exception class hands its message to
        # its base among other values (Ray: ``super().__init__(actor_id, error_msg, ...)``)
        for arg in call.args if call is node else call.args[:1]:
            if isinstance(arg, ast.Name) and arg.id in names:
                arg = names[arg.id]
            yield arg


def py_messages(root: Path) -> Iterator[list[str]]:
    for path in sorted(root.rglob("*.py")):
        if _SKIP_DIRS & set(path.relative_to(root).parts[:-1]):
            continue
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError):
            continue
        scopes = [
            n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        in_errors = {
            id(f)
            for c in ast.walk(tree)
            if isinstance(c, ast.ClassDef) and re.search(r"(?:Error|Exception)$", c.name)
            for f in c.body
            if isinstance(f, ast.FunctionDef)
        }
        for scope in scopes:
            for arg in _message_args(scope, id(scope) in in_errors):
                pieces = _py_pieces(arg)
                if pieces:
                    yield pieces


def first_line(pieces: list[str]) -> list[str] | None:
    """The message's first line as pieces, when it is distinctive enough to match alone."""
    out: list[str] = []
    for piece in pieces:
        head, newline, _ = piece.partition("\n")
        out.append(head)
        if newline:
            break
    out = [p.replace("\t", " ") for p in out]
    if len(out) > 1 and not out[0]:  # a value first ("{op}: got mixed torch.Tensor and ..."):
        out = [out[1].lstrip(" :,;]>)-"), *out[2:]]  # the message proper begins after it
    while len(out) > 1 and not out[-1].strip():
        out.pop()
    literal = "".join(out)
    # (a "#" first would read as the file's header comments)
    if len(out[0].strip()) < HEAD_MIN or out[0] != out[0].lstrip() or out[0].startswith("#"):
        return None
    if len(literal.strip()) < LITERAL_MIN or len(literal.split()) < WORDS_MIN:
        return None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpp", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--py", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument(
        "--note", action="append", default=[], help="a comment line for the header (versions)"
    )
    args = parser.parse_args(argv)
    rows: set[tuple[str, ...]] = set()
    for spec, reader in [(s, cpp_messages) for s in args.cpp] + [(s, py_messages) for s in args.py]:
        name, _, directory = spec.partition("=")
        for pieces in reader(Path(directory)):
            kept = first_line(pieces)
            if kept:
                rows.add((name, *kept))
    sys.stdout.write(
        "# the first lines of the exception messages these libraries raise (see\n"
        "# scripts/gen_ddp_messages.py): the literal pieces in order, then the library\n"
    )
    for note in args.note:
        sys.stdout.write(f"# {note}\n")
    # sorted by the message (the reader binary-searches the file by a message's start)
    for row in sorted({"\t".join((*pieces, name)) for name, *pieces in rows}):
        sys.stdout.write(row + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
