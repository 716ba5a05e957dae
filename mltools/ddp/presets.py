"""Environment presets for debugging DDP, with variable names for the installed torch.

``preset_names()`` is cheap (no torch import) so shell completion can use it.
The torch version comes from the package metadata, not from importing torch.
Renames followed here: torch 2.2 moved NCCL_ASYNC_ERROR_HANDLING,
NCCL_BLOCKING_WAIT and NCCL_DESYNC_DEBUG to ``TORCH_NCCL_*``; torch 2.7 moved the
flight recorder's TORCH_NCCL_TRACE_BUFFER_SIZE / TORCH_NCCL_DEBUG_INFO_TEMP_FILE
to TORCH_FR_BUFFER_SIZE / TORCH_FR_DUMP_TEMP_FILE (the old names still work).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mltools.errors import UsageError

#: name -> one-line explanation (the order is the order ``env --list`` prints)
PRESETS: dict[str, str] = {
    "nccl-debug": "NCCL_DEBUG=INFO for all subsystems, one file per host and pid "
    "(argument: the directory, e.g. nccl-debug=/tmp/nccl).",
    "hang": "Desync debug, the flight recorder with a dump on timeout "
    "(argument: the dump path prefix), and TORCH_DISTRIBUTED_DEBUG=INFO.",
    "p2p-off": "Disable NCCL peer-to-peer (NVLink/PCIe) transfers: isolates P2P/IOMMU problems.",
    "ib-off": "Disable NCCL InfiniBand/RoCE: forces sockets, isolates IB problems.",
    "shm-off": "Disable NCCL shared-memory transport: isolates /dev/shm problems in containers.",
    "ifname": "Pin NCCL and Gloo to one network interface: the one that routes to "
    "MASTER_ADDR, or the one given (ifname=eth0).",
    "cuda-sync": "CUDA_LAUNCH_BLOCKING=1: errors point at the real line (slow; debugging only).",
    "fail-fast": "Async error handling: a failed or stuck rank ends the job instead of hanging it.",
}


class PresetError(UsageError):
    """An unknown preset name or a bad preset argument."""


@dataclass
class Preset:
    """One resolved preset: its name and the variables it sets."""

    name: str
    description: str
    variables: dict[str, str]


def preset_names() -> list[str]:
    """The preset names (cheap: no torch import; used by shell completion)."""
    return list(PRESETS)


def torch_version() -> tuple[int, int] | None:
    """The installed torch's (major, minor) from package metadata, or None."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    parts = version.split("+")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def _new_names(version: tuple[int, int] | None) -> bool:
    return version is None or version >= (2, 2)


def _fr_names(version: tuple[int, int] | None) -> bool:
    return version is None or version >= (2, 7)


def route_interface(master_addr: str, port: int = 29500) -> str | None:
    """The local interface whose address routes to ``master_addr`` (no packet is sent)."""
    import psutil

    try:
        family = socket.AF_INET6 if ":" in master_addr else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((master_addr, port))
            local_ip = s.getsockname()[0]
    except OSError:
        return None
    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address.split("%")[0] == local_ip for a in addrs):
            return name
    return None


