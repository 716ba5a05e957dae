"""Conventions every command must follow: help text, exit codes, error lines."""

from __future__ import annotations

import re

import pytest
import typer

from mltools.cli import _errors
from mltools.cli.app import app
from mltools.errors import ExitCode, InputError, MltoolsError
from tests.conftest import REPO


def _walk(command, ctx, path=()):
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, typer.Context(sub, parent=ctx, info_name=name), (*path, name))


def all_commands():
    root = typer.main.get_command(app)
    return list(_walk(root, typer.Context(root, info_name="mltools")))


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


def test_root_help_lists_the_built_commands_short_help():
    """--help reads short help from the registrations; it must match the built commands."""
    from typer._click.utils import make_default_short_help

    from mltools.cli.app import _registrations

    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="mltools")
    names = root.list_commands(ctx)
    assert names[:3] == ["cpu", "gpu", "ddp-doctor"]
    assert len(names) == len(set(names)) == 13  # + top (#21), record (#22)
    for name, (_, text) in _registrations().items():
        built = root.get_command(ctx, name)
        assert make_default_short_help(text, 60) == built.get_short_help_str(60), name


def test_running_a_command_builds_only_its_module():
    import subprocess
    import sys

    from tests.conftest import mltools_env

    code = (
        "import sys\n"
        "from mltools.cli import app as a\n"
        "try:\n"
        "    a.app(['completion', 'bash'], prog_name='mltools')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(str(a._build.cache_info().currsize))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    assert out.stderr.strip() == "1", out.stderr


def test_command_homes_name_the_module_that_registers_each_command():
    """Running a command imports only the module ``COMMAND_HOMES`` names: it must be the one
    that registers it (a command added without an entry still runs, importing them all)."""
    from mltools.cli.app import COMMAND_HOMES, COMMAND_MODULES, _module_registrations

    found = {name: module for module in COMMAND_MODULES for name in _module_registrations(module)}
    assert found == COMMAND_HOMES


def test_running_a_command_imports_only_its_module(tmp_path):
    import subprocess
    import sys

    from tests.conftest import mltools_env

    code = (
        "import sys\n"
        "from mltools.cli import app as a\n"
        "try:\n"
        f"    a.app(['du', {str(tmp_path)!r}, '--json'], prog_name='mltools')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(' '.join(sorted(m for m in sys.modules if m.startswith('mltools.cli.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env()
    )
    loaded = set(out.stderr.split())
    assert "mltools.cli.files" in loaded, out
    assert not loaded & {"mltools.cli.ckpt", "mltools.cli.gpu", "mltools.cli.apply"}, loaded


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
    # still one line, but nothing is cut: a newline in a file name must not hide the rest
    assert err == "mltools: error: first line\\nsecond line\nhint: do this\n"


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


def _app_with(func):
    from mltools.cli.app import build_app

    app = build_app()
    app.command("boom")(func)
    return app


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (InputError("corrupt header in x.pt", hint="re-download it"), 1, "corrupt header in x.pt"),
        (
            FileNotFoundError(2, "No such file", "-weird.pt"),
            1,
            "no such file or directory: -weird.pt",
        ),
        (PermissionError(13, "Permission denied", "/x"), 1, "permission denied: /x"),
        (RuntimeError("unexpected"), 1, "internal error: RuntimeError: unexpected"),
    ],
)
def test_exceptions_become_one_line_and_exit_code(exc, code, line):
    from typer.testing import CliRunner

    def boom() -> None:
        """Raise on purpose."""
        raise exc

    result = CliRunner().invoke(_app_with(boom), ["boom"], env={"MLTOOLS_DEBUG": ""})
    assert result.exit_code == code
    assert result.stderr.splitlines()[0] == f"mltools: error: {line}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_env_shows_the_traceback():
    from typer.testing import CliRunner

    def boom() -> None:
        """Raise on purpose."""
        raise InputError("bad")

    result = CliRunner().invoke(_app_with(boom), ["boom"], env={"MLTOOLS_DEBUG": "1"})
    assert isinstance(result.exception, InputError)


def test_ctrl_c_exits_130():
    from typer.testing import CliRunner

    def boom() -> None:
        """Raise on purpose."""
        raise KeyboardInterrupt

    result = CliRunner().invoke(_app_with(boom), ["boom"])
    assert result.exit_code == 130


def _readme_blocks(heading: str) -> list[str]:
    """The ```bash blocks of a README section, each one command on one line."""
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("\n```", 1)[0].strip() for block in section.split("```bash\n")[1:]]
    assert blocks and all("\n" not in b for b in blocks)
    return blocks


def _ci_lines() -> list[str]:
    """.ci/run's command lines, the `|| exit $?` guard taken off."""
    from tests.conftest import REPO

    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return [ln.removesuffix(" || exit $?") for ln in lines if ln and not ln.startswith("#")]


