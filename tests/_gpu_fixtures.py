"""Fixtures shared by the GPU tests: the fake NVML, real child processes, a fake-NVML subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import _fake_nvml
from tests.conftest import mltools_env, wait_exec

REPO = Path(__file__).resolve().parents[1]
FAKE_RUN = str(REPO / "tests" / "_fake_run.py")


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``fake_nvml(spec)``: the real pynvml on the C NVML double of ``spec``; resets the
    process cache. Skips where no C compiler can build the double."""
    from mltools.gpu import procinfo
    from tests._nvml_double import compiler_available

    if not compiler_available():
        pytest.skip("the NVML double needs a C compiler (apt-get install gcc libc6-dev)")

    monkeypatch.setattr(procinfo, "_CACHE", {})

    def install(spec: dict[str, Any]) -> Any:
        return _fake_nvml.install(monkeypatch, spec)

    return install


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real long-running child processes; all are killed and reaped at teardown."""
    children: list[subprocess.Popen] = []

    def start(*argv: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen:
        argv = argv or ("sleep", "300")
        proc = subprocess.Popen(list(argv), env={**os.environ, **(env or {})}, **kwargs)
        children.append(proc)
        return wait_exec(proc)  # its command line and environment are what tests look up

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            proc.wait(timeout=10)


def fake_cli(
    spec: dict[str, Any], *args: str, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run the real ``mltools`` CLI in a subprocess on top of the fake NVML ``spec``."""
    from tests._nvml_double import compiler_available

    if not compiler_available():
        pytest.skip("the NVML double needs a C compiler (apt-get install gcc libc6-dev)")
    env = mltools_env({"MLTOOLS_TEST_FAKE_NVML": json.dumps(spec)})
    return subprocess.run(
        [sys.executable, FAKE_RUN, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )
