"""`factory gate`: the same library call as the DVC stage, from the command line."""

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
        """Gate a synthetic set: FID/KID/FRD, PRDC, diversity, memorization, sanity.

        Exits 1 with a metric | value | threshold table when a gate fails; the report and
        metrics.json are written either way, accepted.parquet only on a pass.
        """
        from factory.config import load_params
        from factory.gate.run import raise_if_failed, run_gate
        from factory.io import save_resolved_config

        loaded = load_params(params)
        result = run_gate(samples, manifest, out, loaded.common, loaded.gate)
        save_resolved_config(out, **loaded.resolved("common", "gate"))
        raise_if_failed(result)
        typer.echo(f"gate passed; accepted list in {out / 'accepted.parquet'}")
