"""Import optional dependencies, and the one place that says how to install what is missing.

Every install hint names the real packages (``pip install torch``), which works today from
any index. The extra (``mltools-cli[torch]``) is offered beside it only in the form that can
be installed from where this copy of mltools came from: the clone's folder for a local
install, the VCS URL for a ``git+`` install, the distribution name only when it came from
an index. An extra named after an unpublished distribution would fail, and would invite
anyone to register that name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mltools.errors import MissingDependencyError

# The distribution's name. The import package and the command are both ``mltools``; the
# distribution is ``mltools-cli`` because ``mltools`` on PyPI is an unrelated project.
DIST_NAME = "mltools-cli"

# extra -> the pip requirements it stands for (pyproject's optional-dependencies, by name)
EXTRA_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "safetensors": ("safetensors",),
    "frame": ("pandas", "joblib", "pyarrow"),
    "dask": ("dask[distributed]", "pandas", "pyarrow"),
    "pyspy": ("py-spy",),
    "pandarallel": ("pandarallel", "pandas<3"),
}

# import name -> (extra, human name)
_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "PyTorch"),
    "safetensors": ("safetensors", "safetensors"),
    "pandas": ("frame", "pandas"),
    "joblib": ("frame", "joblib"),
    "pyarrow": ("frame", "pyarrow"),
    "dask": ("dask", "Dask"),
    "distributed": ("dask", "dask.distributed"),
    "pandarallel": ("pandarallel", "pandarallel"),
    "magic": ("", "python-magic (and the libmagic1 system library)"),
    "pynvml": ("", "nvidia-ml-py"),
}

# import name -> pip name, where they differ (pynvml on PyPI is a deprecated wrapper)
_PIP_NAMES = {"pynvml": "nvidia-ml-py", "magic": "python-magic"}


def _quoted(requirement: str) -> str:
    """``requirement`` as a shell word (brackets and ``<`` need quotes)."""
    return f"'{requirement}'" if any(c in requirement for c in "[]<>=*? ") else requirement


def install_origin() -> str | None:
    """The requirement that reinstalls this copy of mltools, or None when pip did not install it.

    Read from the installed distribution's ``direct_url.json`` (PEP 610): a local folder
    gives its path (``-e <path>`` when editable), a VCS install its ``git+URL@commit``, a
    wheel or sdist file its path while the file still exists; no ``direct_url.json`` means an
    index, where the distribution name works.
    """
    import json
    import os
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        return None
    raw = dist.read_text("direct_url.json")
    if raw is None:
        return DIST_NAME
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    url = info.get("url", "") if isinstance(info, dict) else ""
    parsed = urlparse(url)
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        return f"{DIST_NAME} @ {vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else "")
    if parsed.scheme != "file":
        return f"{DIST_NAME} @ {url}" if url else None
    path = unquote(parsed.path)
    if "dir_info" in info and os.path.isdir(path):
        editable = bool(info["dir_info"].get("editable"))
        return f"-e {path}" if editable else path
    return path if os.path.isfile(path) else None


def _with_extra(origin: str, extra: str) -> str:
    """``pip install`` arguments for ``origin`` with ``extra``."""
    if origin.startswith("-e "):
        return f"-e {_quoted(origin[3:] + f'[{extra}]')}"
    name, sep, url = origin.partition(" @ ")
    if sep:
        return _quoted(f"{name}[{extra}] @ {url}")
    return _quoted(f"{origin}[{extra}]")


def install_hint(extra: str) -> str:
    """The command that installs what ``extra`` stands for, e.g. ``pip install torch``.

    Names the real packages first; adds the extra only as it can be installed from where
    this mltools came from (see :func:`install_origin`).
    """
    packages = " ".join(_quoted(p) for p in EXTRA_PACKAGES[extra])
    hint = f"pip install {packages}"
    origin = install_origin()
    if origin is not None:
        hint += f"  (or: pip install {_with_extra(origin, extra)})"
    return hint


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra, human = _EXTRAS.get(top, ("", top))
        if top == "magic":
            hint = "apt-get install -y libmagic1 && pip install python-magic"
        elif extra:
            hint = install_hint(extra)
        else:
            hint = f"pip install {_PIP_NAMES.get(top, top)}"
        raise MissingDependencyError(
            f"{human} is needed for this and could not be imported ({exc})", hint=hint
        ) from exc
