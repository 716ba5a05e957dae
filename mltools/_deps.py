"""Import optional dependencies with a clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from mltools.errors import MissingDependencyError

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
            hint = f"pip install 'mltools[{extra}]'"
        else:
            hint = f"pip install {top}"
        raise MissingDependencyError(
            f"{human} is needed for this and could not be imported ({exc})", hint=hint
        ) from exc
