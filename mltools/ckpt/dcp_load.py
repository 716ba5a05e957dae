"""Loading a distributed checkpoint with torch, without plain pickle or ``weights_only=False``.

Above the scan (``scan``): each non-tensor entry is judged before torch reads it, and
``.metadata`` is read by an unpickler that resolves only DCP's metadata classes and torch's
allowlist.
"""

from __future__ import annotations

from typing import Any

from mltools.ckpt.errors import UnsafePickleError
from mltools.ckpt.scan import SAFE, PickleScanner, judge, user_safe_globals


def _restricted_metadata_load(file: Any) -> Any:
    """Unpickle ``.metadata`` resolving only DCP's metadata classes and torch's allowlist."""
    import importlib
    import pickle

    from mltools.ckpt.allowlist import DCP_METADATA_ALLOWED, allowed_globals, torch_name

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
    scanner = PickleScanner()
    scanner.scan_blob(data, f"entry {fqn}", depth=0, kind="weights_only")
    judged = judge(scanner.pickles, user_safe_globals())
    if judged["verdict"] != SAFE:
        names = judged["dangerous"] or judged["unknown"] or judged["to_allow"]
        what = ", ".join(names[:3]) if names else "; ".join(judged["problems"][:1])
        raise UnsafePickleError(
            f"refusing entry {fqn} of the distributed checkpoint: {judged['verdict']} ({what})",
            global_name=names[0] if names else "",
            hint="torch would read it with weights_only=False; --unsafe if you trust the file",
        )
