"""The root command: finds every command lazily and maps errors to exit codes.

Typer builds a Click command by introspecting its function's signature, about
1 ms a command. Building all of them on every run made ``mltools ckpt inspect``
pay for the other 20, so the root builds only the command being run (or
completed); ``--help`` lists short help read from the registrations without
building anything.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mltools import __version__
from mltools.cli import _errors, completion

# CLI modules in the order `mltools --help` lists them; each has register(app).
COMMAND_MODULES = (
    "mltools.cli.cpu",
    "mltools.cli.gpu",
    "mltools.cli.ddp_doctor",
    "mltools.cli.top",
    "mltools.cli.ckpt",
    "mltools.cli.files",
    "mltools.cli.apply",
    "mltools.cli.record",
    "mltools.cli.completion",
)


# Which module registers each command: running one imports that module alone (importing
# all nine and building a whole module's commands cost `mltools du` about 0.09 s of its
# start-up). A test checks it against what the modules register.
COMMAND_HOMES = {
    "cpu": "mltools.cli.cpu",
    "gpu": "mltools.cli.gpu",
    "ddp-doctor": "mltools.cli.ddp_doctor",
    "top": "mltools.cli.top",
    "ckpt": "mltools.cli.ckpt",
    "filetype": "mltools.cli.files",
    "clean": "mltools.cli.files",
    "du": "mltools.cli.files",
    "sync": "mltools.cli.files",
    "kill": "mltools.cli.files",
    "apply": "mltools.cli.apply",
    "record": "mltools.cli.record",
    "completion": "mltools.cli.completion",
}


@cache
def _module_registrations(module_name: str) -> dict[str, tuple[typer.Typer, str]]:
    """The commands one module registers: name -> (a Typer holding that command alone, its
    help text), nothing built yet."""
    found: dict[str, tuple[typer.Typer, str]] = {}
    holder = typer.Typer(add_completion=False, rich_markup_mode=None)
    importlib.import_module(module_name).register(holder)
    for info in holder.registered_commands:
        text = info.help if info.help is not None else inspect.getdoc(info.callback)
        name = info.name or info.callback.__name__.replace("_", "-")
        found[name] = (_holding(commands=[info]), inspect.cleandoc(text or ""))
    for group in holder.registered_groups:
        text = typer.main.solve_typer_info_help(group)
        found[group.name] = (_holding(groups=[group]), text)
    return found


def _holding(commands: Sequence[Any] = (), groups: Sequence[Any] = ()) -> typer.Typer:
    """A Typer holding just these commands or groups (built alone by ``_build``)."""
    single = typer.Typer(add_completion=False, rich_markup_mode=None)
    single.callback()(_holder_callback)  # keeps get_command() a group, even of one
    single.registered_commands = list(commands)
    single.registered_groups = list(groups)
    return single


@cache
def _registrations() -> dict[str, tuple[typer.Typer, str]]:
    """Command name -> (the Typer holding it, its help text) for every module, in order."""
    found: dict[str, tuple[typer.Typer, str]] = {}
    for module_name in COMMAND_MODULES:
        found.update(_module_registrations(module_name))
    return found


def _registration(name: str) -> tuple[typer.Typer, str] | None:
    """One command's registration, importing only its module where ``COMMAND_HOMES`` knows it."""
    home = COMMAND_HOMES.get(name)
    if home is not None:
        found = _module_registrations(home).get(name)
        if found is not None:
            return found
    return _registrations().get(name)


def _holder_callback() -> None:
    """Group of lazily built commands."""


@cache
def _build(holder: typer.Typer) -> Any:
    from mltools.cli._numbers import harden

    group = typer.main.get_command(holder)
    _capitalise_arguments(group)
    return harden(group)  # every numeric option bounded (nan, inf, absurd: exit 2)


class _Argument(typer.core.TyperArgument):
    """An argument shown the usual way: ``SRC DST``, ``PATH...``, ``[FILE]...``.

    Typer 0.28 prints required arguments as ``{src}`` in usage lines; Click, argparse
    and man pages use capitals.
    """

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        if self.metavar is not None:  # spelled out by the command: as given
            var = self.metavar
            if usage and not self.required and not var.startswith("["):
                var = f"[{var}]"
            return var
        var = (self.name or "").upper()
        type_var = self.type.get_metavar(self, ctx=ctx)
        if type_var:
            var += f":{type_var}"
        if self.nargs != 1:
            var += "..."
        if usage and not self.required:
            var = f"[{var}]"
        return var


def _capitalise_arguments(command: Any) -> None:
    """Give every argument of ``command`` (and of its subcommands) the usual metavar."""
    for param in command.params:
        if type(param) is typer.core.TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        _capitalise_arguments(sub)


class MltoolsGroup(TyperGroup):
    """Root group: builds commands on demand, and turns library exceptions into one
    line, a hint and an exit code.

    It wraps ``invoke`` rather than ``main`` so that tests driving the app with
    ``CliRunner`` see exactly what a user sees.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *_registrations()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            found = _registration(cmd_name)
            if found is not None:
                command = _build(found[0]).commands[cmd_name]
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer suggests close names from ``self.commands`` only, which stays empty here
        (commands are built lazily): suggest from every registered name instead."""
        from difflib import get_close_matches

        from typer._click.exceptions import UsageError

        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            if args and "Did you mean" not in exc.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(m) for m in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The Commands section of --help, from the registrations (nothing is built)."""
        from typer._click.utils import make_default_short_help

        rows = [(name, self.commands[name].get_short_help_str()) for name in self.commands]
        rows += [(name, text) for name, (_, text) in _registrations().items()]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            rows = [(name, make_default_short_help(text, limit)) for name, text in rows]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (mltools.errors.Interrupted)
            raise typer.Exit(_errors.report(exc)) from None
        except Exception as exc:
            if _errors.is_framework_exception(exc) or _errors.debug_enabled():
                raise
            raise typer.Exit(_errors.report(exc)) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mltools {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="mltools",
        cls=MltoolsGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # Plain help and usage errors: Typer's rich help costs ~100 ms of imports per
        # run (0.30 s vs nvitop's 0.21 s on a TTY, benchmarks/bench_startup.py).
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version", "-V", callback=_version, is_eager=True, help="Print the version."
            ),
        ] = False,
    ) -> None:
        """A terminal toolbox for ML engineers: GPUs, CPUs, DDP triage, checkpoints,
        file chores and parallel apply.

        Every reporting command has --json. Exit codes: 0 ok, 1 error, 2 usage,
        3 no GPU/driver, 4 not available now, 5 check failed, 6 partial failure,
        7 missing optional dependency, 127 command not found (record), 130 Ctrl-C (128+N for
        signal N: 143 SIGTERM). Set MLTOOLS_DEBUG=1 for tracebacks.
        """

    return app


app = build_app()


def main() -> None:
    """Console-script entry point."""
    if os.environ.get(completion.COMPLETE_VAR):
        # A TAB press: register Typer's bash/zsh/fish completion classes (cheap, only now).
        from typer._completion_classes import completion_init

        completion_init()
    from mltools import _signals

    _signals.install()
    try:
        app(prog_name="mltools")
    except KeyboardInterrupt as exc:
        sys.exit(_errors.report(exc))