def resolve(
    spec: str,
    *,
    env: Mapping[str, str] | None = None,
    version: tuple[int, int] | None = None,
) -> Preset:
    """Turn ``name`` or ``name=argument`` into its variables for the given torch version."""
    env = os.environ if env is None else env
    name, _, arg = spec.partition("=")
    if name not in PRESETS:
        raise PresetError(
            f"unknown preset: {name!r}",
            hint="known presets: " + ", ".join(PRESETS) + " (mltools ddp-doctor env --list)",
        )
    v = version if version is not None else torch_version()
    new, fr = _new_names(v), _fr_names(v)
    variables: dict[str, str]
    if name == "nccl-debug":
        directory = arg or "."
        variables = {
            "NCCL_DEBUG": "INFO",
            "NCCL_DEBUG_SUBSYS": "ALL",
            "NCCL_DEBUG_FILE": os.path.join(directory, "nccl.%h.%p.log"),
        }
    elif name == "hang":
        dump = arg or "/tmp/mltools_fr_trace_rank_"
        variables = {
            ("TORCH_NCCL_DESYNC_DEBUG" if new else "NCCL_DESYNC_DEBUG"): "1",
            ("TORCH_FR_BUFFER_SIZE" if fr else "TORCH_NCCL_TRACE_BUFFER_SIZE"): "2000",
            "TORCH_NCCL_DUMP_ON_TIMEOUT": "1",
            ("TORCH_FR_DUMP_TEMP_FILE" if fr else "TORCH_NCCL_DEBUG_INFO_TEMP_FILE"): dump,
            "TORCH_DISTRIBUTED_DEBUG": "INFO",
        }
    elif name == "p2p-off":
        variables = {"NCCL_P2P_DISABLE": "1"}
    elif name == "ib-off":
        variables = {"NCCL_IB_DISABLE": "1"}
    elif name == "shm-off":
        variables = {"NCCL_SHM_DISABLE": "1"}
    elif name == "ifname":
        iface = arg or _auto_interface(env)
        variables = {"NCCL_SOCKET_IFNAME": f"={iface}", "GLOO_SOCKET_IFNAME": iface}
    elif name == "cuda-sync":
        variables = {"CUDA_LAUNCH_BLOCKING": "1"}
    else:  # fail-fast
        variables = {
            ("TORCH_NCCL_ASYNC_ERROR_HANDLING" if new else "NCCL_ASYNC_ERROR_HANDLING"): "1"
        }
    if arg and name not in ("nccl-debug", "hang", "ifname"):
        raise PresetError(f"preset {name!r} takes no argument (got {arg!r})")
    return Preset(name, PRESETS[name], variables)


def _auto_interface(env: Mapping[str, str]) -> str:
    master = env.get("MASTER_ADDR")
    if not master:
        raise PresetError(
            "the ifname preset needs MASTER_ADDR to find the interface, or a name",
            hint="set MASTER_ADDR, or write ifname=eth0",
        )
    iface = route_interface(master)
    if iface is None:
        raise PresetError(
            f"no local interface routes to MASTER_ADDR={master}",
            hint="check MASTER_ADDR, or name the interface: ifname=eth0",
        )
    return iface


def resolve_all(
    specs: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    version: tuple[int, int] | None = None,
) -> dict[str, str]:
    """Merge several presets (later ones win on conflicts)."""
    merged: dict[str, str] = {}
    for spec in specs:
        merged.update(resolve(spec, env=env, version=version).variables)
    return merged


FORMATS = ("sh", "fish", "dotenv", "json")


def render(variables: Mapping[str, str], fmt: str = "sh") -> str:
    """Render variables as ``export`` lines (sh), ``set -gx`` (fish), dotenv or JSON."""
    if fmt == "sh":
        lines = [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    elif fmt == "fish":
        lines = [f"set -gx {k} {shlex.quote(v)}" for k, v in variables.items()]
    elif fmt == "dotenv":
        lines = [
            f"{k}={json.dumps(v) if any(c in v for c in ' #%$') else v}"
            for k, v in variables.items()
        ]
    elif fmt == "json":
        return json.dumps(dict(variables), indent=2) + "\n"
    else:
        raise PresetError(f"unknown format: {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    return "".join(line + "\n" for line in lines)


# variables whose value is a file path (or a path prefix) the job writes to
_PATH_VARIABLES = ("NCCL_DEBUG_FILE", "TORCH_FR_DUMP_TEMP_FILE", "TORCH_NCCL_DEBUG_INFO_TEMP_FILE")


def make_directories(variables: Mapping[str, str]) -> list[str]:
    """Create the folders the presets' files go to (``nccl-debug=DIR`` makes DIR): NCCL
    and the flight recorder do not create them and write nothing when they are missing.
    Returns the folders created."""
    made = []
    for name in _PATH_VARIABLES:
        if name in variables:
            folder = os.path.dirname(variables[name])
            if folder and not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)
                made.append(folder)
    return made
