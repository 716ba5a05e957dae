"""Torch distributed checkpoints (``torch.distributed.checkpoint``): read ``.metadata``.

``.metadata`` is a pickle of a ``Metadata`` dataclass that torch itself loads with
plain ``pickle.load``, and torch's loader reads each non-tensor entry with
``torch.load(weights_only=False)``. Here ``.metadata`` is read symbolically (nothing in it
runs) and, when tensors are loaded, with an unpickler that resolves only the DCP metadata
classes and torch's weights_only allowlist; non-tensor entries go through
``torch.load(weights_only=True)`` after a scan. Tensor entries give the global shape and
dtype; the data stays in the ``*.distcp`` files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltools.ckpt.errors import CheckpointError, UnsafePickleError
from mltools.ckpt.records import Checkpoint, OpaqueObject, TensorMeta
from mltools.ckpt.unpickler import symbolic_load


def metadata_path(path: Path) -> Path:
    return path if path.name == ".metadata" else path / ".metadata"


def _dtype(properties: Any) -> str:
    if isinstance(properties, OpaqueObject):
        state = properties.state
        if isinstance(state, tuple) and state:
            return str(state[0])
        dtype = properties.attributes().get("dtype")
        if dtype is not None:
            return str(dtype)
    return "unknown"


def confined(folder: Path, relative: Any, what: str) -> Path:
    """``folder / relative``, refused when it is absolute or leaves ``folder`` (``..``, links)."""
    if not isinstance(relative, (str, os.PathLike)) or not str(relative):
        raise CheckpointError(f"corrupt checkpoint: {what} names no file ({relative!r:.60})")
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(
            f"refusing {what} {str(relative)!r}: it points outside the checkpoint's folder {folder}"
        )
    target = folder / rel
    try:
        resolved, base = target.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        raise CheckpointError(f"refusing {what} {str(relative)!r}: cannot resolve it") from None
    if resolved != base and base not in resolved.parents:
        raise CheckpointError(
            f"refusing {what} {str(relative)!r}: it links outside the checkpoint's folder {folder}"
        )
    return target


def byte_entries(root: Any, folder: Path) -> list[tuple[str, Path, int, int, Any]]:
    """(fqn, file, offset, length, transforms) of every non-tensor entry of ``.metadata``'s tree."""
    attrs = root.attributes() if isinstance(root, OpaqueObject) else {}
    entries = attrs.get("state_dict_metadata")
    storage = attrs.get("storage_data")
    if not isinstance(entries, dict) or not isinstance(storage, dict):
        raise CheckpointError("corrupt distributed checkpoint metadata (no state_dict_metadata)")
    byte_fqns = {
        str(fqn)
        for fqn, entry in entries.items()
        if isinstance(entry, OpaqueObject) and entry.qualname.endswith(".BytesStorageMetadata")
    }
    out = []
    for index, info in storage.items():
        idx = index.attributes() if isinstance(index, OpaqueObject) else {}
        fqn = str(idx.get("fqn"))
        if fqn not in byte_fqns:
            continue
        item = info.attributes() if isinstance(info, OpaqueObject) else {}
        try:
            offset, length = int(item.get("offset")), int(item.get("length"))
        except (TypeError, ValueError):
            raise CheckpointError(f"corrupt distributed checkpoint metadata: entry {fqn}") from None
        file = confined(folder, item.get("relative_path"), f"entry {fqn}'s file")
        size = file.stat().st_size if file.is_file() else -1
        if offset < 0 or length < 0 or offset + length > size:
            raise CheckpointError(
                f"truncated distributed checkpoint: entry {fqn} runs past the end of {file.name}"
            )
        out.append((fqn, file, offset, length, item.get("transform_descriptors")))
    return out


