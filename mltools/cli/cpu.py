"""`mltools cpu`: CPU topology, per-core usage, memory, /dev/shm and container limits."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add the `cpu` command to the root app."""
