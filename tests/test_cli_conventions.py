"""Conventions every command must follow: help text, exit codes, error lines."""

from __future__ import annotations

import pytest
import typer

from mltools.cli import _errors
from mltools.cli.app import app
from mltools.errors import ExitCode, InputError, MltoolsError


def _walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def all_commands():
    root = typer.main.get_command(app)
    return list(_walk(root))


def test_every_command_has_help_text():
    missing = [
        " ".join(path) or "mltools"
        for path, command in all_commands()
        if not (command.help or command.short_help)
    ]
    assert missing == []


def test_every_option_has_help_text():
    missing = []
    for path, command in all_commands():
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "help", None):
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


@pytest.mark.parametrize(
    "path", [p for p, _ in all_commands()], ids=lambda p: " ".join(p) or "root"
)
def test_help_exits_zero(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout


def test_version(cli):
    from mltools import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mltools {__version__}"


def test_unknown_command_is_usage_error(cli):
    result = cli("no-such-command")
    assert result.exit_code == ExitCode.USAGE
    assert "No such command" in result.stderr


def test_error_table_messages():
    assert _errors.describe(InputError("bad file", hint="fix it")) == ("bad file", "fix it", 1)
    msg, _, code = _errors.describe(FileNotFoundError(2, "No such file", "/x/y"))
    assert (msg, code) == ("no such file or directory: /x/y", 1)
    msg, hint, code = _errors.describe(PermissionError(13, "Permission denied", "/root/x"))
    assert (msg, code) == ("permission denied: /root/x", 1)
    assert hint
    assert _errors.describe(KeyboardInterrupt())[2] == 130
    msg, hint, code = _errors.describe(ZeroDivisionError("boom"))
    assert msg == "internal error: ZeroDivisionError: boom"
    assert "MLTOOLS_DEBUG=1" in hint
    assert code == 1


def test_report_prints_one_line_and_hint(capsys):
    code = _errors.report(MltoolsError("first line\nsecond line", hint="do this"))
    err = capsys.readouterr().err
    assert code == 1
    assert err == "mltools: error: first line\nhint: do this\n"


def test_lazy_public_import_is_cheap():
    import subprocess
    import sys

    from tests.conftest import mltools_env

    code = (
        "import sys, mltools; heavy = {'torch','pandas','pynvml','magic','numpy','rich','typer'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stdout.strip() == "[]", out.stderr
