"""``scan_checkpoint``: every global each pickle of a checkpoint would import, and a verdict.

Nothing is executed: each pickle runs on ``PickleVM`` (CPython's opcode semantics over
stand-ins, record-only), so a name built on the stack is seen exactly as real pickle
would build it. Every pickle torch would read is scanned: a zip file's ``data.pkl`` and the
nested pickles it loads, all five pickles of the legacy format, a distributed checkpoint's
``.metadata`` and each of its non-tensor entries.

The verdict is an allowlist verdict: "safe" only when every global is in torch's own
``weights_only`` allowlist (plus what the user allowed) and torch's weights_only unpickler
would accept every opcode and step, on a complete file. The list of globals known to run
code only *names* what is dangerous; it never makes anything safe.
"""

from __future__ import annotations

import ast
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltools.ckpt import formats
from mltools.ckpt.allowlist import DCP_METADATA_ALLOWED, TORCH_OPCODES
from mltools.ckpt.errors import CheckpointError
from mltools.ckpt.pickle_vm import BoundedReader, GlobalRef
from mltools.ckpt.unpickler import (
    ALLOWED,
    DANGEROUS,
    NEEDS_ALLOWLIST,
    UNKNOWN,
    SymbolicUnpickler,
    classify_global,
    classify_ref,
    pickle_globals,
)

SAFE = "safe"
TORCHSCRIPT = "torchscript"  # a global category: a TorchScript class (__torch__.*)
CORRUPT = "corrupt"
UNSUPPORTED = "unsupported"
VERDICTS = (SAFE, UNSUPPORTED, NEEDS_ALLOWLIST, UNKNOWN, CORRUPT, DANGEROUS)

_MAX_NESTED_DEPTH = 3
_MAX_PICKLES = 10000


@dataclass
class GlobalInfo:
    name: str
    category: str  # allowed | needs-allowlist | unknown | dangerous
    file: str


@dataclass
class PickleScan:
    """One pickle of the file, as the VM saw it."""

    file: str
    reader: str  # weights_only (torch.load reads it so) | dcp-metadata (plain pickle in torch)
    refs: list[GlobalRef] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # names pickletools saw after a failure
    opcodes: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    error: str | None = None
    vm: Any = None
    root: Any = None


@dataclass
class ScanReport:
    """The answer of ``scan_checkpoint``: globals, verdict and what to allow."""

    path: str
    format: str
    files: list[str]
    globals: list[GlobalInfo]
    weights_only_loadable: bool
    dangerous: list[str]
    to_allow: list[str]
    verdict: str  # safe | unsupported | needs-allowlist | unknown | corrupt | dangerous
    pickle_free: bool = False
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- reading every pickle ---------------------------------------------------------------
class PickleScanner:
    """Reads every pickle of a file on the VM (record-only) and keeps one ``PickleScan`` each."""

    def __init__(self) -> None:
        self.pickles: list[PickleScan] = []

    def run(
        self,
        reader: BoundedReader,
        file: str,
        *,
        legacy: bool = False,
        kind: str = "weights_only",
        depth: int = 0,
    ) -> PickleScan:
        if len(self.pickles) >= _MAX_PICKLES:
            raise CheckpointError(f"{file}: more than {_MAX_PICKLES} pickles")
        start = reader.tell()
        scan = PickleScan(file=file, reader=kind)
        self.pickles.append(scan)
        nested_count = [0]

        def on_nested(data: bytes) -> None:
            nested_count[0] += 1
            label = f"{file} > nested pickle {nested_count[0]}"
            if depth >= _MAX_NESTED_DEPTH:
                self.pickles.append(
                    PickleScan(file=label, reader="nested", error="nested pickles too deep")
                )
                return
            self.scan_blob(data, label, depth=depth + 1, kind="nested")

        vm = SymbolicUnpickler(
            reader, record_only=True, legacy=legacy, file_name=file, on_nested=on_nested
        )
        scan.vm = vm
        try:
            scan.root = vm.load()
        except Exception as exc:  # keep what was recorded, and list what follows
            scan.error = _one_line(exc)
            end = min(reader.end, start + (1 << 16))
            reader._f.seek(start)
            tail = reader._f.read(end - start)
            seen = {r.raw for r in vm.refs} | {r.name for r in vm.refs}
            scan.extra = [n for n in pickle_globals(tail) if n not in seen]
        scan.refs = vm.refs
        scan.opcodes = vm.opcodes
        scan.violations = vm.violations
        return scan

    def scan_blob(self, data: bytes, label: str, *, depth: int, kind: str) -> None:
        """A nested ``torch.save`` payload (zip or legacy) or a bare pickle."""
        head = data[:16]
        if head.startswith(b"PK\x03\x04"):
            try:
                pkl = _zip_data_pkl(io.BytesIO(data), label, len(data))
            except CheckpointError as exc:
                self.pickles.append(PickleScan(file=label, reader=kind, error=_one_line(exc)))
                return
            self.run(BoundedReader(pkl), label, depth=depth, kind=kind)
        elif head.startswith(formats.LEGACY_PREFIX):
            self.run_legacy(BoundedReader(data), label, depth=depth, kind=kind)
        else:
            self.run(BoundedReader(data), label, depth=depth, kind=kind)

    def run_legacy(
        self, reader: BoundedReader, file: str, *, depth: int = 0, kind: str = "weights_only"
    ) -> None:
        names = ("magic number", "protocol version", "sys_info", "objects", "storage keys")
        for i, what in enumerate(names):
            scan = self.run(reader, f"{file} ({what})", legacy=(i == 3), depth=depth, kind=kind)
            if scan.error:
                break


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _zip_data_pkl(f: Any, label: str, size: int) -> bytes:
    from mltools.ckpt.zipreader import read_pickle_bytes_from

    return read_pickle_bytes_from(f, label, size)


