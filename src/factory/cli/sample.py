"""`factory sample`: the sample stage's code path (factory.sample.stage), from the CLI."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `factory sample` to the `factory` app."""

    @app.command("sample")
    def sample_command(
        model: Path = typer.Option(
            ..., "--model", help="Trained model folder (outputs/train/model)."
        ),
        out: Path = typer.Option(..., "--out", help="Folder for the synthetic set."),
        per_class: int | None = typer.Option(
            None, "--per-class", help="Images per class (default: sample.per_class)."
        ),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="ddpm, ddim, dpmsolver++ or unipc (default: params)."
        ),
        steps: int | None = typer.Option(
            None, "--steps", help="Denoising steps (default: sample.steps)."
        ),
        guidance: float | None = typer.Option(
            None, "--guidance", help="Classifier-free guidance scale (default: params)."
        ),
        params: Path = typer.Option(
            Path("params.yaml"), "--params", help="Params file for common and sample."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Draw a synthetic set: 16-bit PNGs, metadata.parquet and preview grids.

        Resumes a stopped run in the same --out folder. Run it under torchrun or `accelerate
        launch` to shard the images over processes.
        """
        from factory.sample.stage import STAGE
        from factory.stagekit import Option, run_cli

        options = [
            Option("sample", "per_class", per_class, "--per-class"),
            Option("sample", "scheduler", scheduler, "--scheduler"),
            Option("sample", "steps", steps, "--steps"),
            Option("sample", "guidance_scale", guidance, "--guidance"),
        ]
        run_cli(STAGE, params, {"model": model, "out": out}, options, progress=not quiet)
