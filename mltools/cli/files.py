"""File chores: `filetype`, `clean`, `du`, `sync` and `kill` (top-level commands)."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add the file-chore commands to the root app."""
