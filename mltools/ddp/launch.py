"""`ddp-doctor run`: launch a training command with presets, tee its output, diagnose failures.

The command's stdout and stderr are streamed through unchanged (each to its
own sink) and copied, interleaved as they arrive, to a log file. When the
command exits non-zero the log analyser reads that file (streaming, bounded
memory) and the diagnosis comes back with the command's exit code.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mltools.ddp.logscan import LogReport, analyze_log
from mltools.ddp.presets import resolve_all
from mltools.errors import InputError, UsageError


@dataclass
class RunResult:
    """What happened: the command's exit code, where its log is, and the diagnosis."""

    returncode: int
    log_path: Path
    variables: dict[str, str]
    report: LogReport | None


def default_log_path() -> Path:
    """``ddp-doctor-YYYYmmdd-HHMMSS.log`` in the current directory."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(f"ddp-doctor-{stamp}.log")


def _pump(source: IO[bytes], sink: IO[bytes] | None, log: IO[bytes], lock: threading.Lock) -> None:
    for line in iter(source.readline, b""):
        if sink is not None:
            try:
                sink.write(line)
                sink.flush()
            except (BrokenPipeError, ValueError):
                sink = None  # the reader went away: keep logging, stop echoing
        with lock:
            log.write(line)
            log.flush()
    source.close()


def run_guarded(
    argv: Sequence[str],
    *,
    presets: Sequence[str] = (),
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    diagnose: str = "failure",
) -> RunResult:
    """Run ``argv`` with the presets' variables added, tee its output, and diagnose it.

    ``stdout``/``stderr`` receive the command's streams as they come (None
    discards them). ``diagnose`` is ``"failure"`` (analyse only on a non-zero
    exit), ``"always"`` or ``"never"``.
    """
    if not argv:
        raise UsageError(
            "no command given",
            hint="mltools ddp-doctor run -- torchrun --nproc-per-node 2 train.py",
        )
    if diagnose not in ("failure", "always", "never"):
        raise UsageError(f"diagnose must be failure, always or never, not {diagnose!r}")
    base = dict(os.environ if env is None else env)
    variables = resolve_all(list(presets), env=base)
    child_env = {**base, **variables}
    if shutil.which(argv[0], path=child_env.get("PATH")) is None and not Path(argv[0]).is_file():
        raise InputError(f"command not found: {argv[0]}", hint="check the command name and PATH")
    path = Path(log_path) if log_path is not None else default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    with path.open("wb") as log:
        proc = subprocess.Popen(
            list(argv), env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=None
        )
        assert proc.stdout is not None and proc.stderr is not None
        threads = [
            threading.Thread(target=_pump, args=(proc.stdout, stdout, log, lock), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, stderr, log, lock), daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            returncode = proc.wait()
        except KeyboardInterrupt:
            # the terminal sent SIGINT to the whole group; give the job time to shut down
            try:
                returncode = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                returncode = proc.wait()
        for t in threads:
            t.join()
    report = None
    if diagnose == "always" or (diagnose == "failure" and returncode != 0):
        report = analyze_log(path)
    return RunResult(returncode, path, variables, report)