def read_dcp(path: str | os.PathLike[str]) -> Checkpoint:
    """Parse a distributed checkpoint directory (or its ``.metadata``) into a ``Checkpoint``."""
    meta_file = metadata_path(Path(path))
    data = meta_file.read_bytes()
    if not data:
        raise CheckpointError(f"empty file: {meta_file}")
    obj, unpickler = symbolic_load(data, file_name=str(meta_file))
    entries = obj.attributes().get("state_dict_metadata") if isinstance(obj, OpaqueObject) else None
    if not isinstance(entries, dict):
        raise CheckpointError(f"corrupt distributed checkpoint metadata: {meta_file}")
    root: dict[str, Any] = {}
    for fqn, entry in entries.items():
        attrs = entry.attributes() if isinstance(entry, OpaqueObject) else {}
        if "size" in attrs and "properties" in attrs:
            root[str(fqn)] = TensorMeta(
                dtype=_dtype(attrs["properties"]),
                shape=tuple(int(d) for d in attrs["size"]),
                device="cpu",
            )
        else:
            root[str(fqn)] = entry
    files = sorted(str(p) for p in meta_file.parent.glob("*.distcp"))
    return Checkpoint(
        path=str(meta_file.parent),
        format="torch-dcp",
        root=root,
        files=files,
        globals=unpickler.globals,
    )


# --- loading, with torch, without plain pickle ------------------------------------------
def _restricted_metadata_load(file: Any) -> Any:
    """Unpickle ``.metadata`` resolving only DCP's metadata classes and torch's allowlist."""
    import importlib
    import pickle

    from mltools.ckpt.allowlist import allowed_globals, torch_name
    from mltools.ckpt.scan import DCP_METADATA_ALLOWED

    allowed = allowed_globals() | DCP_METADATA_ALLOWED

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            full = torch_name(module, name)
            if full not in allowed:
                raise UnsafePickleError(
                    f"refusing the distributed checkpoint's .metadata: it imports {full}",
                    global_name=full,
                    hint="only torch's own metadata classes are let through; "
                    "--unsafe (weights_only=False) if you trust the file",
                )
            mod, _, attr = full.rpartition(".")
            obj: Any = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj

    return Restricted(file).load()


def safe_dcp_loader() -> tuple[Any, Any]:
    """(reader class, planner class) that read ``.metadata`` and non-tensor entries safely."""
    import io

    import torch
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.metadata import StorageMeta

    class SafeReader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            path = self._get_metadata_path(kwargs.get("rank"))
            with self.fs.create_stream(path, "rb") as f:
                metadata = _restricted_metadata_load(f)
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    class SafePlanner(_EmptyStateDictLoadPlanner):
        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
            fqn = read_item.dest_index.fqn
            data = value.getvalue()
            _refuse_unsafe_entry(fqn, data)
            try:
                obj = torch.load(io.BytesIO(data), weights_only=True)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                raise UnsafePickleError(
                    f"refusing entry {fqn} of the distributed checkpoint: torch's "
                    f"weights_only unpickler refuses it ({first})",
                    global_name="",
                    hint="--unsafe (weights_only=False) if you trust the file",
                ) from None
            if self.flatten_state_dict:
                from torch.distributed.checkpoint._nested_dict import set_element

                set_element(self.original_state_dict, self.mappings[fqn], obj)
            else:
                self.state_dict[fqn] = obj

    return SafeReader, SafePlanner


def _refuse_unsafe_entry(fqn: str, data: bytes) -> None:
    from mltools.ckpt.scan import SAFE, _judge, _Scanner, _user_safe_globals

    scanner = _Scanner()
    scanner.scan_blob(data, f"entry {fqn}", depth=0, kind="weights_only")
    judged = _judge(scanner.pickles, _user_safe_globals())
    if judged["verdict"] != SAFE:
        names = judged["dangerous"] or judged["unknown"] or judged["to_allow"]
        what = ", ".join(names[:3]) if names else "; ".join(judged["problems"][:1])
        raise UnsafePickleError(
            f"refusing entry {fqn} of the distributed checkpoint: {judged['verdict']} ({what})",
            global_name=names[0] if names else "",
            hint="torch would read it with weights_only=False; --unsafe if you trust the file",
        )
