"""`factory sample`: draw a synthetic set from a trained model (same function as the stage)."""

from __future__ import annotations

from pathlib import Path

import typer


def _overridden(section, **overrides):
    """The sample section with the command-line values that were given, validated."""
    from factory.config import validate_section

    given = {k: v for k, v in overrides.items() if v is not None}
    return validate_section("sample", {**section.model_dump(), **given}, "command line")


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

        Resumes a stopped run in the same --out folder. Run it under torchrun or `accelerate launch`
        to shard the images over processes.
        """
        from factory.config import load_params
        from factory.sample.run import sample_set, save_sample_config

        loaded = load_params(params)
        cfg = _overridden(
            loaded.sample,
            per_class=per_class,
            scheduler=scheduler,
            steps=steps,
            guidance_scale=guidance,
        )
        summary = sample_set(
            model,
            out,
            cfg,
            classes=loaded.common.classes,
            seed=loaded.common.seed,
            image_size=loaded.common.image_size,
            progress=not quiet,
        )
        if summary.is_main:
            save_sample_config(out, loaded.common, cfg, summary, model)
            total = sum(summary.per_class.values())
            typer.echo(
                f"{out}: {total} images ({summary.drawn} drawn here, {summary.resumed} "
                f"resumed) with {cfg.scheduler}-{cfg.steps}, guidance {cfg.guidance_scale}, "
                f"in {summary.seconds:.1f} s"
            )
