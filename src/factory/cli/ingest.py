"""`factory ingest`: the ingest stage's code path (factory.ingest.stage), from the CLI."""

from __future__ import annotations

from pathlib import Path

import typer

from factory.ingest.config import SOURCES


def _check_source(value: str) -> str:
    if value not in SOURCES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(SOURCES)}")
    return value


def source_options(params: Path, source: str, given: dict[str, object]) -> list:
    """Options for --source, and the reset of the file's keys that belong to another source.

    A params file for INbreast may name its label file (ingest.csv) and a label map; with
    --source rsna they do not apply. They are reset to the defaults, and the user is told
    (on stderr) which were dropped; the recorded config.json shows what ran.
    """
    from factory.config import read_params
    from factory.ingest.config import IngestConfig
    from factory.stagekit import Option

    options = [Option("ingest", "source", source, "--source")]
    if not params.exists():
        return options
    cfg = read_params(params, ingest=IngestConfig).ingest
    assert cfg is not None
    if cfg.source == source:
        return options
    dropped = []
    for key in ("csv", "label_map"):
        default = IngestConfig.model_fields[key].default
        if given.get(key) is None and getattr(cfg, key) != default:
            dropped.append(f"ingest.{key} = {getattr(cfg, key)!r}")
            options.append(Option("ingest", key, default, f"--source {source}", clears=True))
    if dropped:
        typer.echo(
            f"note: --source {source} is not ingest.source = {cfg.source!r} of {params}: "
            f"not using its {' and '.join(dropped)} (they are for {cfg.source}); the "
            "defaults apply, or give --csv / --label-map",
            err=True,
        )
    return options


def register(app: typer.Typer) -> None:
    """Add `factory ingest` to the app."""

    @app.command("ingest")
    def ingest_command(
        source: str = typer.Option(
            ..., "--source", callback=_check_source, help=f"Layout: {', '.join(SOURCES)}."
        ),
        path: Path = typer.Option(..., "--path", help="The dataset folder as downloaded."),
        out: Path = typer.Option(..., "--out", help="Output folder (manifest, images, ...)."),
        image_size: int | None = typer.Option(
            None, "--image-size", help="Square side of stored images (default: params)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="Decode worker processes (default: params)."
        ),
        label_map: str | None = typer.Option(
            None, "--label-map", help="Named label map, e.g. birads-1-3-vs-4-6 (see docs)."
        ),
        csv: str | None = typer.Option(
            None, "--csv", help="Label file inside the folder (folder/inbreast sources)."
        ),
        seed: int | None = typer.Option(
            None, "--seed", help="Seed of the split (default: params)."
        ),
        key_file: Path | None = typer.Option(
            None,
            "--key-file",
            help="Pseudonym key file (default: $FACTORY_PSEUDONYM_KEY, else "
            ".factory/pseudonym.key, created if missing).",
        ),
        params: Path = typer.Option(
            Path("params.yaml"),
            "--params",
            help="Params file for common and ingest (built-in defaults when absent).",
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
        allow_key_change: bool = typer.Option(
            False,
            "--allow-key-change",
            help="Replace a manifest in --out made with another pseudonym key (new "
            "pseudonyms and splits).",
        ),
    ) -> None:
        """Ingest a public dataset or a DICOM folder: de-identified, patient-split images.

        The options override the params file, and config.json records what ran
        (--path as ingest.path).
        """
        from factory.ingest.stage import STAGE
        from factory.stagekit import Option, run_cli

        options = [
            *source_options(params, source, {"csv": csv, "label_map": label_map}),
            Option("ingest", "workers", workers, "--workers"),
            Option("ingest", "label_map", label_map, "--label-map"),
            Option("ingest", "csv", csv, "--csv"),
            Option("common", "image_size", image_size, "--image-size"),
            Option("common", "seed", seed, "--seed"),
        ]
        # The fingerprint file is the DVC stage's dep; a command-line run leaves it alone.
        flags = {"key_file": key_file, "allow_key_change": allow_key_change}
        flags["fingerprint_file"] = None
        paths = {"path": path, "out": out}
        run_cli(STAGE, params, paths, options, progress=not quiet, flags=flags, missing_ok=True)
