"""`factory train`: the train stage's code path (factory.train.stage), from the command line."""

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
        `torchrun --nproc_per_node N` (or `accelerate launch`) for several processes; the
        DVC stage starts train.processes of them itself.
        """
        from factory.stagekit import Option, run_cli
        from factory.train.stage import STAGE

        options = [Option("train", "steps", steps, "--steps")]
        run_cli(STAGE, params, {"manifest": manifest, "out": out}, options)
