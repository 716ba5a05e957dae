"""mltools' copy of torch's weights_only allowlist matches the installed torch."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from mltools.ckpt import allowlist  # noqa: E402


def test_allowed_globals_match_torch():
    from torch._weights_only_unpickler import _get_allowed_globals

    assert set(_get_allowed_globals()) == set(allowlist.TORCH_ALLOWED)


@pytest.mark.slow
def test_self_registered_globals_are_torchs_own():
    """What torch registers with add_safe_globals when its modules are imported."""
    code = (
        "import torch, torch.nested, torch._dynamo, torch.distributed.tensor, "
        "torch.distributed.device_mesh, torch.distributed._serialization\n"
        "from torch._weights_only_unpickler import _get_user_allowed_globals\n"
        "print('\\n'.join(sorted(_get_user_allowed_globals())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(out.stdout.split()) == set(allowlist.TORCH_SELF_REGISTERED)


def test_opcodes_and_blocked_modules_match_torch():
    import ast

    import torch._weights_only_unpickler as w

    ops = set()
    for node in ast.walk(ast.parse(inspect.getsource(w.Unpickler))):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id.isupper()
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == 0
        ):
            ops.add(node.value.id)
    assert ops == set(allowlist.TORCH_OPCODES)
    assert set(w._blocklisted_modules) == set(allowlist.TORCH_BLOCKED_MODULES)


def test_py2_mappings_match_torch():
    from torch._utils import IMPORT_MAPPING, NAME_MAPPING

    assert allowlist.IMPORT_MAPPING == IMPORT_MAPPING
    assert allowlist.NAME_MAPPING == NAME_MAPPING


def test_no_torch_import_needed():
    code = (
        "import sys; from mltools.ckpt.scan import scan_checkpoint; "
        "from mltools.ckpt.allowlist import allowed_globals; allowed_globals(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_suggested_names_are_importable_and_unknown_ones_are_not():
    from mltools.ckpt.scan import importable

    for name in ("argparse.Namespace", "builtins.set", "collections.OrderedDict", "pathlib.PosixPath",
                 "numpy.core.multiarray._reconstruct", "torch.nn.modules.linear.Linear"):  # fmt: skip
        assert importable(name), name
    for name in ("__builtin__.set", "nosuchmodule.x", "argparse.NoSuchThing", "<unknown STACK_GLOBAL>",
                 "_pyrepl.pager.pipe_pager"):  # fmt: skip
        assert not importable(name), name
