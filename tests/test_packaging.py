"""The distribution name (mltools-cli) is used everywhere a user is told what to install."""

from __future__ import annotations

import re
import subprocess

import pytest

from mltools._deps import DIST_NAME, install_hint, require
from mltools.errors import MissingDependencyError
from tests.conftest import REPO

# `pip install mltools`, `pip install 'mltools[torch]'`, `pip install -U "mltools[...]"`:
# the PyPI project named `mltools` is an unrelated one, so none of these may be left.
STALE = re.compile(r"""pip3?\s+install\s+(?:-\S+\s+)*['"]?mltools(?![\w-])""")


def _tracked_text_files():
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, out.split("\0")):
        path = REPO / name
        if not path.is_file():
            continue
        try:
            yield name, path.read_text()
        except UnicodeDecodeError:
            continue


def test_the_pattern_catches_stale_hints():
    for stale in (
        "pip install mltools",
        "pip install 'mltools[torch]'",
        'pip install -U "mltools[frame]"',
        "pip install --upgrade mltools[all]",
    ):
        assert STALE.search(stale), stale
    for fine in ("pip install 'mltools-cli[torch]'", "pip install mltools-cli", "pip install ."):
        assert not STALE.search(fine), fine


def test_no_stale_install_hint_anywhere_in_the_repo():
    found = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for name, text in _tracked_text_files()
        if name != "tests/test_packaging.py"
        for m in STALE.finditer(text)
    ]
    assert found == []


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_pyproject_uses_the_distribution_name():
    project = _pyproject()["project"]
    assert project["name"] == DIST_NAME == "mltools-cli"
    assert project["scripts"] == {"mltools": "mltools.cli.app:main"}  # the command stays
    extras = project["optional-dependencies"]
    for req in extras["all"]:
        name, _, rest = req.partition("[")
        assert name == DIST_NAME  # the `all` extra refers to this distribution
        assert set(rest.rstrip("]").split(",")) <= set(extras)


def test_readme_extras_table_names_the_distribution():
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)\[(\w+)\]` \|", readme, flags=re.M)
    assert rows and {name for name, _ in rows} == {DIST_NAME}
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {extra for _, extra in rows} == set(extras) - {"test"}


def test_missing_dependency_hint_names_the_distribution(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(MissingDependencyError) as info:
        require("safetensors")
    assert (
        info.value.hint == "pip install 'mltools-cli[safetensors]'" == install_hint("safetensors")
    )
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MissingDependencyError) as info:
        require("pynvml")
    assert info.value.hint == "pip install nvidia-ml-py"  # not the deprecated `pynvml` wrapper
