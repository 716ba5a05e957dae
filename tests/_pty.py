"""Run a command with stdout on a real pseudo-terminal of a given width, as a user sees it,
and check that its tables fit: no line wider than the terminal, no cell broken mid-word.

The terminal size is set on the pty (TIOCSWINSZ) before the command starts, and
``COLUMNS``/``LINES`` are removed, so the command finds the width the way it would in a
real terminal. stderr goes to a file (hints, progress), so the pty holds stdout only.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, mltools_env

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
# cursor moves and erases (a live view redrawing itself): a line break for the reader here
MOVES = re.compile(r"\x1b\[\??[0-9;]*[A-HJKfhl]")
_UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "%", "W", "MHz", "C"}
# a piece of a number (digits and their punctuation only): a cut number lies, even with "…"
_NUMBER_PIECE = re.compile(r"[\d.,:/%+-]*\d[\d.,:/%+-]*")
FAKE_RUN = str(REPO / "tests" / "_fake_run.py")
# what the fitting itself adds: the rule under the header and the hidden-columns note
_RULE = re.compile(r"^─+$")
_NOTE = re.compile(r"^\d+ hidden to fit \d+ columns: .*$")


@dataclass
class TtyRun:
    rc: int
    stdout: str  # what the terminal shows, escape codes removed
    stderr: str


def run_tty(
    argv: list[str],
    *,
    columns: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    typed: bytes = b"n\n",
    interrupt_on: str | None = None,
    interrupt_after: int = 1,
    timeout: float = 180,
) -> TtyRun:
    """Run ``argv`` with stdin and stdout on a ``columns``-wide pty; ``typed`` is typed ahead
    (no echo), so a confirmation prompt reads it. Once ``interrupt_on`` has shown up
    ``interrupt_after`` times on the terminal, Ctrl-C (SIGINT to the process group), as a
    user ends a live view."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    full_env = mltools_env({"TERM": "xterm-256color", **(env or {})})
    for key in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        full_env.pop(key, None)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=err, cwd=cwd, env=full_env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        os.write(master, typed)
        out = b""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"timed out: {argv}; so far: {out!r}")
                ready, _, _ = select.select([master], [], [], 1.0)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave end is closed
                    break
                if not chunk:
                    break
                out += chunk
                if interrupt_on is not None and out.count(interrupt_on.encode()) >= interrupt_after:
                    os.killpg(proc.pid, signal.SIGINT)
                    interrupt_on = None
        finally:
            rc = proc.wait(timeout=60)
            os.close(master)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    text = ANSI.sub("", MOVES.sub("\n", text)).replace("\r", "\n")
    return TtyRun(rc, text, stderr)


def run_piped(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The same command with stdout piped: every cell whole (the reference)."""
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=cwd, env=mltools_env(env),
        stdin=subprocess.DEVNULL, timeout=180,
    )  # fmt: skip


def mltools_argv(*args: str, gpu_spec: bool = False) -> list[str]:
    """``python -m mltools ARGS``, or the CLI over the NVML double (``$MLTOOLS_TEST_FAKE_NVML``)."""
    return [
        sys.executable,
        FAKE_RUN if gpu_spec else "-m",
        *([] if gpu_spec else ["mltools"]),
        *args,
    ]


def _shape(token: str) -> str:
    """A token with its digit runs and meter bars (``██████░░░░``) folded, so values that
    change between runs still match."""
    return re.sub(r"[█▉▊▋▌▍▎▏▓▒░·]+", "▮", re.sub(r"\d+", "9", token))


def broken_cells(tty: str, reference: str, columns: int, *, data: bool = False) -> list[str]:
    """What is wrong in ``tty`` (a terminal's view) compared with ``reference`` (piped).

    A line wider than the terminal is wrapped by the terminal itself (not counted for
    ``data``: JSON or CSV asked for, which a terminal shows as ``cat`` would); a token
    that is in no reference line is a piece of a word, number or path that was split
    (``A100-S``, ``71.0/8``), unless it is an abbreviation: a piece of a reference token
    next to ``…``, and not of a number.
    """
    problems = [
        f"line of {len(line)} > {columns} columns: {line!r}"
        for line in tty.splitlines()
        if len(line.rstrip()) > columns and not data
    ]
    shapes = {_shape(t) for t in reference.split()}
    for line in tty.splitlines():
        if _RULE.match(line.strip()) or _NOTE.match(line.strip()):
            continue
        for token in line.split():
            shape = _shape(token)
            if shape in shapes or token in _UNITS:  # a value may change unit between runs
                continue
            piece = token.replace("…", "")
            if (
                "…" in token
                and not _NUMBER_PIECE.fullmatch(piece)
                and (not piece or any(_shape(piece) in s for s in shapes))
            ):
                continue
            problems.append(f"broken cell {token!r} in line {line!r}")
    return problems


def age_files(root: Path, days: float = 40) -> None:
    """Date every file under ``root`` ``days`` back, so that an age column ("40d") reads the
    same in the reference run and in the terminal run a minute later."""
    when = time.time() - days * 86400
    for folder, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when), follow_symlinks=False)
