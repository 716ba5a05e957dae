"""Import optional dependencies with a clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from mltools.errors import MissingDependencyError

# The name on PyPI. The import package and the command are both ``mltools``; the
# distribution is ``mltools-cli`` because ``mltools`` on PyPI is an unrelated project.
DIST_NAME = "mltools-cli"

# import name -> (pip extra, human name)
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
_PIP_NAMES = {"pynvml": "nvidia-ml-py"}


def install_hint(extra: str = "") -> str:
    """The pip command that installs this tool, with ``extra`` (e.g. ``"torch"``) if given."""
    return f"pip install '{DIST_NAME}[{extra}]'" if extra else f"pip install {DIST_NAME}"


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