def _scan_pickles(path: Path, fmt: str, scanner: PickleScanner) -> list[str]:
    """Scan every pickle of ``path``; return the files read."""
    if fmt == formats.ZIP:
        from mltools.ckpt.zipreader import read_pickle_bytes, read_zip_checkpoint, zip_pickles

        try:
            data = read_pickle_bytes(path)
        except CheckpointError as exc:
            if "without data.pkl" not in str(exc):
                raise
            # not torch's layout (torch.load refuses it), but pickles inside are still listed
            for label, blob in zip_pickles(path):
                scanner.run(BoundedReader(blob), label)
            scanner.pickles.append(PickleScan(file=str(path), reader="layout", error=str(exc)))
            return [str(path)]
        scanner.run(BoundedReader(data), str(path))
        if _is_torchscript(path):
            scanner.pickles[-1].reader = "torchscript"
        _check_layout(scanner, path, read_zip_checkpoint)
        return [str(path)]
    if fmt == formats.LEGACY:
        from mltools.ckpt.legacy import read_legacy_checkpoint

        with open(path, "rb") as f:
            scanner.run_legacy(BoundedReader(f), str(path))
        _check_layout(scanner, path, read_legacy_checkpoint)
        return [str(path)]
    if fmt == formats.PICKLE:
        with open(path, "rb") as f:
            scanner.run(BoundedReader(f), str(path))
        return [str(path)]
    if fmt == formats.DCP:
        return _scan_dcp(path, scanner)
    if fmt == formats.SHARDED:
        from mltools.ckpt.sharded import read_index, shard_path

        index, weight_map, _ = read_index(path)
        files = []
        for shard_name in dict.fromkeys(weight_map.values()):
            shard = shard_path(index, shard_name)
            files += _scan_pickles(shard, formats.detect_format(shard), scanner)
        return files
    if fmt == formats.SAFETENSORS:
        from mltools.ckpt.safetensors_header import read_safetensors

        read_safetensors(path)  # a truncated or corrupt file is an error, never "safe"
    return []


