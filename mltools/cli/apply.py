"""`mltools apply`: run a Python function over a CSV/Parquet/JSONL table on every core."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add the `apply` command to the root app."""
