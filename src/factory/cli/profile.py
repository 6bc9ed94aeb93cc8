"""`factory profile`: list and switch params profiles (demo, paper-scale settings)."""

from __future__ import annotations

from pathlib import Path

import typer

from factory.errors import FactoryError
from factory.io import atomic_write_text
from factory.params import load_params


def _profiles(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FactoryError(f"{folder}: no profiles folder here; run from the project root")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def register(app: typer.Typer) -> None:
    """Add `factory profile list|use`."""
    profile = typer.Typer(help="List and switch params profiles (copies one to params.yaml).")
    app.add_typer(profile, name="profile")

    @profile.command("list")
    def list_profiles(
        folder: Path = typer.Option(Path("profiles"), "--dir", help="Folder of profiles."),
    ) -> None:
        """List the available profiles with their first comment line."""
        for name, path in _profiles(folder).items():
            first = next(
                (ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln), ""
            )
            typer.echo(f"{name:18s} {first}")

    @profile.command("use")
    def use(
        name: str = typer.Argument(..., help="Profile name (a file profiles/<name>.yaml)."),
        folder: Path = typer.Option(Path("profiles"), "--dir", help="Folder of profiles."),
        params: Path = typer.Option(
            Path("params.yaml"), "--params", help="The params file to replace."
        ),
    ) -> None:
        """Validate a profile and copy it over params.yaml; then run `dvc repro`."""
        found = _profiles(folder)
        if name not in found:
            raise FactoryError(
                f"no profile {name!r} in {folder}/; available: {', '.join(found) or 'none'}"
            )
        load_params(found[name])  # refuse an invalid profile before touching params.yaml
        atomic_write_text(params, found[name].read_text(encoding="utf-8"))
        typer.echo(f"{params} is now profile {name!r} (from {found[name]}); run `dvc repro`")


__all__ = ["register"]
