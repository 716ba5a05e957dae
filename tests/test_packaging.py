"""The distribution name (mltools-cli) is used everywhere a user is told what to install."""

from __future__ import annotations

import re
import subprocess

import pytest

from mltools._deps import DIST_NAME, EXTRA_PACKAGES, install_hint, require
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


# the extras the test stages install (scripts/test.sh), not features a user installs
TEST_EXTRAS = {"test", "test-base"}


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
    assert {extra for _, extra in rows} == set(extras) - TEST_EXTRAS


def test_missing_dependency_hint_names_real_packages_and_the_installable_extra(monkeypatch):
    """Hints name the real packages, and the extra only as it installs from where mltools came
    from: `pip install 'mltools-cli[torch]'` names an unpublished distribution and fails."""
    import sys

    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(MissingDependencyError) as info:
        require("safetensors")
    assert info.value.hint == install_hint("safetensors")
    assert info.value.hint.startswith("pip install safetensors")
    assert f"{DIST_NAME}[" not in info.value.hint  # this checkout is not installed from an index
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MissingDependencyError) as info:
        require("pynvml")
    assert info.value.hint == "pip install nvidia-ml-py"  # not the deprecated `pynvml` wrapper


class _Dist:
    def __init__(self, direct_url: str | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return self.direct_url


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        # from an index: the distribution name is installable there
        (None, "pip install torch  (or: pip install 'mltools-cli[torch]')"),
        # `pip install .` from a clone that still exists
        (
            '{"url": "file://{clone}", "dir_info": {}}',
            "pip install torch  (or: pip install '{clone}[torch]')",
        ),
        # `pip install -e .`
        (
            '{"url": "file://{clone}", "dir_info": {"editable": true}}',
            "pip install torch  (or: pip install -e '{clone}[torch]')",
        ),
        # the clone was deleted since: only the real package
        ('{"url": "file:///nonexistent/clone", "dir_info": {}}', "pip install torch"),
        # `pip install git+https://...`
        (
            '{"url": "https://example.org/mltools.git", "vcs_info": {"vcs": "git", '
            '"commit_id": "abc123"}}',
            "pip install torch  (or: pip install "
            "'mltools-cli[torch] @ git+https://example.org/mltools.git@abc123')",
        ),
        # garbage metadata: no guess
        ("{not json", "pip install torch"),
    ],
)
def test_install_hint_offers_the_extra_only_where_it_installs(
    monkeypatch, tmp_path, direct_url, expected
):
    from importlib import metadata

    clone = str(tmp_path)
    raw = None if direct_url is None else direct_url.replace("{clone}", clone)
    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist(raw))
    assert install_hint("torch") == expected.replace("{clone}", clone)


def test_install_hint_when_mltools_is_not_installed(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    assert install_hint("frame") == "pip install pandas joblib pyarrow"
    assert install_hint("dask") == "pip install 'dask[distributed]' pandas pyarrow"
    assert install_hint("pyspy") == "pip install py-spy"


def test_extra_packages_mirror_pyproject():
    """The packages a hint names are exactly those the extra installs."""
    extras = _pyproject()["project"]["optional-dependencies"]
    name = re.compile(r"^[A-Za-z0-9_.-]+(\[[^\]]*\])?")
    for extra, packages in EXTRA_PACKAGES.items():
        declared = [name.match(req).group(0) for req in extras[extra]]
        assert [name.match(p).group(0) for p in packages] == declared, extra
    assert set(EXTRA_PACKAGES) == set(extras) - TEST_EXTRAS - {"all"}


def test_all_extra_installs_only_what_imports_together():
    """`[all]` used to bring pandarallel, which does not import on the pandas 3 it also brings."""
    extras = _pyproject()["project"]["optional-dependencies"]
    (req,) = extras["all"]
    assert "pandarallel" not in req
    assert any("<3" in r for r in extras["pandarallel"] if r.startswith("pandas"))


def test_every_public_error_is_importable_from_mltools():
    """`from mltools import NoDriverError` failed: scripts catch errors by name, so every
    exception class the library defines (not _private) is one import away. Where two share a
    name (ckpt's OutputExistsError), the exported one is the base that catches both."""
    import importlib
    import inspect
    import pkgutil

    import mltools
    from mltools.errors import MltoolsError

    defined: dict[str, list[type]] = {}
    for info in pkgutil.walk_packages(mltools.__path__, "mltools."):
        if info.name.startswith(("mltools.cli", "mltools.tui")):
            continue  # the CLI and the TUI raise the library's errors, they define none
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, (MltoolsError, KeyboardInterrupt))
                and obj.__module__ == info.name
                and not name.startswith("_")
            ):
                defined.setdefault(name, []).append(obj)
    assert "NoDriverError" in defined and "Interrupted" in defined
    missing = [name for name in defined if name not in mltools.__all__]
    assert missing == [], f"add these to mltools/__init__.py's _LAZY: {missing}"
    for name, classes in defined.items():
        exported = getattr(mltools, name)
        assert all(issubclass(cls, exported) for cls in classes), name
