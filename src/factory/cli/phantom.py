"""`factory phantom`: write the embedded synthetic mammography set."""

from __future__ import annotations

from pathlib import Path

import typer

from factory.phantom.config import LAYOUTS, PhantomConfig

_DEFAULTS = PhantomConfig()


def register(app: typer.Typer) -> None:
    """Add `factory phantom` to the `factory` app."""

    @app.command("phantom")
    def phantom(
        out: Path = typer.Option(
            ..., "--out", help="Folder to write (new, empty, or a previous phantom set)."
        ),
        patients: int = typer.Option(
            _DEFAULTS.patients,
            "--patients",
            help="Phantom women (2-4 views each, ~3.5 on average).",
        ),
        seed: int = typer.Option(
            0, "--seed", help="Seed; the same seed gives byte-identical files."
        ),
        height: int = typer.Option(
            _DEFAULTS.height, "--height", help="Image height in pixels, 64 to 4084 (full size)."
        ),
        layout: str = typer.Option(
            "inbreast", "--layout", help=f"On-disk layout: {', '.join(LAYOUTS)}."
        ),
        workers: int = typer.Option(_DEFAULTS.workers, "--workers", help="Worker processes."),
        png: bool = typer.Option(
            False, "--png", help="inbreast layout only: also write PNG conversions (AllPNGs/)."
        ),
    ) -> None:
        """Write a SYNTHETIC mammography set (DICOM + labels) in a public dataset's layout.

        For pipelines and tests only, never for clinical conclusions.
        """
        from factory.phantom import write_layout

        options = {"png": True} if png else {}
        written = write_layout(
            layout, out, patients=patients, seed=seed, height=height, workers=workers, **options
        )
        typer.echo(f"wrote {written} ({layout} layout; ground truth in phantom_truth.json)")
