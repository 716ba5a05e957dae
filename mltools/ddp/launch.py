"""`ddp-doctor run`: launch a training command with presets, tee its output, diagnose failures.

The command's stdout and stderr are streamed through unchanged (each to its
own sink) and copied, interleaved as they arrive, to a log file. When the
command exits non-zero the log analyser reads that file (streaming, bounded
memory) and the diagnosis comes back with the command's exit code.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mltools._outputs import open_output
from mltools.ddp.logscan import LogReport, analyze_log
from mltools.ddp.presets import make_directories, resolve_all
from mltools.errors import InputError, OutputExistsError, UsageError
from mltools.launcher import find_command, run_child


@dataclass
class RunResult:
    """What happened: the command's exit code, where its log is, and the diagnosis."""

    returncode: int  # the child's, as a shell reports it: 128 + N when signal N killed it
    log_path: Path
    variables: dict[str, str]
    report: LogReport | None
    log_error: str | None = None  # why the log stopped being written (a full disk), if it did


def default_log_path() -> Path:
    """``ddp-doctor-YYYYmmdd-HHMMSS.log`` in the current directory."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(f"ddp-doctor-{stamp}.log")


def _open_log(log_path: str | os.PathLike[str] | None, overwrite: bool) -> tuple[Path, IO[bytes]]:
    """Open the given log (never replacing a file without ``overwrite``), or create a new
    default one: ``ddp-doctor-DATE.log``, then ``-2``, ``-3``... if that name is taken
    (two runs in the same second), created with ``O_EXCL`` so no two runs share one."""
    if log_path is not None:
        path = Path(log_path)
        if str(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
        return path, open_output(path, overwrite=overwrite, what="log")
    base = default_log_path()
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.stem}-{n}{base.suffix}")
        try:
            return path, open_output(path, overwrite=False, what="log")
        except OutputExistsError:
            continue
    raise InputError(f"too many logs named {base.stem}-N.log here", hint="pass --log FILE")


def run_guarded(
    argv: Sequence[str],
    *,
    presets: Sequence[str] = (),
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    diagnose: str = "failure",
    overwrite: bool = False,
    on_log: Callable[[Path], None] | None = None,
) -> RunResult:
    """Run ``argv`` with the presets' variables added, tee its output, and diagnose it.

    ``stdout``/``stderr`` receive the command's streams as they come (None
    discards them). ``diagnose`` is ``"failure"`` (analyse only on a non-zero
    exit), ``"always"`` or ``"never"``. An existing ``log_path`` is replaced only with
    ``overwrite``; a device or FIFO never (the log is read back for the diagnosis).
    SIGINT, SIGTERM or SIGHUP (``KeyboardInterrupt``) is forwarded to the child, which
    gets 30 s to exit; ``returncode`` is then the child's, e.g. 130 or 143.
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
    if find_command(argv[0], child_env) is None:
        raise InputError(f"command not found: {argv[0]}", hint="check the command name and PATH")
    make_directories(variables)  # nccl-debug=DIR: NCCL writes nothing into a missing DIR
    path, fh = _open_log(log_path, overwrite)
    if on_log is not None:
        on_log(path)  # where the log goes, said before the command starts
    with fh:
        child = run_child(argv, env=child_env, stdout=stdout, stderr=stderr, log=fh)
    if child.error is not None:  # vanished or not executable since the check above
        raise InputError(child.error, hint="check the command name and PATH")
    returncode = child.returncode
    report = None
    if diagnose == "always" or (diagnose == "failure" and returncode != 0):
        report = analyze_log(path, exit_code=returncode)  # 137 is SIGKILL's evidence of its own
    return RunResult(returncode, path, variables, report, child.log_error)
