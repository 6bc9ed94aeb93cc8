"""`factory ingest` command(s)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `factory` app."""
