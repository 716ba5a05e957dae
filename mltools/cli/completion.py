"""`mltools completion SHELL`: print the bash, zsh or fish completion script.

The scripts only forward each TAB press to ``mltools`` itself (Typer's
protocol, ``_MLTOOLS_COMPLETE=complete_<shell>``), so candidates are always
those of the installed version. ``completions/`` holds the same scripts,
written by ``scripts/gen_completions.py``.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

PROG = "mltools"
COMPLETE_VAR = "_MLTOOLS_COMPLETE"
FILES = {"bash": "mltools.bash", "zsh": "_mltools", "fish": "mltools.fish"}
_NOTE = "# Generated from the mltools app by scripts/gen_completions.py; do not edit.\n"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_script(shell: str) -> str:
    """The completion script for ``shell``, with a header naming its generator."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    script = script.strip("\n") + "\n"
    if shell == "zsh":  # `#compdef` must stay the first line for zsh's autoloader
        first, _, rest = script.partition("\n")
        return f"{first}\n{_NOTE}{rest}"
    return _NOTE + script


def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell to print the script for.")],
) -> None:
    """Print the TAB-completion script for bash, zsh or fish.

    \b
    bash: mltools completion bash > ~/.local/share/mltools/mltools.bash
          echo '. ~/.local/share/mltools/mltools.bash' >> ~/.bashrc
    zsh:  mltools completion zsh > ~/.zfunc/_mltools
          (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)
    fish: mltools completion fish > ~/.config/fish/completions/mltools.fish
    """
    typer.echo(completion_script(shell.value), nl=False)


def register(root: typer.Typer) -> None:
    root.command("completion")(completion)
