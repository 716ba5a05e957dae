"""The root command: registers every command group and maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mltools import __version__
from mltools.cli import _errors, apply, ckpt, completion, cpu, ddp_doctor, files, gpu


class MltoolsGroup(TyperGroup):
    """Root group that turns library exceptions into one line, a hint and an exit code.

    It wraps ``invoke`` rather than ``main`` so that tests driving the app with
    ``CliRunner`` see exactly what a user sees.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise
        except KeyboardInterrupt:
            raise typer.Exit(_errors.report(KeyboardInterrupt())) from None
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
        7 missing optional dependency, 130 Ctrl-C. Set MLTOOLS_DEBUG=1 for tracebacks.
        """

    for module in (cpu, gpu, ddp_doctor, ckpt, files, apply, completion):
        module.register(app)
    return app


app = build_app()


def main() -> None:
    """Console-script entry point."""
    if os.environ.get(completion.COMPLETE_VAR):
        # A TAB press: register Typer's bash/zsh/fish completion classes (cheap, only now).
        from typer._completion_classes import completion_init

        completion_init()
    try:
        app(prog_name="mltools")
    except KeyboardInterrupt:
        sys.exit(_errors.report(KeyboardInterrupt()))