def test_readme_commands_are_what_ci_runs():
    """Two commands: the README's set-up line, then its one test line; CI runs both verbatim."""
    ci = _ci_lines()
    setup = [b for b in _readme_blocks("Install and run") if "python3 -m venv" in b]
    assert len(setup) == 1 and setup[0] in ci
    tests_section = _readme_blocks("Run the tests")
    assert tests_section == ["scripts/test.sh"]  # exactly one command after the set-up line
    # CI runs the set-up (which makes and activates .venv), then that command, and nothing
    # else that installs or tests: stages and packages live in the script and its list.
    start = ci.index(setup[0])
    assert ci.count(tests_section[0]) == 1 and ci.index(tests_section[0]) > start
    others = [ln for ln in ci if ln not in (setup[0], tests_section[0])]
    assert [ln for ln in others if re.search(r"\b(pip|pytest|apt-get install|ruff)\b", ln)] == []
    packages = _test_packages()
    for package in ("procps", "util-linux", "iproute2", "fish", "python3-venv", "sysstat", "gcc"):
        assert package in packages
    script = (REPO / "scripts" / "test.sh").read_text()
    assert "scripts/test-packages.txt" in script
    stages = [ln for ln in script.splitlines() if re.search(r"\bpython -m pytest\b", ln)]
    assert stages[0] == "python -m pytest -q"  # the whole suite first, then the other stages
    assert len(stages) == 3


def _test_packages() -> list[str]:
    """scripts/test-packages.txt: the Debian packages the tests use, comments dropped."""
    text = (REPO / "scripts" / "test-packages.txt").read_text()
    return [w for ln in text.splitlines() for w in ln.split("#", 1)[0].split()]


def test_ci_lines_with_and_lists_fail_the_run():
    """`set -e` ignores a failure before the last `&&`: every such line needs `|| exit $?`."""
    from tests.conftest import REPO

    lines = (REPO / ".ci" / "run").read_text().splitlines()
    unguarded = [
        ln
        for ln in lines
        if " && " in ln
        and not ln.lstrip().startswith(("#", "if "))
        and not ln.endswith("|| exit $?")
    ]
    assert unguarded == []
    assert "set -euo pipefail" in lines


def _run_ci_setup(tmp_path, python3):
    """Run .ci/run's set-up lines in a real bash on a PATH with python3 and no `python`.

    apt-get, pip and mltools are shell functions that only log (they shadow the venv's
    too), so this checks the venv logic without installing anything.
    """
    import os
    import subprocess

    from tests.conftest import REPO

    text = (REPO / ".ci" / "run").read_text()
    setup = next(ln for ln in text.splitlines() if "python3 -m venv .venv" in ln)
    check = next(ln for ln in text.splitlines() if ln.startswith('test "$(command -v python)"'))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(python3)
    script = "\n".join(
        [
            "set -euo pipefail",
            'for f in apt-get pip mltools; do eval "$f() { echo $f \\"\\$*\\" >> log; }"; done',
            "! command -v python",  # like a stock Debian: no `python`
            setup,
            check,
            'python -c "import sys; print(sys.prefix)"',
        ]
    )
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    work = tmp_path / "clone"
    work.mkdir()
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (work / "log").read_text() if (work / "log").exists() else ""
    return proc, log, work, os


@pytest.mark.slow
def test_ci_setup_makes_and_uses_its_own_venv_from_python3(tmp_path):
    import sys

    proc, log, work, os = _run_ci_setup(tmp_path, sys._base_executable)
    assert proc.returncode == 0, proc.stderr
    assert os.path.realpath(proc.stdout.strip().splitlines()[-1]) == os.path.realpath(
        work / ".venv"
    )
    assert log.splitlines() == [
        "apt-get update",
        "apt-get install -y libmagic1 rsync sshpass python3-venv",
        "pip install .",
        "mltools cpu",
    ]


def test_ci_setup_stops_when_the_venv_cannot_be_made(tmp_path):
    fake = tmp_path / "fake-python3"
    fake.write_text("#!/bin/sh\necho 'ensurepip is not available' >&2\nexit 1\n")
    fake.chmod(0o755)
    proc, log, _, _ = _run_ci_setup(tmp_path, fake)
    assert proc.returncode == 1
    assert "pip" not in log and "mltools" not in log  # nothing ran after the failure


def test_every_public_name_resolves():
    import mltools

    missing = []
    for name in mltools.__all__:
        try:
            getattr(mltools, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {exc}")
    assert missing == []


def test_usage_lines_name_arguments_in_capitals():
    """`SRC DST`, `PATHS...`, `[FILE]...` as Click and man pages write them, not `{src}`."""
    from typer.testing import CliRunner

    runner = CliRunner()
    bad = []
    for path, command in all_commands():
        if not path or hasattr(command, "list_commands"):
            continue
        result = runner.invoke(app, [*path, "--help"], prog_name="mltools")
        usage = next(ln for ln in result.output.splitlines() if ln.startswith("Usage:"))
        if "{" in usage or any(
            p.param_type_name == "argument" and p.metavar is None and p.name.upper() not in usage
            for p in command.params
        ):
            bad.append(usage)
    assert bad == []
    sync = runner.invoke(app, ["sync", "--help"]).output
    assert "Usage: mltools sync [OPTIONS] SRC DST" in sync


def test_misspelled_top_level_command_gets_a_suggestion():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["gpuu"])
    assert result.exit_code == 2
    assert "No such command 'gpuu'. Did you mean 'gpu'?" in result.output
    result = CliRunner().invoke(app, ["gpu", "pik"])  # subcommands keep Typer's own
    assert "Did you mean 'pick'?" in result.output


def test_completion_help_lists_each_shell_on_its_own_line():
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["completion", "--help"]).output
    lines = [ln.strip() for ln in out.splitlines()]
    for shell in ("bash", "zsh", "fish"):
        assert any(ln.startswith(f"{shell}:") and f"completion {shell} >" in ln for ln in lines)