def _is_torchscript(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()[:100_000]
    except Exception:
        return False
    return any(n.count("/") == 1 and n.endswith("/constants.pkl") for n in names)


def _check_layout(scanner: PickleScanner, path: Path, read: Any) -> None:
    """A file whose pickles read but whose storages are missing or cut short is corrupt."""
    from mltools.ckpt.errors import UnsafePickleError

    if any(p.error for p in scanner.pickles):
        return
    try:
        read(path)
    except UnsafePickleError:
        pass  # named by the scan itself
    except CheckpointError as exc:
        scanner.pickles.append(PickleScan(file=str(path), reader="layout", error=_one_line(exc)))


def _scan_dcp(path: Path, scanner: PickleScanner) -> list[str]:
    from mltools.ckpt.dcp import byte_entries, metadata_path

    meta = metadata_path(path)
    with open(meta, "rb") as f:
        scan = scanner.run(BoundedReader(f), str(meta), kind="dcp-metadata")
    files = [str(meta)]
    if scan.error:
        return files
    try:
        entries = byte_entries(scan.root, meta.parent)
    except CheckpointError as exc:
        scanner.pickles.append(PickleScan(file=str(meta), reader="dcp-metadata", error=str(exc)))
        return files
    for fqn, file, offset, length, transforms in entries:
        label = f"{file} [{fqn}]"
        if transforms:
            scanner.pickles.append(
                PickleScan(
                    file=label,
                    reader="weights_only",
                    error=f"entry {fqn} is stored with transforms {transforms}; not read",
                )
            )
            continue
        with open(file, "rb") as f:
            f.seek(offset)
            blob = f.read(length)
        if len(blob) != length:
            scanner.pickles.append(
                PickleScan(file=label, reader="weights_only", error=f"truncated entry {fqn}")
            )
            continue
        scanner.scan_blob(blob, label, depth=0, kind="weights_only")
        if str(file) not in files:
            files.append(str(file))
    return files


# --- importability, without importing ---------------------------------------------------
def importable(name: str) -> bool:
    """Whether ``module.attr`` names something that exists, found without importing anything."""
    import importlib.machinery
    import importlib.util

    if "<" in name or not name.replace(".", "").replace("_", "a").isalnum():
        return False
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module, attrs = parts[:split], parts[split:]
        loaded = sys.modules.get(".".join(module))
        if loaded is not None:
            if attrs[0] in vars(loaded):
                return True
            continue
        spec = _find_spec_no_import(module, importlib.machinery, importlib.util)
        if spec is None:
            continue
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py"):
            return _defines(origin, attrs[0])
        return True  # an extension or namespace: trust the module's presence
    return False


def _find_spec_no_import(module: list[str], machinery: Any, util: Any) -> Any:
    try:
        spec = util.find_spec(module[0]) if module[0] not in sys.modules else None
        if module[0] in sys.modules:
            spec = getattr(sys.modules[module[0]], "__spec__", None)
    except (ImportError, ValueError):
        return None
    for part in module[1:]:
        locations = getattr(spec, "submodule_search_locations", None) if spec else None
        if not locations:
            return None
        spec = machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(locations))
    return spec


def _defines(source_file: str, attr: str) -> bool:
    try:
        tree = ast.parse(Path(source_file).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in (attr, "__getattr__"):  # a module __getattr__: lazy names
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == attr:
                    return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name) and sub.id == attr:
                        return True
        elif isinstance(node, (ast.If, ast.Try)):
            return True  # conditional definitions: do not guess
    return False


