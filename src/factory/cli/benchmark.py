"""`factory benchmark`: the benchmark stage's code path (factory.benchmark.stage), from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

Protocol = Literal["heldout", "sutjiadi2025", "prodan2023"]


def register(app: typer.Typer) -> None:
    """Add `factory benchmark` to the `factory` app."""

    @app.command("benchmark")
    def benchmark(
        dataset: Path = typer.Option(
            ..., "--dataset", help="Packaged synthetic set folder (data/*.parquet, lineage.json)."
        ),
        manifest: Path = typer.Option(
            ..., "--manifest", help="Ingest manifest.parquet (real images beside it)."
        ),
        out: Path = typer.Option(..., "--out", help="Output folder for metrics, verdict, report."),
        protocol: str | None = typer.Option(
            None,
            "--protocol",
            help="Override benchmark.protocol: heldout (decides acceptance), sutjiadi2025 "
            "(their 80:20 split; includes synthetic images in the test set) or prodan2023.",
        ),
        params: Path = typer.Option(
            Path("params.yaml"), "--params", help="Params file with `common` and `benchmark`."
        ),
    ) -> None:
        """Train classifiers with and without the synthetic set; test on unseen real patients.

        Writes metrics.json, acceptance.json, report/ and plots/ into --out. A rejection is
        reported (exit 0) and blocks `factory publish`; leakage is an error.
        """
        from factory.benchmark.stage import STAGE
        from factory.stagekit import Option, run_cli

        paths = {"dataset": dataset, "manifest": manifest, "out": out}
        run_cli(STAGE, params, paths, [Option("benchmark", "protocol", protocol, "--protocol")])
