"""`factory package`, `publish`, `pull`, `lineage` and `verify`: versioned sets and their audit."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from factory.errors import FactoryError

ENDPOINT_HELP = "Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)."
CACHE_HELP = "Hub download cache folder (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)."


def _hub(endpoint: str | None):
    """The Hub client settings; the token comes from HF_TOKEN or the stored login."""
    from huggingface_hub import get_token

    from factory.package.hub import Hub

    return Hub(endpoint=endpoint or None, token=get_token())


def _set_or_hub(target: str, endpoint: str | None, cache_dir: Path | None, offline: bool) -> Path:
    """A local set folder, or ORG/NAME[@rev] downloaded (and verified) from the Hub."""
    from factory.package.hub import REPO_ID, download_set

    if Path(target).exists() or not REPO_ID.match(target.split("@")[0]):
        return Path(target)
    repo_id, _, revision = target.partition("@")
    return download_set(
        repo_id, revision or "main", _hub(endpoint), cache_dir=cache_dir, offline=offline
    )


def register(app: typer.Typer) -> None:
    """Add package, publish, pull, lineage and verify to the `factory` app."""

    @app.command("package")
    def package_cmd(
        gate: Path = typer.Option(Path("outputs/gate"), help="Gate output folder."),
        samples: Path = typer.Option(Path("outputs/sample"), help="Sample output folder."),
        train: Path = typer.Option(Path("outputs/train"), help="Train output folder."),
        manifest: Path = typer.Option(
            Path("outputs/ingest/manifest.parquet"), help="Ingest manifest.parquet."
        ),
        dvc_lock: Path = typer.Option(Path("dvc.lock"), help="dvc.lock to record."),
        out: Path | None = typer.Option(
            None, help="Set folder (default: datasets/synthetic/<package.name>)."
        ),
        params: Path = typer.Option(Path("params.yaml"), help="Params file."),
    ) -> None:
        """Package the gate-accepted samples as a Hub-layout dataset with card and lineage."""
        from factory.config import load_params
        from factory.package.build import RECORDED_SECTIONS, Inputs, package_set

        p = load_params(params)
        target = out or Path("datasets/synthetic") / p.package.name
        lineage = package_set(
            p.package,
            p.common.classes,
            Inputs(gate, samples, train, manifest, dvc_lock),
            target,
            p.resolved(*RECORDED_SECTIONS),
        )
        s = lineage["set"]
        typer.echo(f"packaged {s['name']} {s['version']}: {s['rows']} images -> {target}")

    @app.command("publish")
    def publish_cmd(
        set_dir: Path = typer.Argument(..., help="Packaged set folder (datasets/synthetic/NAME)."),
        repo: str = typer.Option(..., "--repo", help="Hub dataset repo, ORG/NAME."),
        version: str | None = typer.Option(
            None, help="Version tag vX.Y.Z; must equal the packaged version (the default)."
        ),
        acceptance: Path = typer.Option(
            Path("outputs/benchmark/acceptance.json"), help="Benchmark verdict file."
        ),
        results: Path = typer.Option(
            Path("outputs/benchmark/report/results.md"),
            help="Benchmark results table (Markdown) put into the card, when present.",
        ),
        force: bool = typer.Option(
            False, help="Publish although the benchmark did not accept the set (needs --reason)."
        ),
        reason: str | None = typer.Option(None, help="Why --force is used; goes into the card."),
        public: bool = typer.Option(False, help="Create the repo public (default: private)."),
        dry_run: bool = typer.Option(False, help="Run the local checks, list what would go."),
        project: Path = typer.Option(Path("."), help="Project clone whose git/DVC must be clean."),
        endpoint: str | None = typer.Option(None, envvar="HF_ENDPOINT", help=ENDPOINT_HELP),
    ) -> None:
        """Upload a packaged set as one commit to a (private) Hub dataset repo and tag it."""
        from factory.package.hub import publish

        plan = publish(
            set_dir,
            repo,
            _hub(endpoint),
            version=version,
            acceptance_path=acceptance,
            results_path=results,
            force=force,
            reason=reason,
            private=not public,
            dry_run=dry_run,
            project_dir=project,
        )
        head = "would publish" if dry_run else "published"
        vis = "private" if plan.private else "public"
        typer.echo(f"{head} {plan.repo_id}@{plan.version} ({vis}):")
        for rel, size in plan.files:
            typer.echo(f"  {rel}  {size} bytes")
        if plan.forced_reason:
            typer.echo(f"  forced: {plan.forced_reason}")

    @app.command("pull")
    def pull_cmd(
        repo: str = typer.Argument(..., help="Hub dataset repo, ORG/NAME."),
        revision: str = typer.Option(..., help="Version tag (vX.Y.Z) or commit to pull."),
        to: Path | None = typer.Option(None, help="Also copy the verified set into this folder."),
        offline: bool = typer.Option(
            False, envvar="HF_HUB_OFFLINE", help="Use the local cache only (no network)."
        ),
        cache_dir: Path | None = typer.Option(None, envvar="HF_HUB_CACHE", help=CACHE_HELP),
        endpoint: str | None = typer.Option(None, envvar="HF_ENDPOINT", help=ENDPOINT_HELP),
    ) -> None:
        """Download exactly one version, verify every shard against lineage.json, load it."""
        from factory.package.hub import copy_set, download_set, load_set

        path = download_set(repo, revision, _hub(endpoint), cache_dir=cache_dir, offline=offline)
        if to is not None:
            path = copy_set(path, to)
        ds = load_set(path)
        typer.echo(f"{repo}@{revision}: verified, {len(ds)} images at {path}")
        typer.echo(f"features: {ds.features}")

    @app.command("lineage")
    def lineage_cmd(
        target: str = typer.Argument(..., help="Set folder, or ORG/NAME[@revision] on the Hub."),
        image: str | None = typer.Option(None, help="Trace one image (its image_id)."),
        as_json: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
        offline: bool = typer.Option(
            False, envvar="HF_HUB_OFFLINE", help="Use the local cache only (no network)."
        ),
        cache_dir: Path | None = typer.Option(None, envvar="HF_HUB_CACHE", help=CACHE_HELP),
        endpoint: str | None = typer.Option(None, envvar="HF_ENDPOINT", help=ENDPOINT_HELP),
    ) -> None:
        """Show what made a set or one image: sampler, model, manifest, source hashes."""
        from factory.package.dataset import read_rows
        from factory.package.lineage import image_chain, read_lineage, render_chain, set_chain

        path = _set_or_hub(target, endpoint, cache_dir, offline)
        lineage = read_lineage(path)
        if image is None:
            chain = set_chain(lineage)
        else:
            rows = read_rows(path)
            match = rows[rows["image_id"] == image]
            if match.empty:
                raise FactoryError(f"{path}: no image {image!r} in this set")
            chain = image_chain(lineage, match.iloc[0].to_dict())
        typer.echo(json.dumps(chain, indent=2, default=str) if as_json else render_chain(chain))

    @app.command("verify")
    def verify_cmd(
        set_dir: Path = typer.Argument(..., help="Packaged or pulled set folder."),
    ) -> None:
        """Recompute every hash of a set and report what differs from its lineage.json."""
        from factory.package.verify import verify_set

        diffs = verify_set(set_dir)
        for d in diffs:
            typer.echo(f"DIFFERS  {d}")
        if diffs:
            raise FactoryError(f"{set_dir}: {len(diffs)} difference(s) from lineage.json")
        typer.echo(f"{set_dir}: every shard, image and count matches lineage.json")