# --- the verdict ------------------------------------------------------------------------
def user_safe_globals() -> set[str]:
    """Globals the user allowlisted with ``torch.serialization.add_safe_globals`` (if torch is loaded)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return set()
    out = set()
    try:
        items = torch.serialization.get_safe_globals()
    except Exception:
        return set()
    for item in items:
        if isinstance(item, tuple):
            out.add(item[1])
        else:
            out.add(f"{item.__module__}.{item.__qualname__}")
    return out


def judge(pickles: list[PickleScan], user_allowed: set[str]) -> dict[str, Any]:
    found: list[GlobalInfo] = []
    seen: set[tuple[str, str]] = set()
    problems: list[str] = []
    errors: list[str] = []

    def add(name: str, category: str, file: str) -> None:
        if (name, file) not in seen:
            seen.add((name, file))
            found.append(GlobalInfo(name, category, file))

    importable_cache: dict[str, bool] = {}
    for p in pickles:
        if p.error:
            errors.append(f"{p.file}: {p.error}")
        if p.reader == "torchscript":
            problems.append(
                f"{p.file}: a TorchScript archive; torch.load(weights_only=True) refuses it, "
                "torch.jit.load runs its TorchScript code (only for trusted files)"
            )
        for ref in p.refs:
            category = classify_ref(ref, user_allowed)
            if (
                p.reader == "torchscript"
                and ref.raw.startswith("__torch__.")
                and category != DANGEROUS
            ):
                add(ref.raw, TORCHSCRIPT, p.file)
                continue
            dcp_ok = p.reader == "dcp-metadata" and ref.name in DCP_METADATA_ALLOWED
            if category == NEEDS_ALLOWLIST and dcp_ok:
                category = ALLOWED
            if category == NEEDS_ALLOWLIST:
                if ref.torch not in importable_cache:
                    importable_cache[ref.torch] = importable(ref.torch)
                if not importable_cache[ref.torch]:
                    category = UNKNOWN
            add(ref.torch if category != DANGEROUS else ref.name, category, p.file)
        for name in p.extra:
            category = UNKNOWN if name.startswith("<") else classify_global(name)
            if category in (ALLOWED, NEEDS_ALLOWLIST):
                category = UNKNOWN  # seen by pickletools only: never vouched for
            add(name, category, p.file)
        if p.reader in ("weights_only", "nested", "torchscript"):
            extra_ops = sorted(p.opcodes - TORCH_OPCODES)
            if extra_ops:
                problems.append(
                    f"{p.file}: opcodes {', '.join(extra_ops)} are not understood by torch's "
                    "weights_only unpickler (re-save with pickle_protocol=2)"
                )
            for v in p.violations:
                last = v.rsplit(" ", 1)[-1]
                if last in user_allowed or v.startswith("GLOBAL ") or last.startswith("__torch__."):
                    continue  # globals are judged one by one above
                problems.append(f"{p.file}: torch's weights_only unpickler refuses {v}")
    dangerous = sorted({g.name for g in found if g.category == DANGEROUS})
    unknown = sorted({g.name for g in found if g.category == UNKNOWN})
    to_allow = sorted({g.name for g in found if g.category == NEEDS_ALLOWLIST})
    if dangerous:
        verdict = DANGEROUS
    elif errors:
        verdict = CORRUPT
    elif unknown:
        verdict = UNKNOWN
    elif to_allow:
        verdict = NEEDS_ALLOWLIST
    elif problems:
        verdict = UNSUPPORTED
    else:
        verdict = SAFE
    return {
        "globals": found,
        "dangerous": dangerous,
        "unknown": unknown,
        "to_allow": to_allow,
        "problems": errors + problems,
        "verdict": verdict,
    }


def scan_checkpoint(path: str | os.PathLike[str]) -> ScanReport:
    """List the pickle globals of ``path`` without executing anything, and judge them.

    ``verdict``: ``safe`` (every global in torch's weights_only allowlist plus the user's
    ``add_safe_globals``, every step one torch's weights_only unpickler accepts, the file
    complete), ``unsupported`` (allowed globals, but torch's weights_only unpickler refuses
    an opcode or step, e.g. pickle protocol 4), ``needs-allowlist`` (importable globals outside
    the allowlist: ``to_allow``), ``unknown`` (globals that name nothing importable: refuse,
    never allowlist), ``corrupt`` (truncated or unreadable: never safe), ``dangerous``
    (globals known to run code: ``dangerous``).
    """
    p = Path(path)
    fmt = formats.detect_format(p)
    scanner = PickleScanner()
    files = _scan_pickles(p, fmt, scanner)
    judged = judge(scanner.pickles, user_safe_globals())
    notes = []
    if fmt == formats.DCP:
        notes.append(
            "torch reads a distributed checkpoint's .metadata with plain pickle and its "
            "non-tensor entries with weights_only=False; mltools reads both through the "
            "allowlist"
        )
    if fmt == formats.PICKLE:
        notes.append("a bare pickle, not a torch file: torch.load will not read it")
    verdict = judged["verdict"]
    loadable = verdict == SAFE and fmt != formats.PICKLE
    return ScanReport(
        path=str(p),
        format=fmt,
        files=files or [str(p)],
        globals=judged["globals"],
        weights_only_loadable=loadable,
        dangerous=judged["dangerous"],
        to_allow=judged["to_allow"],
        verdict=verdict,
        pickle_free=not scanner.pickles,
        notes=notes,
        unknown=judged["unknown"],
        problems=judged["problems"],
    )
