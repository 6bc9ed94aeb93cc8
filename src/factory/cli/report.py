"""`factory report <set>`: the set's audit page, one HTML file that opens from disk."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        set_dir: Path = typer.Argument(..., help="A packaged or pulled set folder."),
        out: Path | None = typer.Option(
            None, help="The HTML file to write (default: <set>.audit.html beside the set)."
        ),
        acceptance: Path | None = typer.Option(
            None, help="The benchmark's acceptance.json (a published set carries its own)."
        ),
        real: Path | None = typer.Option(
            None,
            help="The ingest folder (outputs/ingest), to show real train images beside the "
            "synthetic ones when the source's terms allow it.",
        ),
        embed_restricted_real: bool = typer.Option(
            False,
            help="Embed real images even when the source forbids redistribution (a page "
            "to keep with people licensed for that data set).",
        ),
    ) -> None:
        """Write the audit page: verdicts, gate rows beside references, grids, every image
        with its lineage up to the source data set and its licence."""
        from factory.package.audit import build_report

        path = build_report(
            set_dir,
            out,
            acceptance=acceptance,
            real=real,
            embed_restricted_real=embed_restricted_real,
        )
        typer.echo(f"audit page: {path}")
