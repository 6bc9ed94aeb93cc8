"""`factory phantom`: the phantom stage's code path (factory.phantom.stage), from the CLI."""

from __future__ import annotations

from pathlib import Path

import typer

from factory.phantom.config import LAYOUTS


def register(app: typer.Typer) -> None:
    """Add `factory phantom` to the `factory` app."""

    @app.command("phantom")
    def phantom(
        out: Path = typer.Option(
            ..., "--out", help="Folder to write (new, empty, or a previous phantom set)."
        ),
        patients: int | None = typer.Option(
            None,
            "--patients",
            help="Phantom women (2-4 views each, ~3.5 on average; default: phantom.patients).",
        ),
        seed: int | None = typer.Option(
            None,
            "--seed",
            help="Seed (default: common.seed); the same seed gives byte-identical files.",
        ),
        height: int | None = typer.Option(
            None, "--height", help="Image height in pixels, 64 to 4084 (default: params)."
        ),
        layout: str | None = typer.Option(
            None, "--layout", help=f"On-disk layout: {', '.join(LAYOUTS)} (default: params)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="Worker processes (default: phantom.workers)."
        ),
        png: bool = typer.Option(
            False, "--png", help="inbreast layout only: also write PNG conversions (AllPNGs/)."
        ),
        params: Path = typer.Option(
            Path("params.yaml"),
            "--params",
            help="Params file for common and phantom (built-in defaults when absent).",
        ),
    ) -> None:
        """Write a SYNTHETIC mammography set (DICOM + labels) in a public dataset's layout.

        For pipelines and tests only, never for clinical conclusions.
        """
        from factory.phantom.stage import STAGE
        from factory.stagekit import Option, run_cli

        options = [
            Option("phantom", "patients", patients, "--patients"),
            Option("common", "seed", seed, "--seed"),
            Option("phantom", "height", height, "--height"),
            Option("phantom", "layout", layout, "--layout"),
            Option("phantom", "workers", workers, "--workers"),
        ]
        flags = {"png": True} if png else {}
        run_cli(STAGE, params, {"out": out}, options, flags=flags, missing_ok=True)
