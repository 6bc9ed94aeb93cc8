"""`factory gate`: the gate stage's code path (factory.gate.stage), from the command line."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `factory gate` to the `factory` app."""

    @app.command("gate")
    def gate(
        samples: Path = typer.Option(
            ..., "--samples", help="Sample output folder (metadata.parquet and images/)."
        ),
        manifest: Path = typer.Option(
            ..., "--manifest", help="Ingest manifest.parquet (real images beside it)."
        ),
        out: Path = typer.Option(..., "--out", help="Output folder for metrics and report."),
        params: Path = typer.Option(
            Path("params.yaml"), "--params", help="Params file with `common` and `gate`."
        ),
    ) -> None:
        """Gate a synthetic set: distribution metrics beside real-vs-real, detectability,
        class fidelity, diversity, memorization, sanity.

        gate.on_fail stop: exits 1 with the gate table when a gate fails (report and
        metrics.json written, no accepted.parquet). record: prints the table, says the set
        is not for publication, exits 0 with accepted.parquet written.
        """
        from factory.gate.stage import STAGE
        from factory.stagekit import run_cli

        run_cli(STAGE, params, {"samples": samples, "manifest": manifest, "out": out})
