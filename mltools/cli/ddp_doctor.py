"""`mltools ddp-doctor`: preflight checks, env presets, guarded launch and log triage."""

from __future__ import annotations

import typer

app = typer.Typer(help="Diagnose PyTorch DDP hangs and errors.")


def register(root: typer.Typer) -> None:
    # `hang` and `smoke` live in ddp_live.py (they need torch and py-spy at run time).
    from mltools.cli import ddp_live

    ddp_live.register(app)
    root.add_typer(app, name="ddp-doctor")
