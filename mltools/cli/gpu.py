"""`mltools gpu`: GPU inspection, selection, launch, topology and process cleanup."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect NVIDIA GPUs (NVML): who uses them, which are free.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gpu")
