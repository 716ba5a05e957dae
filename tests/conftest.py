"""Shared fixtures: drive the CLI in-process (CliRunner) or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``mltools ARGS`` in-process through the real root app (error table included)."""
    from typer.testing import CliRunner

    from mltools.cli.app import app

    monkeypatch.delenv("MLTOOLS_DEBUG", raising=False)

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input, env=env, prog_name="mltools")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def mltools_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a subprocess that imports this checkout's ``mltools``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("MLTOOLS_DEBUG", None)
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def run_mltools() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m mltools ARGS`` as a real process (for signals, TTYs, completion)."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kwargs
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mltools", *args],
            capture_output=True,
            text=True,
            env=mltools_env(env),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    return run
