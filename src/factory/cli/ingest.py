"""`factory ingest`: a dataset folder -> manifest, images, quarantine list, metrics."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from factory.ingest.config import SOURCES


def _check_source(value: str) -> str:
    if value not in SOURCES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(SOURCES)}")
    return value


def _sections(params: Path) -> dict:
    """The raw mapping of a params file, {} when there is none."""
    import yaml

    from factory.errors import ConfigError

    if not params.exists():
        return {}
    try:
        raw = yaml.safe_load(params.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{params}: YAML syntax error: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{params}: expected a mapping of sections at the top level")
    return raw


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
            Path("params.yaml"), "--params", help="Params file for defaults (if it exists)."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Ingest a public dataset or a DICOM folder: de-identified, patient-split images."""
        from factory.config import validate_section
        from factory.ingest import DEFAULT_KEY_FILE, KEY_ENV, ingest, resolve_key
        from factory.io import to_jsonable

        raw = _sections(params)  # only common and ingest: other stages' keys don't matter
        common_raw = validate_section("common", raw.get("common"), str(params)).model_dump()
        ingest_cfg = validate_section("ingest", raw.get("ingest"), str(params))
        ingest_raw = ingest_cfg.model_dump()
        if ingest_cfg.source != source:  # another dataset: its csv/label map don't apply
            ingest_raw.update(csv=None, label_map="default")
        ingest_raw["source"] = source
        for name, value in (("workers", workers), ("label_map", label_map), ("csv", csv)):
            if value is not None:
                ingest_raw[name] = value
        for name, value in (("image_size", image_size), ("seed", seed)):
            if value is not None:
                common_raw[name] = value
        common = validate_section("common", common_raw, "command line")
        config = validate_section("ingest", ingest_raw, "command line")
        if key_file is not None:
            key, note = resolve_key(None, key_file)
        else:
            key, note = resolve_key(os.environ.get(KEY_ENV), DEFAULT_KEY_FILE)
        if note:
            typer.echo(note, err=True)
        resolved = {"common": to_jsonable(common), "ingest": to_jsonable(config)}
        result = ingest(
            path,
            out,
            common=common,  # type: ignore[arg-type]
            config=config,  # type: ignore[arg-type]
            key=key,
            resolved_config=resolved,
            progress=not quiet,
        )
        m = result.metrics
        typer.echo(
            f"{m['images']} images of {m['patients']} patients -> {out} "
            f"({m['quarantined']} quarantined, {m['excluded_by_label_map']} excluded)"
        )
