"""`factory package`, `publish`, `pull`, `lineage`, `verify` and `sign-key`: versioned sets,
their audit and their signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from factory.errors import FactoryError, GateFailed

ENDPOINT_HELP = "Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)."
CACHE_HELP = "Hub download cache folder (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)."
TRUSTED_HELP = (
    "Public key (.pub from `factory sign-key new`) the set must be signed with; without it "
    "a signature is only checked against the key it carries."
)
OFFLINE = typer.Option(
    False, envvar="HF_HUB_OFFLINE", help="Use the local cache only (no network)."
)
CACHE = typer.Option(None, envvar="HF_HUB_CACHE", help=CACHE_HELP)
ENDPOINT = typer.Option(None, envvar="HF_ENDPOINT", help=ENDPOINT_HELP)
TRUSTED = typer.Option(None, envvar="FACTORY_TRUSTED_KEY", help=TRUSTED_HELP)


def _hub(endpoint: str | None):
    """The Hub client settings; the token comes from HF_TOKEN or the stored login."""
    from huggingface_hub import get_token

    from factory.package.hub import Hub

    return Hub(endpoint=endpoint or None, token=get_token())


def _trusted(path: Path | None) -> Any:
    from factory.package.signing import load_public_key

    return load_public_key(path) if path else None


def _set_or_hub(
    target: str, endpoint: str | None, cache_dir: Path | None, offline: bool, trusted: Any
) -> Path:
    """A local set folder, or ORG/NAME[@rev] downloaded (and verified) from the Hub."""
    from factory.package.hub import REPO_ID, download_set

    if Path(target).exists() or not REPO_ID.match(target.split("@")[0]):
        return Path(target)
    repo_id, _, revision = target.partition("@")
    return download_set(
        repo_id,
        revision or "main",
        _hub(endpoint),
        cache_dir=cache_dir,
        offline=offline,
        trusted=trusted,
    )


PATH_HELP = "(default: the package stage's in dvc.yaml)"


def package_cmd(
    gate: Path | None = typer.Option(None, help=f"Gate output folder {PATH_HELP}."),
    samples: Path | None = typer.Option(None, help=f"Sample output folder {PATH_HELP}."),
    train: Path | None = typer.Option(None, help=f"Train output folder {PATH_HELP}."),
    manifest: Path | None = typer.Option(None, help=f"Ingest manifest.parquet {PATH_HELP}."),
    dvc_lock: Path | None = typer.Option(None, help=f"dvc.lock to record {PATH_HELP}."),
    out: Path | None = typer.Option(None, help=f"Set folder {PATH_HELP}."),
    report: Path | None = typer.Option(None, help=f"Folder for config.json {PATH_HELP}."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file."),
) -> None:
    """Package the gate-accepted samples as a Hub-layout dataset with card and lineage."""
    from factory.package.stage import STAGE
    from factory.stagekit import dvc_paths, run_cli

    given = {
        "gate": gate,
        "samples": samples,
        "train": train,
        "manifest": manifest,
        "dvc-lock": dvc_lock,
        "out": out,
        "report": report,
    }
    if any(v is None for v in given.values()):
        defaults = dvc_paths("package", params)
        given = {k: v or Path(defaults[k.replace("-", "_")]) for k, v in given.items()}
    run_cli(STAGE, params, given)


def _terms_override(by: str | None, reason: str | None) -> dict[str, str] | None:
    if by is None and reason is None:
        return None
    if not (by and by.strip() and reason and reason.strip()):
        raise FactoryError(
            "--terms-override-by NAME and --terms-override-reason TEXT go together (both "
            "are written into the published lineage and card)"
        )
    return {"decided_by": by.strip(), "reason": reason.strip()}


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
    signing_key: Path | None = typer.Option(
        None,
        envvar="FACTORY_SIGNING_KEY",
        help="Ed25519 private key (from `factory sign-key new`) that signs lineage.json.",
    ),
    terms_override_by: str | None = typer.Option(
        None, help="Who decided to publish despite the source's terms (recorded)."
    ),
    terms_override_reason: str | None = typer.Option(
        None, help="Why the source's terms are overridden (recorded in lineage and card)."
    ),
    endpoint: str | None = ENDPOINT,
) -> None:
    """Upload a packaged set as one commit to a (private) Hub dataset repo and tag it."""
    from factory.package.hub import publish
    from factory.package.signing import load_private_key

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
        signing_key=load_private_key(signing_key) if signing_key else None,
        terms_override=_terms_override(terms_override_by, terms_override_reason),
    )
    head = "would publish" if dry_run else "published"
    vis = "private" if plan.private else "public"
    typer.echo(f"{head} {plan.repo_id}@{plan.version} ({vis}):")
    for rel, size in plan.files:
        typer.echo(f"  {rel}  {size} bytes")
    typer.echo(f"  signed by key {plan.signed_by}" if plan.signed_by else "  unsigned")
    if plan.forced_reason:
        typer.echo(f"  forced: {plan.forced_reason}")


def pull_cmd(
    repo: str = typer.Argument(..., help="Hub dataset repo, ORG/NAME."),
    revision: str = typer.Option(..., help="Version tag (vX.Y.Z) or commit to pull."),
    to: Path | None = typer.Option(None, help="Also copy the verified set into this folder."),
    trusted_key: Path | None = TRUSTED,
    offline: bool = OFFLINE,
    cache_dir: Path | None = CACHE,
    endpoint: str | None = ENDPOINT,
) -> None:
    """Download exactly one version, check every claim and the signature, load it."""
    from factory.package.hub import copy_set, load_set, pull_set

    path, result = pull_set(
        repo,
        revision,
        _hub(endpoint),
        cache_dir=cache_dir,
        offline=offline,
        trusted=_trusted(trusted_key),
    )
    if to is not None:
        path = copy_set(path, to)
    ds = load_set(path)
    typer.echo(f"{repo}@{revision}: verified, {len(ds)} images at {path}")
    typer.echo(f"signature: {result.signature.describe()}")
    typer.echo(f"features: {ds.features}")


def lineage_cmd(
    target: str = typer.Argument(..., help="Set folder, or ORG/NAME[@revision] on the Hub."),
    image: str | None = typer.Option(
        None, help="Trace one image (its image_id); its shard is verified first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
    trusted_key: Path | None = TRUSTED,
    offline: bool = OFFLINE,
    cache_dir: Path | None = CACHE,
    endpoint: str | None = ENDPOINT,
) -> None:
    """Show what made a set or one image: sampler, model, manifest, source hashes."""
    from factory.package.dataset import read_rows
    from factory.package.lineage import image_chain, read_lineage, render_chain, set_chain
    from factory.package.verify import check_image

    path = _set_or_hub(target, endpoint, cache_dir, offline, _trusted(trusted_key))
    lineage = read_lineage(path)
    if image is None:
        chain = set_chain(lineage)
    else:
        rows = read_rows(path)
        match = rows[rows["image_id"] == image]
        if match.empty:
            raise FactoryError(f"{path}: no image {image!r} in this set")
        row = match.iloc[0].to_dict()
        check_image(path, lineage, row["shard"], image)
        chain = image_chain(lineage, row)
    typer.echo(json.dumps(chain, indent=2, default=str) if as_json else render_chain(chain))


def verify_cmd(
    set_dir: Path = typer.Argument(..., help="Packaged or pulled set folder."),
    trusted_key: Path | None = TRUSTED,
) -> None:
    """Check every claim of a set against its data, and its signature.

    Exit 0: consistent and the gate passed; 1: consistent, but the gate FAILED (not for
    publication); 2: a difference or a bad signature.
    """
    from factory.package.verify import check_set

    result = check_set(set_dir, _trusted(trusted_key))
    for d in result.differences:
        typer.echo(f"DIFFERS  {d}")
    typer.echo(f"signature: {result.signature.describe()}")
    if result.differences:
        raise FactoryError(f"{set_dir}: {len(result.differences)} difference(s) in its claims")
    if not result.signature.ok:
        raise FactoryError(f"{set_dir}: {result.signature.describe()}")
    typer.echo(f"{set_dir}: every shard, image, count and card claim matches lineage.json")
    if not result.gate_passed:
        raise GateFailed(f"{set_dir}: consistent, but lineage.json records {result.gate_verdict}")


def sign_key_new_cmd(
    out: Path = typer.Option(
        Path("~/.config/factory/signing-key.pem"),
        help="Private key file (kept outside git); the public key goes to <out>.pub.",
    ),
) -> None:
    """Make an Ed25519 key pair for signing published sets."""
    from factory.package.signing import (
        SIGNING_KEY_ENV,
        TRUSTED_KEY_ENV,
        key_id,
        load_public_key,
        new_key,
    )

    private, public = new_key(out)
    typer.echo(
        f"key {key_id(load_public_key(public))}: private {private} (mode 0600), public {public}"
    )
    typer.echo(
        f"publish with {SIGNING_KEY_ENV}={private}; give consumers {public} "
        f"({TRUSTED_KEY_ENV} or --trusted-key)"
    )


def register(app: typer.Typer) -> None:
    """Add package, publish, pull, lineage, verify and sign-key to the `factory` app."""
    app.command("package")(package_cmd)
    app.command("publish")(publish_cmd)
    app.command("pull")(pull_cmd)
    app.command("lineage")(lineage_cmd)
    app.command("verify")(verify_cmd)
    keys = typer.Typer(help="Ed25519 keys that sign published sets' lineage.json.")
    keys.command("new")(sign_key_new_cmd)
    app.add_typer(keys, name="sign-key")
