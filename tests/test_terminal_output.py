"""What a terminal shows: names verbatim (never read as rich markup), no escape codes at all
with NO_COLOR or TERM=dumb. Run in a real pseudo-terminal, as a user would see it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from mltools.cli._output import markup_escape, safe_text
from tests.conftest import mltools_env

# File names cannot hold "/", so closing tags like [/] are tested in command lines and cells.
NAMES = ["[bold]x", "[red]y", "[italic]", "\\[b]w", ":smile:", "[link=x]z"]
ESC = b"\x1b"
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def run_in_pty(
    args: list[str],
    *,
    env_extra: dict[str, str] | None = None,
    answer: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> tuple[int, bytes]:
    """Run ``python -m mltools ARGS`` with stdin/stdout/stderr on a pty; return (rc, output).

    ``answer`` is typed once a prompt ("?") shows up.
    """
    env = mltools_env({"TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"})
    for key in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        env.pop(key, None)
    env.update(env_extra or {})
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            if cwd is not None:
                os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "mltools", *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if answer is not None and b"?" in out.split(b"\n")[-1]:
                os.write(fd, answer)
                answer = None
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"timed out; output so far: {out!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def visible(out: bytes) -> str:
    """What the user reads: escape sequences removed, line endings normalised."""
    return ANSI.sub(b"", out).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    root = tmp_path / "d"
    root.mkdir()
    for name in NAMES:
        (root / f"{name}.tmp").write_text("hello\n")
    return root


MODES = {
    "color": {},
    "NO_COLOR": {"NO_COLOR": "1"},
    "TERM=dumb": {"TERM": "dumb"},
}


def check(out: bytes, mode: str, names: list[str]) -> str:
    text = visible(out)
    for name in names:
        assert name in text, f"{name!r} not shown verbatim in:\n{text}"
    if mode != "color":
        assert ESC not in out, f"escape codes with {mode}: {out!r}"
    return text


@pytest.mark.parametrize("mode", MODES)
def test_clean_preview_and_its_prompt_show_names_verbatim(odd_names: Path, mode: str) -> None:
    rc, out = run_in_pty(
        ["clean", str(odd_names), "--name", "*.tmp"], env_extra=MODES[mode], answer=b"n\n"
    )
    text = check(out, mode, [f"{n}.tmp" for n in NAMES])
    assert f"Delete these {len(NAMES)} entries?" in text
    assert rc == 0
    assert sorted(p.name for p in odd_names.iterdir()) == sorted(f"{n}.tmp" for n in NAMES)


@pytest.mark.parametrize("mode", MODES)
def test_filetype_and_du_tables_show_names_verbatim(odd_names: Path, mode: str) -> None:
    rc, out = run_in_pty(["filetype", str(odd_names)], env_extra=MODES[mode])
    assert rc == 0, visible(out)
    check(out, mode, [f"{n}.tmp" for n in NAMES])
    rc, out = run_in_pty(["du", str(odd_names), "--files", "--top", "10"], env_extra=MODES[mode])
    assert rc == 0, visible(out)
    check(out, mode, [f"{n}.tmp" for n in NAMES])


@pytest.mark.parametrize("mode", ["color", "NO_COLOR"])
def test_kill_preview_and_prompt_show_the_command_line_verbatim(mode: str) -> None:
    marker = "mltools-pty-test-[bold]x-[/]-[red]y"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", marker],
        stdin=subprocess.DEVNULL,
    )
    try:
        _, out = run_in_pty(["kill", marker], env_extra=MODES[mode], answer=b"n\n")
        text = check(out, mode, [marker])
        assert "Send SIGTERM to these 1 processes?" in text
        assert proc.poll() is None  # answered no: still running
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("mode", MODES)
def test_tables_keep_brackets_and_escape_control_characters(mode: str) -> None:
    """print_table as every command uses it, e.g. ddp-doctor's FIX column."""
    code = (
        "from mltools.cli._output import print_table; "
        "print_table(['STATUS', 'FIX'], [['WARN', \"pip install 'mltools-cli[torch]'\"], "
        "['FAIL', 'evil\\x1b[2Jname\\x9b1m [bold]x']], title='[red]t')"
    )
    env = {"PYTHONSTARTUP": ""}
    rc, out = _run_code_in_pty(code, {**MODES[mode], **env})
    assert rc == 0, out
    text = check(out, mode, ["pip install 'mltools-cli[torch]'", "[bold]x", "[red]t"])
    assert "evil\\x1b[2Jname\\x9b1m" in text  # shown, not obeyed
    assert b"\x1b[2J" not in out


def _run_code_in_pty(code: str, env_extra: dict[str, str]) -> tuple[int, bytes]:
    pid, fd = pty.fork()
    if pid == 0:
        try:
            env = mltools_env({"TERM": "xterm-256color", "COLUMNS": "200"})
            env.pop("NO_COLOR", None)
            env.update(env_extra)
            os.execve(sys.executable, [sys.executable, "-c", code], env)
        finally:
            os._exit(127)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def test_error_messages_escape_control_characters(tmp_path: Path) -> None:
    missing = tmp_path / "no\x1b[2Jsuch[bold]x"
    rc, out = run_in_pty(["ckpt", "inspect", str(missing)], env_extra={"NO_COLOR": "1"})
    assert rc == 1
    assert ESC not in out
    assert "no\\x1b[2Jsuch[bold]x" in visible(out)


def test_safe_text_and_markup_escape() -> None:
    assert safe_text("[bold]x") == "[bold]x"
    assert safe_text("a\nb\tc\x1b[0m\x7f\x9b") == "a\\nb\\tc\\x1b[0m\\x7f\\x9b"
    assert safe_text(os.fsdecode(b"caf\xe9")) == "caf\\xe9"  # undecodable byte
    assert safe_text(None) == "" and safe_text(3) == "3"
    from rich.console import Console

    console = Console(record=True, width=100, color_system=None)
    console.print(markup_escape("[bold]x [/] [red]y"))
    assert console.export_text().strip() == "[bold]x [/] [red]y"


@pytest.mark.parametrize("mode", ["NO_COLOR", "TERM=dumb"])
def test_no_progress_bar_escape_codes_when_plain(odd_names: Path, mode: str) -> None:
    """`clean --yes` on a terminal draws a progress bar, except when plain output is asked for."""
    rc, out = run_in_pty(
        ["clean", str(odd_names), "--name", "*.tmp", "--yes"], env_extra=MODES[mode]
    )
    assert rc == 0, visible(out)
    assert ESC not in out
    assert list(odd_names.iterdir()) == []


@pytest.mark.parametrize("mode", ["color", "NO_COLOR"])
def test_ddp_doctor_fix_column_keeps_the_extra(mode: str) -> None:
    """The FIX column's `pip install '.../clone[torch]'` used to print as `'.../clone'`: rich
    took `[torch]` for markup."""
    code = (
        "import sys, mltools.ddp.check as c\n"
        "c.torch_version = lambda: None  # as on a machine without torch\n"
        "from mltools.cli.app import main\n"
        "sys.argv = ['mltools', 'ddp-doctor', 'check']\n"
        "main()\n"
    )
    _, out = _run_code_in_pty(code, MODES[mode])
    check(out, mode, ["pip install torch  (or: pip install ", "[torch]')"])
