"""``ddp-doctor hang --bundle FILE.tar.gz``: everything gathered, in one file to share.

The bundle is what a bug report or the on-call channel needs, gathered from each
host that runs ranks (over ssh with ``--hosts``: each host gathers its own part,
``gather_material``, and sends it back in its JSON):

* ``verdict.txt`` and ``report.json`` (the ``--json`` report);
* ``stacks/HOST/rank-N.txt``: every thread of every rank, native frames included;
* ``flight_recorder/HOST/rank-N-NAME``: the flight-recorder dumps, copied off the
  node-local /tmp they were written to;
* ``env/HOST/rank-N.env``: the ranks' NCCL/TORCH/launcher environment;
* ``versions.json``, ``gpu/HOST.json`` (the ``mltools gpu`` snapshot, or why there
  is none) and ``kernel/HOST-xid.txt`` (recent NVIDIA Xid kernel lines where the
  kernel log can be read).

Secrets are masked everywhere: any variable whose name says token, password,
secret, key or credential, any value shaped like a known token, a password in a
URL, and every occurrence of those values in any other file of the bundle (a
``--locals`` repr, a command line). The file is written through ``write_atomic``:
never over an existing file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mltools._outputs import write_atomic
from mltools._procfs import read_environ
from mltools.ddp import pyspy
from mltools.ddp.hang_sampling import MAX_PYSPY, thread_dicts

MASK = "***masked***"
# names whose values are secrets
_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW|_PWD$|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|(^|_)KEY$|SESSION|"
    r"COOKIE|SIGNATURE)",
    re.IGNORECASE,
)
# values shaped like well-known tokens, whatever the name
_SECRET_VALUE = re.compile(
    r"(hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}|glpat-[A-Za-z0-9_-]{20,})"
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<pw>[^@\s/]+)(?=@)")
# the environment worth sharing: torch, NCCL and the launchers' variables
_ENV_PREFIXES = (
    "NCCL_", "TORCH", "PYTORCH_", "CUDA_", "GLOO_", "MASTER_", "OMP_", "SLURM_",
    "OMPI_COMM_WORLD_", "PMI_", "PMIX_RANK", "MPI_LOCAL", "ACCELERATE_", "DS_", "DEEPSPEED",
    "HF_", "WANDB_", "UCX_", "FI_", "NVIDIA_", "TORCHELASTIC_",
)  # fmt: skip
_ENV_NAMES = frozenset(
    {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK",
     "ROLE_RANK", "LD_LIBRARY_PATH", "PATH", "VIRTUAL_ENV", "CONDA_PREFIX"}
)  # fmt: skip
_MAX_DUMP_BYTES = 64 * 2**20
_XID = re.compile(r"NVRM: Xid|Xid \(PCI:")


def mask_env(env: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """(the shareable variables with secrets masked, the secret values found)."""
    out: dict[str, str] = {}
    secrets: set[str] = set()
    for name, value in sorted(env.items()):
        if _SECRET_NAME.search(name) or _SECRET_VALUE.search(value):
            if value:
                secrets.add(value)
            if name in _ENV_NAMES or name.startswith(_ENV_PREFIXES) or _SECRET_NAME.search(name):
                out[name] = MASK
            continue
        if not (name in _ENV_NAMES or name.startswith(_ENV_PREFIXES)):
            continue
        m = _URL_PASSWORD.search(value)
        while m:
            secrets.add(m.group("pw"))
            value = value[: m.start("pw")] + MASK + value[m.end("pw") :]
            m = _URL_PASSWORD.search(value, m.start("pw") + len(MASK))
        out[name] = value
    return out, secrets


def scrub(text: str, secrets: set[str]) -> str:
    """``text`` with every known secret value and token-shaped string masked."""
    for value in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _SECRET_VALUE.sub(MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def scrub_report(data: dict[str, Any], secrets: set[str]) -> dict[str, Any]:
    """A JSON-able report with every secret value masked (``--locals`` reprs included)."""
    return json.loads(scrub(json.dumps(data, default=str), secrets))


def _versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "kernel": platform.release(),
    }
    for dist in ("mltools-cli", "torch", "nvidia-ml-py", "py-spy", "accelerate", "deepspeed"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _gpu() -> dict[str, Any]:
    try:
        from mltools.gpu import snapshot
        from mltools.gpu.snapshot import Snapshot

        snap: Snapshot = snapshot(cpu_interval=0.0, processes=True)
        import dataclasses

        return dataclasses.asdict(snap)
    except Exception as exc:  # no driver, NVML errors: the bundle says why
        return {"error": getattr(exc, "message", None) or str(exc) or type(exc).__name__}


def _xid_lines(limit: int = 200) -> list[str] | str:
    """Recent NVIDIA Xid lines of the kernel log, or why they cannot be read."""
    try:
        proc = subprocess.run(
            ["dmesg", "--ctime"], capture_output=True, text=True, timeout=10,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the kernel log cannot be read (dmesg: {exc})"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return f"the kernel log cannot be read (dmesg: {why})"
    return [ln for ln in proc.stdout.splitlines() if _XID.search(ln)][-limit:]


def _rank_name(r: dict[str, Any]) -> str:
    return f"rank-{r['rank']}" if r.get("rank") is not None else f"pid-{r.get('pid')}"


def _stacks_text(threads: list[dict[str, Any]]) -> str:
    lines = []
    for t in threads:
        flags = [f for f, on in (("active", t["active"]), ("holds the GIL", t["owns_gil"])) if on]
        lines.append(
            f"thread {t['name'] or '?'} (tid {t['tid']})"
            + (f" [{', '.join(flags)}]" if flags else "")
        )
        lines.extend(f"    {f}" for f in t["frames"])
        lines.append("")
    return "\n".join(lines)


def gather_material(ranks: list[dict[str, Any]], flight: dict[str, Any] | None) -> dict[str, Any]:
    """This host's part of the bundle, secrets already masked (JSON-safe: dumps in base64).

    ``ranks``: the report's rank dicts (pid, rank, state); ``flight``: its flight-recorder
    dict (the dump paths are read from it).
    """
    live = [r for r in ranks if r.get("pid") is not None and r.get("state") not in ("missing",)]
    secrets: set[str] = set()
    envs: dict[str, dict[str, str]] = {}
    for r in live:
        env = read_environ(r["pid"])
        if env is None:
            envs[_rank_name(r)] = {"error": "the environment cannot be read"}
            continue
        envs[_rank_name(r)], found = mask_env(env)
        secrets |= found

    def native(r: dict[str, Any]) -> tuple[str, str]:
        try:
            threads = pyspy.dump_stacks(r["pid"], native=True, timeout=20)
            return _rank_name(r), _stacks_text(thread_dicts(threads))
        except pyspy.AttachError as exc:
            return _rank_name(r), f"no native stacks: {exc.message}\n"
        except Exception as exc:  # one rank failing must not lose the bundle
            return _rank_name(r), f"no native stacks: {exc}\n"

    with ThreadPoolExecutor(max_workers=max(1, min(len(live), MAX_PYSPY))) as pool:
        stacks = dict(pool.map(native, live))
    dumps = []
    for t in (flight or {}).get("ranks") or []:
        path = Path(str(t.get("path") or ""))
        try:
            if not path.is_file() or path.stat().st_size > _MAX_DUMP_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        dumps.append(
            {"rank": t.get("rank"), "name": path.name, "data": base64.b64encode(data).decode()}
        )
    return {
        "host": socket.gethostname(),
        "env": envs,
        "stacks": {k: scrub(v, secrets) for k, v in stacks.items()},
        "flight_recorder": dumps,
        "versions": _versions(),
        "gpu": _gpu(),
        "xid": _xid_lines(),
        "secrets": sorted(secrets),  # to scrub the report with; never written nor sent
    }


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:100] or "_"


def write_bundle(path: str | os.PathLike[str], report_dict: dict[str, Any],
                 materials: list[dict[str, Any]]) -> Path:  # fmt: skip
    """Write the bundle as a .tar.gz at ``path`` (never over an existing file)."""
    secrets: set[str] = set()
    for m in materials:
        secrets |= set(m.get("secrets") or [])
    files: dict[str, bytes] = {}

    def text(name: str, body: str) -> None:
        files[name] = scrub(body, secrets).encode("utf-8", "replace")

    culprits = ", ".join(str(c) for c in report_dict.get("culprits") or []) or "none"
    text(
        "verdict.txt",
        f"verdict: {report_dict.get('verdict')}\nkind: {report_dict.get('kind')}\n"
        f"culprit rank(s): {culprits}\n",
    )
    text("report.json", json.dumps(report_dict, indent=2, default=str) + "\n")
    versions: dict[str, Any] = {}
    for m in materials:
        host = _safe_name(m.get("host") or "localhost")
        versions[host] = m.get("versions")
        for rank, env in (m.get("env") or {}).items():
            text(
                f"env/{host}/{_safe_name(rank)}.env", "".join(f"{k}={v}\n" for k, v in env.items())
            )
        for rank, body in (m.get("stacks") or {}).items():
            text(f"stacks/{host}/{_safe_name(rank)}.txt", body)
        for d in m.get("flight_recorder") or []:
            name = f"flight_recorder/{host}/rank-{d.get('rank')}-{_safe_name(str(d.get('name')))}"
            files[name] = base64.b64decode(d.get("data") or "")
        text(f"gpu/{host}.json", json.dumps(m.get("gpu"), indent=2, default=str) + "\n")
        xid = m.get("xid")
        text(
            f"kernel/{host}-xid.txt",
            ("\n".join(xid) + "\n" if xid else "no Xid lines in the kernel log\n")
            if isinstance(xid, list)
            else f"{xid}\n",
        )
    text("versions.json", json.dumps(versions, indent=2, default=str) + "\n")
    now = time.time()

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"hang-bundle/{name}")
                info.size, info.mtime, info.mode = len(data), int(now), 0o644
                tar.addfile(info, io.BytesIO(data))

    write_atomic(path, write, overwrite=False, what="bundle")
    return Path(path)
