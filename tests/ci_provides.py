"""What CI provides, declared once, and the guard that keeps CI from skipping it.

Outside CI a test whose tool or privilege is missing skips with the reason. In CI
(``CI=true``, set by .ci/run) the machine is set up to provide everything in ``PROVIDED``
(scripts/test.sh installs the packages from scripts/test-packages.txt, CI runs as root),
so a skip there hides a regression: the guard in ``conftest.py`` turns every skip in CI
into a failure unless its reason is one of ``EXPECTED`` (what CI does not have: a GPU,
pandarallel on pandas 3.1). A skip for something new therefore fails CI until it is
declared here: as provided (then install it in CI) or as expected.

Each probe is its own code (a path, ``shutil.which``, the euid), never the code under test:
a probe that ran, say, the production ``ssh_argv`` would turn a broken ``ssh_argv`` into a
skip. Tests call :func:`require` instead of ``pytest.skip`` for a declared need.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# The stage of scripts/test.sh this pytest runs in: "" for the main suite, "pandas22" for
# the DataFrame tests on pandas 2.2, "nvml-old" for the GPU tests on old nvidia-ml-py.
STAGE = os.environ.get("MLTOOLS_TEST_STAGE", "")


def in_ci() -> bool:
    """True when the suite runs in CI, where a skip of a provided need is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _which(*names: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        missing = [n for n in names if shutil.which(n) is None]
        return f"not on PATH: {', '.join(missing)}" if missing else None

    return probe


def _module(name: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        return None if importlib.util.find_spec(name) is not None else f"no module {name!r}"

    return probe


def _root() -> str | None:
    return None if os.geteuid() == 0 else "not root"


def _sshd() -> str | None:
    if not os.path.exists("/usr/sbin/sshd"):
        return "no /usr/sbin/sshd"
    return _which("ssh", "ssh-keygen")()


def _freezer() -> str | None:
    v1 = "/sys/fs/cgroup/freezer"
    if os.access(v1, os.W_OK) or os.path.exists("/sys/fs/cgroup/cgroup.freeze"):
        return None
    return "no writable freezer cgroup"


def _cpu_cgroup() -> str | None:
    if os.access("/sys/fs/cgroup/cpu", os.W_OK):
        return None
    try:
        controllers = Path("/sys/fs/cgroup/cgroup.subtree_control").read_text().split()
    except OSError:
        controllers = []
    return None if "cpu" in controllers else "no writable cpu cgroup controller"


def _all(*probes: Callable[[], str | None]) -> Callable[[], str | None]:
    def probe() -> str | None:
        return next((why for why in (p() for p in probes) if why), None)

    return probe


@dataclass(frozen=True)
class Need:
    """A tool or privilege a test may need, and how to tell whether it is here."""

    name: str
    words: str  # regex over a skip reason that says this is what was missing
    probe: Callable[[], str | None]  # None when present, else why not
    stages: tuple[str, ...] = ("", "pandas22", "nvml-old")  # where CI provides it


PROVIDED: tuple[Need, ...] = (
    Need("root", r"\broot\b|nobody|unprivileged", _root),
    Need("sshd", r"sshd|openssh|\bssh\b", _sshd),
    Need("sshpass", r"sshpass", _which("sshpass")),
    Need("rsync", r"rsync", _which("rsync")),
    Need("tmpfs mounts", r"tmpfs|mount", _all(_root, _which("mount"))),
    Need("unshare", r"unshare|namespace", _all(_root, _which("unshare"))),
    Need("chattr", r"chattr", _all(_root, _which("chattr", "lsattr"))),
    Need("freezer cgroup", r"freezer", _all(_root, _freezer)),
    Need("cpu cgroup", r"cpu cgroup|cpu controller", _all(_root, _cpu_cgroup)),
    Need("mknod", r"mknod|/sys", _root),
    Need("setpriv", r"setpriv", _which("setpriv")),
    Need("fish", r"\bfish\b", _which("fish")),
    Need("bash", r"\bbash\b", _which("bash")),
    Need("mpstat", r"mpstat|sysstat", _which("mpstat")),
    Need("lscpu", r"lscpu", _which("lscpu")),
    Need("gcc", r"C compiler|\bgcc\b", _which("gcc")),
    Need("tmux", r"tmux", _which("tmux")),
    Need("chromium", r"chromium|chrome", _which("chromium")),
    # A tool a new test needs goes here AND its package into scripts/test-packages.txt.
    # One rule for both: installed by `pip install -e ".[all,test]"` (torch brings torchrun,
    # the pyspy extra py-spy), so a test that needs one calls require() and fails in CI.
    Need("torch", r"'torch'|\btorch\b(?!run)", _module("torch"), ("",)),
    Need("torchrun", r"torchrun", _which("torchrun"), ("",)),
    Need("py-spy", r"py-spy|pyspy", _which("py-spy"), ("",)),
    Need("dask", r"distributed|dask", _module("distributed"), ("", "pandas22")),
    Need("hypothesis", r"hypothesis", _module("hypothesis")),
    Need("stock files", r"stock files", lambda: None),
    # pandarallel 1.6.5 does not import on pandas 3.1: CI tests it in the pandas 2.2 stage.
    Need("pandarallel", r"pandarallel", _module("pandarallel"), ("pandas22",)),
)

# Skip reasons CI is not meant to avoid (what its machine does not have), and the stages
# where that holds.
EXPECTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("CI has no GPU", r"GPU is present|working NVIDIA driver", ("", "pandas22", "nvml-old")),
    ("pandarallel does not import on pandas 3.1", r"^pandarallel: ", ("", "nvml-old")),
    ("the pandarallel-broken path, on pandas 2.2", r"pandarallel works here", ("pandas22",)),
    ("no tomllib before Python 3.11", r"'tomllib'", ("", "pandas22", "nvml-old")),
)


def need(name: str) -> Need:
    """The declared need called ``name`` (KeyError for an undeclared one)."""
    for item in PROVIDED:
        if item.name == name:
            return item
    raise KeyError(f"{name!r} is not declared in tests/ci_provides.py PROVIDED")


def require(*names: str) -> None:
    """Skip the calling test unless every named need is here (in CI: fail instead)."""
    for name in names:
        why = need(name).probe()
        if why is not None:
            pytest.skip(f"needs {name} ({why})")


def ci_failure(reason: str, stage: str = STAGE) -> str | None:
    """In CI, the failure message for a skip with this reason; None when it may skip."""
    if any(stage in stages and re.search(p, reason) for _, p, stages in EXPECTED):
        return None
    provided = [n.name for n in PROVIDED if stage in n.stages and re.search(n.words, reason)]
    what = (
        f"CI provides {', '.join(provided)} (tests/ci_provides.py)"
        if provided
        else "its reason is not declared in tests/ci_provides.py (PROVIDED or EXPECTED)"
    )
    return f"skipped in CI, where a skip hides a regression: {what}; skip reason: {reason}"
