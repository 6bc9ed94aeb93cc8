"""`factory train`: train the generator (the same library function as the DVC stage)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `factory train` to the `factory` app."""

    @app.command("train")
    def train_command(
        manifest: Path = typer.Option(
            ..., "--manifest", help="Ingest manifest.parquet (images beside it)."
        ),
        out: Path = typer.Option(
            ..., "--out", help="Output folder: model/, checkpoints/, previews/, lineage.json."
        ),
        params: Path = typer.Option(
            Path("params.yaml"), "--params", help="Params file for common and train."
        ),
        steps: int | None = typer.Option(
            None, "--steps", help="Optimizer steps in total (default: train.steps)."
        ),
    ) -> None:
        """Train the class-conditional DDPM on the manifest's train split.

        Re-running with the same --out resumes from the newest checkpoint. Run it under
        `torchrun --nproc_per_node N` (or `accelerate launch`) for several processes.
        """
        import logging

        from factory.config import load_params, validate_section
        from factory.io import save_resolved_config
        from factory.train.run import train_generator

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("accelerate").setLevel(logging.WARNING)
        loaded = load_params(params)
        cfg = loaded.train
        if steps is not None:
            cfg = validate_section("train", {**cfg.model_dump(), "steps": steps}, "--steps")
        result = train_generator(manifest, out, loaded.common, cfg)
        if result.is_main_process:
            save_resolved_config(
                out, common=loaded.common.model_dump(mode="json"), train=cfg.model_dump(mode="json")
            )
            typer.echo(
                f"train: step {result.step} ({result.steps_this_run} this run), "
                f"final loss {result.final_loss}, model in {out / 'model'}"
            )
