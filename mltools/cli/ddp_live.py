"""`mltools ddp-doctor hang` and `ddp-doctor smoke`: live analysis of running ranks."""

from __future__ import annotations

import typer


def register(group: typer.Typer) -> None:
    """Add `hang` and `smoke` to the ddp-doctor group."""
