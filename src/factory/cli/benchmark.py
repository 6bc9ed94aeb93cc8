"""`factory benchmark`: the same library call as the DVC stage, from the command line."""

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
        from factory.benchmark import run_benchmark
        from factory.config import load_params, validate_section
        from factory.io import save_resolved_config

        loaded = load_params(params)
        cfg = loaded.benchmark
        if protocol is not None:
            raw = cfg.model_dump(mode="json") | {"protocol": protocol}
            cfg = validate_section("benchmark", raw, f"--protocol {protocol}")
        verdict = run_benchmark(cfg, loaded.common, dataset, manifest, out)
        resolved = loaded.resolved("common") | {"benchmark": cfg.model_dump(mode="json")}
        save_resolved_config(out, **resolved)
        word = "ACCEPTED" if verdict["accepted"] else "REJECTED"
        typer.echo(
            f"benchmark {word} (rule: {verdict['rule_label']}): {verdict['reason']}; "
            f"see {out / 'report/results.md'}"
        )
