"""`mltools ckpt`: inspect, diff, convert and scan checkpoints without loading them."""

from __future__ import annotations

import json as json_lib
from pathlib import Path
from typing import Annotated

import typer

from mltools.cli._output import (
    Column,
    JsonFlag,
    confirm,
    hint,
    human_bytes,
    print_json,
    print_kv,
    print_table,
    progress,
    warn,
)


def _num(header: str) -> Column:
    """A right-aligned number column that never shrinks."""
    return Column(header, justify="right", kind="fixed")


app = typer.Typer(
    help="Inspect, diff, convert and scan checkpoints without loading them.",
    no_args_is_help=True,
)

PathArg = Annotated[
    Path,
    typer.Argument(
        help="Checkpoint: .pt/.pth/.bin/.ckpt, .safetensors, *.index.json (or its folder), "
        "or a torch distributed checkpoint folder.",
        allow_dash=False,
        readable=False,  # opened by the library: a denied read is exit 1, not a usage error
    ),
]


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _size_line(totals: dict) -> str:
    """The data's size with each shared storage once, and the listed sum where it differs."""
    size = human_bytes(totals["data_bytes"])
    if totals["data_bytes"] == totals["bytes"]:
        return size
    shared = totals["shared_storages"]
    views = f"{shared} storage{'s' if shared != 1 else ''} shared" if shared else "views"
    return f"{size} (the tensors listed add up to {human_bytes(totals['bytes'])}: {views})"


