"""`mltools ckpt`: inspect, diff, convert and scan checkpoints without loading them."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect, diff, convert and scan checkpoints without loading them.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ckpt")