@app.command()
def inspect(
    path: PathArg,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="Only tensors whose name matches this regex."),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth", "-d", help="Group tensors by their first N key-path levels.", min=1
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Show tensors, totals and metadata without loading the data.

    Lists every tensor (name, shape, dtype, bytes, the device it was saved from),
    totals and scalar/config values.
    Reads only the safetensors header or the pickle (with a restricted unpickler that
    runs nothing), so a 14 GB file takes well under a second and no torch is needed.
    Reports the DDP `module.` and torch.compile `_orig_mod.` prefixes.
    """
    from mltools.ckpt.inspect import inspect_checkpoint

    report = inspect_checkpoint(path, filter=filter, depth=depth)
    if json:
        data = {
            "format": report.format,
            "path": report.path,
            "files": report.files,
            "tensors": report.tensors,
            "totals": report.totals,
            "metadata": report.metadata,
            "state_dict_key": report.state_dict_key,
            "prefix": report.prefix,
            "prefix_kind": report.prefix_kind,
            "globals": report.globals,
        }
        if depth is not None:
            data["groups"] = report.groups
        print_json(data)
        return
    if depth is not None:
        print_table(
            [Column("group", min_width=16), _num("tensors"), _num("numel"), _num("size")],
            [(g.name, g.tensors, f"{g.numel:,}", human_bytes(g.bytes)) for g in report.groups],
        )
    else:
        sizes: dict[int, str] = {}  # 20,000 tensors have a few sizes: each written once

        def _size(n: int) -> str:
            sizes[n] = human_bytes(n)
            return sizes[n]

        print_table(
            [
                Column("name", min_width=16),
                Column("shape", kind="fixed"),
                Column("dtype", kind="fixed"),
                _num("size"),
                Column("device", kind="fixed", priority=1),
            ],
            [
                (t.name, _shape(t.shape), t.dtype, sizes.get(t.bytes) or _size(t.bytes), t.device)
                for t in report.tensors
            ],
        )
    totals = report.totals
    by_dtype = ", ".join(f"{k} {human_bytes(v)}" for k, v in totals["bytes_by_dtype"].items())
    pairs = [
        ("format", report.format),
        ("tensors", totals["tensors"]),
        ("parameters", f"{totals['parameters']:,}"),
        ("size", _size_line(totals)),
        ("by dtype", by_dtype or "-"),
    ]
    if report.state_dict_key:
        pairs.append(("state dict", report.state_dict_key))
    if report.prefix:
        pairs.append(("prefix", f"{report.prefix} ({report.prefix_kind})"))
    for key, value in report.metadata.items():
        shown = value if isinstance(value, (str, int, float)) else json_lib.dumps(value)
        pairs.append((key, shown if len(str(shown)) <= 200 else str(shown)[:200] + "..."))
    typer.echo("")
    print_kv(pairs)
    if report.prefix:
        hint(
            f"keys start with {report.prefix!r}: mltools.load_state_dict matches it, or "
            f"`mltools ckpt convert --strip-prefix {report.prefix}`"
        )


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="First checkpoint (A).", readable=False)],
    b: Annotated[Path, typer.Argument(help="Second checkpoint (B).", readable=False)],
    values: Annotated[
        bool,
        typer.Option("--values", help="Also compare tensor values chunk by chunk (needs torch)."),
    ] = False,
    strip_prefix: Annotated[
        list[str] | None,
        typer.Option(
            "--strip-prefix", help="Remove this prefix from names on both sides (repeatable)."
        ),
    ] = None,
    normalize: Annotated[
        bool,
        typer.Option(
            "--normalize", help="Strip the DDP 'module.' and compile '_orig_mod.' prefixes."
        ),
    ] = False,
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            help="Compare this entry of both (dotted key path, e.g. state_dict); "
            "default: a training checkpoint's model entry.",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Compare two checkpoints' keys, shapes, dtypes and values.

    Lists keys only in A or only in B, shape and dtype mismatches and, with
    --values, the largest absolute and relative value differences.
    Exactly what load_state_dict(strict=True) would complain about, before running it.
    Without --values the values are not looked at, so "identical" says "not known".
    Exit code 0 when no difference is found, 5 when they differ.
    """
    from mltools.ckpt.diff import diff_checkpoints
    from mltools.errors import CheckFailedError

    prefixes = list(strip_prefix or [])
    if normalize:
        prefixes += ["module.", "_orig_mod."]
    with progress("comparing values", enabled=values) as bar:
        report = diff_checkpoints(
            a,
            b,
            select=select,
            strip_prefixes=prefixes,
            values=values,
            on_progress=lambda done, total: bar.update(completed=done, total=total),
        )
    if json:
        print_json(report)
    else:
        rows = [(n, "only in A", "", "") for n in report.only_in_a]
        rows += [(n, "only in B", "", "") for n in report.only_in_b]
        rows += [(m.name, "shape", _shape(m.a), _shape(m.b)) for m in report.shape_mismatches]
        rows += [(m.name, "dtype", m.a, m.b) for m in report.dtype_mismatches]
        rows += [
            (v.name, "values", f"max abs {v.max_abs_diff:.3g}", f"max rel {v.max_rel_diff:.3g}")
            for v in report.value_diffs
            if not v.equal
        ]
        if rows:
            print_table(
                [
                    Column("name", min_width=16),
                    Column("difference", kind="fixed"),
                    Column("A", kind="prose"),
                    Column("B", kind="prose"),
                ],
                rows,
            )
            typer.echo("")
        print_kv(
            [
                ("common tensors", report.common),
                ("only in A", len(report.only_in_a)),
                ("only in B", len(report.only_in_b)),
                ("shape mismatches", len(report.shape_mismatches)),
                ("dtype mismatches", len(report.dtype_mismatches)),
                (
                    "value differences",
                    sum(not v.equal for v in report.value_diffs)
                    if report.values_compared
                    else "not compared",
                ),
                (
                    "identical",
                    "yes"
                    if report.identical
                    else (
                        "no"
                        if report.identical is False
                        else "not known: names, shapes and dtypes match; values not compared "
                        "(--values compares them)"
                    ),
                ),
            ]
        )
    if not normalize and report.only_in_a and report.only_in_b:
        from mltools.ckpt.inspect import detect_prefix

        pa, _ = detect_prefix(report.only_in_a)
        pb, _ = detect_prefix(report.only_in_b)
        if pa or pb:
            hint("the names differ by a module./_orig_mod. prefix: try --normalize")
    if report.identical is False:
        raise CheckFailedError("the checkpoints differ", shown=True)


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Input checkpoint.", readable=False)],
    dst: Annotated[
        Path,
        typer.Argument(
            help="Output file (.safetensors, or a torch .pt/.pth/.bin).", readable=False
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Output format: safetensors or pt (default: from DST's suffix)."),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            "--select", help="Write only this entry (dotted key path, e.g. state_dict or model)."
        ),
    ] = None,
    strip_prefix: Annotated[
        str | None,
        typer.Option("--strip-prefix", help="Remove this prefix from the keys (e.g. module.)."),
    ] = None,
    add_prefix: Annotated[
        str | None, typer.Option("--add-prefix", help="Prepend this prefix to the keys.")
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option("--dtype", help="Cast floating-point tensors: bf16, fp16 or fp32."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Overwrite DST if it exists.")] = False,
    unsafe: Annotated[
        bool,
        typer.Option(
            "--unsafe",
            help="Unpickle the input with torch (weights_only=False) to keep non-tensor "
            "objects; only for trusted files.",
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Select, rename, cast and re-save a checkpoint, atomically.

    Saves as safetensors or a torch file (--to, or DST's suffix).
    Writes a temporary file next to DST and renames it into place, so a failure leaves
    the input and any existing DST untouched. Refuses to overwrite DST without --yes.
    """
    from mltools._inputs import check_input
    from mltools._outputs import check_output
    from mltools.ckpt.convert import convert_checkpoint, target_format

    check_input(src, what="checkpoint", allow_dir=True)
    if check_output(dst, overwrite=True) is not None and not yes:  # refuses devices, FIFOs
        if not confirm(f"{dst} exists. Replace it?"):
            from mltools.ckpt.errors import OutputExistsError

            raise OutputExistsError(
                f"{dst} exists; not overwriting it", hint="pass --yes to replace it"
            )
        yes = True
    if unsafe:
        warn(
            f"--unsafe: unpickling {src} with torch; its pickle may run code (globals known to run code are still refused)"
        )
    fmt = target_format(dst, to)
    with progress(f"reading {src.name}") as bar:

        def on_progress(done: int, total: int) -> None:
            bar.update(completed=done, total=total)
            if done == total:
                bar.describe(f"writing {dst.name}")

        report = convert_checkpoint(
            src,
            dst,
            to=fmt,
            select=select,
            strip_prefix=strip_prefix,
            add_prefix=add_prefix,
            dtype=dtype,
            overwrite=yes,
            unsafe=unsafe,
            on_progress=on_progress,
        )
    if report.shared_copied:
        warn(
            f"{len(report.shared_copied)} tensors shared storage with another and were written "
            f"as copies: {', '.join(report.shared_copied[:3])}"
        )
    if json:
        print_json(report)
        return
    print_kv(
        [
            ("input", report.input),
            ("output", report.output),
            ("format", report.format),
            ("tensors", report.tensors),
            ("cast", f"{report.cast} to {report.dtype}" if report.dtype else "-"),
            ("renamed", report.renamed),
            ("size", human_bytes(report.bytes_written)),
        ]
    )


@app.command()
def scan(path: PathArg, json: JsonFlag = False) -> None:
    """List every global a checkpoint's pickles import; judge them against torch's allowlist.

    Nothing in the file is executed. Every pickle torch would read is scanned (zip
    data.pkl and nested pickles, the legacy format's five, a distributed checkpoint's
    .metadata and non-tensor entries). "safe" only when every global is in torch's own
    weights_only allowlist (plus add_safe_globals) and torch's weights_only unpickler
    accepts every opcode: then torch.load(weights_only=True) will load it. Otherwise:
    unsupported, needs-allowlist (with what to allow, if you trust the file), unknown
    (names nothing importable: refuse), each exit 5 because torch.load(weights_only=True)
    will fail; corrupt (exit 1), dangerous (exit 1, naming the global that can run code).
    """
    from mltools.ckpt.errors import CheckpointError
    from mltools.ckpt.load import weights_only_refusal
    from mltools.ckpt.scan import CORRUPT, scan_checkpoint
    from mltools.ckpt.unpickler import unsafe_error
    from mltools.errors import CheckFailedError

    report = scan_checkpoint(path)
    if json:
        print_json(report)
    else:
        if report.globals:
            print_table(
                [
                    Column("global", min_width=20),
                    Column("category", kind="fixed"),
                    Column("file", kind="path", priority=1),
                ],
                [(g.name, g.category, g.file) for g in report.globals],
            )
            typer.echo("")
        print_kv(
            [
                ("format", report.format),
                ("pickle", "none (safe by construction)" if report.pickle_free else "yes"),
                ("weights_only=True", "will load" if report.weights_only_loadable else "will fail"),
                ("verdict", report.verdict),
            ]
        )
        for note in report.notes:
            hint(note)
        for problem in report.problems[:5]:
            warn(problem)
    if report.dangerous:
        raise unsafe_error(report.dangerous[0])
    if report.verdict == CORRUPT:
        first = report.problems[0] if report.problems else "unreadable"
        raise CheckpointError(f"corrupt checkpoint: {first}")
    refusal = weights_only_refusal(report, path)
    if refusal is not None:
        # a gate (`mltools ckpt scan f && train --resume f`) must stop here: torch.load and
        # load_checkpoint with weights_only=True refuse this file
        raise CheckFailedError(refusal.message, hint=refusal.hint)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ckpt")
