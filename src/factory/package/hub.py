"""Publish a packaged set to the Hugging Face Hub as a tagged version, and pull one back.

Publishing is one commit of every file followed by a tag named after the version; a tag
that exists is never moved or rewritten, so a failed or refused upload leaves the earlier
versions exactly as they were. What is uploaded is a copy: lineage.json gains a
`publication` section (the benchmark's verdict as acceptance.json wrote it, a --force
reason, the project commit), the card is re-rendered from that lineage, and, with a
signing key, `lineage.json.sig` signs it. The packaged folder (a DVC output) is never
modified. Pulling verifies every claim of the set (`factory.package.verify`) and its
signature, and refuses a set that fails either, or whose gate did not pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from factory.errors import FactoryError, GateFailed
from factory.io import atomic_dir, read_json
from factory.package.build import write_card_and_lineage
from factory.package.dataset import SPLIT, features
from factory.package.lineage import LINEAGE_FILE, read_lineage
from factory.package.signing import SIGNATURE_FILE, sign_file
from factory.package.verify import Verification, check_set, verify_set
from factory.provenance import git_commit

REPO_TYPE = "dataset"
RETRIES = 4  # attempts per Hub call; waits between them double: 2 s, 4 s, 8 s
BACKOFF_SECONDS = 2.0
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")

T = TypeVar("T")
# Files publish renders again for the upload (from the published lineage) or adds.
RENDERED_FILES = ("README.md", "croissant.json", LINEAGE_FILE, SIGNATURE_FILE)


@dataclass(frozen=True)
class Hub:
    """Where and as whom to talk to the Hub; the token is never printed or written."""

    endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    retries: int = RETRIES
    backoff: float = BACKOFF_SECONDS

    def api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    @property
    def where(self) -> str:
        return self.endpoint or "https://huggingface.co"


@dataclass(frozen=True)
class PublishPlan:
    repo_id: str
    version: str
    private: bool
    files: list[tuple[str, int]]
    forced_reason: str | None
    signed_by: str | None = None  # key id of the signing key, when one was given


@dataclass(frozen=True)
class Publication:
    """What publish adds to the uploaded lineage.json, beside the packaged facts."""

    acceptance: dict[str, Any] | None
    forced_reason: str | None = None
    results_table: str | None = None
    terms_override: dict[str, Any] | None = None


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id):
        raise FactoryError(f"repo {repo_id!r}: expected ORG/NAME (letters, digits, - _ .)")
    return repo_id


def _is_transient(exc: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, httpx2.TransportError):
        return True
    response = getattr(exc, "response", None)
    return (
        isinstance(exc, HfHubHTTPError) and getattr(response, "status_code", 0) in TRANSIENT_STATUS
    )


def hub_call(hub: Hub, what: str, fn: Callable[[], T]) -> T:
    """Run one Hub call, retrying transient failures (connection, timeout, 429, 5xx)."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    for attempt in range(1, hub.retries + 1):
        try:
            return fn()
        except (RepositoryNotFoundError, RevisionNotFoundError, LocalEntryNotFoundError):
            raise  # the caller says what is missing
        except Exception as exc:
            if not _is_transient(exc):
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status in (401, 403):
                    raise FactoryError(
                        f"{what}: the Hub at {hub.where} refused the token (HTTP {status}); "
                        "check HF_TOKEN or `hf auth login` and the repo's permissions"
                    ) from None
                if isinstance(exc, HfHubHTTPError):
                    raise FactoryError(f"{what}: the Hub answered {exc}".splitlines()[0]) from None
                raise
            if attempt == hub.retries:
                raise FactoryError(
                    f"{what}: cannot reach the Hub at {hub.where} after {hub.retries} attempts "
                    f"({type(exc).__name__}); check the network or HF_ENDPOINT"
                ) from None
            time.sleep(hub.backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def check_clean(project_dir: str | Path) -> None:
    """Refuse unless git has no uncommitted changes and DVC outputs match dvc.lock."""
    project_dir = Path(project_dir)
    git = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project_dir, capture_output=True, text=True
    )
    if git.returncode != 0:
        raise FactoryError(f"{project_dir}: not a git repository; publish from the project clone")
    if git.stdout.strip():
        first = git.stdout.strip().splitlines()[0]
        raise FactoryError(
            f"{project_dir}: the git tree is dirty ({first.strip()} ...); commit or discard "
            "changes so the published set maps to a commit"
        )
    dvc = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--quiet"],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    if dvc.returncode != 0:
        raise FactoryError(
            f"{project_dir}: `dvc status` reports changes; run `dvc repro` (and commit "
            "dvc.lock) so the set matches the pipeline"
        )


def read_acceptance(path: str | Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), bool):
        raise FactoryError(f"{path}: no boolean 'accepted'; re-run `dvc repro benchmark`")
    return data


def results_table(results_path: str | Path | None) -> str | None:
    """The benchmark's Markdown results, headings demoted to nest under the card's section."""
    if results_path is None or not Path(results_path).exists():
        return None
    lines = Path(results_path).read_text(encoding="utf-8").splitlines()
    return "\n".join("##" + line if line.startswith("#") else line for line in lines)


def check_acceptance(
    acceptance: Mapping[str, Any] | None, where: str, force: bool, reason: str | None
) -> str | None:
    """None when accepted; the override reason when forced; otherwise refuse."""
    if force and not (reason and reason.strip()):
        raise FactoryError('--force needs --reason "..." (it is written into the card)')
    if acceptance is not None and acceptance["accepted"]:
        return None
    problem = "is missing" if acceptance is None else "did not accept the set"
    if not force:
        raise GateFailed(
            f"{where}: the benchmark {problem}; run `dvc repro benchmark`, or publish with "
            '--force --reason "..."'
        )
    return reason.strip() if reason else None


def plan_files(set_dir: Path, skip: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    files = sorted(p for p in set_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    listed = [(p.relative_to(set_dir).as_posix(), p.stat().st_size) for p in files]
    return [(rel, size) for rel, size in listed if rel not in skip]


def published_lineage(
    lineage: Mapping[str, Any], publication: Publication, project_commit: str | None
) -> dict[str, Any]:
    """The packaged lineage plus its `publication` section (card_sha256 is set on writing)."""
    published = {k: v for k, v in lineage.items() if k not in ("card_sha256", "croissant_sha256")}
    published["publication"] = {
        "benchmark": publication.acceptance,
        "forced_reason": publication.forced_reason,
        "benchmark_table": publication.results_table,
        "terms_override": publication.terms_override,
        "project_commit": project_commit,
    }
    return published


def stage_upload(
    set_dir: Path,
    dest: Path,
    lineage: dict[str, Any],
    signing_key: Any = None,
) -> None:
    """Copy the set into `dest` with `lineage` (the published one), its card and signature."""
    for rel, _ in plan_files(set_dir):
        if rel in RENDERED_FILES:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(set_dir / rel, dest / rel)
    feats = features(tuple(lineage["set"]["classes"]))
    write_card_and_lineage(dest, lineage, feats, lineage["publication"]["benchmark"])
    if signing_key is not None:
        sign_file(dest / LINEAGE_FILE, signing_key)


def existing_tags(hub: Hub, repo_id: str) -> set[str] | None:
    """The repo's tags, or None when the repo does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    api = hub.api()
    try:
        refs = hub_call(
            hub, f"list tags of {repo_id}", lambda: api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        )
    except RepositoryNotFoundError:
        return None
    return {t.name for t in refs.tags}


def publish(
    set_dir: str | Path,
    repo_id: str,
    hub: Hub,
    *,
    version: str | None = None,
    acceptance_path: str | Path,
    results_path: str | Path | None = None,
    force: bool = False,
    reason: str | None = None,
    private: bool = True,
    dry_run: bool = False,
    project_dir: str | Path = ".",
    signing_key: Any = None,
    terms_override: Mapping[str, Any] | None = None,
) -> PublishPlan:
    """Check everything, then upload the set as one commit and tag it with its version.

    `signing_key`: an Ed25519 private key (`signing.load_private_key`) that signs the
    uploaded lineage.json; None publishes unsigned.
    """
    set_dir = Path(set_dir)
    check_repo_id(repo_id)
    lineage = check_publishable(set_dir, version)
    version = lineage["set"]["version"]
    acceptance = read_acceptance(acceptance_path)
    forced = check_acceptance(acceptance, str(acceptance_path), force, reason)
    from factory.package.licence import check_redistribution

    override = check_redistribution(
        lineage, private=private, terms_override=terms_override, where=str(set_dir)
    )
    check_clean(project_dir)
    publication = Publication(acceptance, forced, results_table(results_path), override)
    upload = published_lineage(lineage, publication, git_commit(project_dir))
    signer = _key_id(signing_key)
    files = [*plan_files(set_dir, skip=(SIGNATURE_FILE,))]
    if signer:
        files.append((SIGNATURE_FILE, 0))
    plan = PublishPlan(repo_id, version, private, files, forced, signer)
    if dry_run:
        return plan
    if not hub.token:
        raise FactoryError("no Hub token: set HF_TOKEN or run `hf auth login`")
    tags = existing_tags(hub, repo_id)
    if tags is not None and version in tags:
        raise FactoryError(
            f"{repo_id}: version {version} is already published; a version is never "
            "rewritten: bump package.version and repackage"
        )
    stale = stale_files(hub, repo_id, plan) if tags is not None else []
    _upload(set_dir, repo_id, hub, upload, plan, stale, signing_key)
    return plan


def _key_id(signing_key: Any) -> str | None:
    from factory.package.signing import key_id

    return key_id(signing_key.public_key()) if signing_key is not None else None


def check_publishable(set_dir: Path, version: str | None) -> dict[str, Any]:
    """The set's lineage, once it is intact, its version is the one asked for, and its
    gate passed (a record-mode failure is packaged but never published)."""
    lineage = read_lineage(set_dir)
    if version is not None and version != lineage["set"]["version"]:
        raise FactoryError(
            f"--version {version}: the set was packaged as {lineage['set']['version']}; set "
            "package.version in params.yaml and run `dvc repro package`"
        )
    diffs = verify_set(set_dir)
    if diffs:
        raise FactoryError(f"{set_dir}: {diffs[0]} ({len(diffs)} difference(s)); repackage it")
    if not lineage["gate"]["passed"]:
        raise GateFailed(
            f"{set_dir}: {lineage['gate']['verdict']} (the gate did not pass; it ran in "
            f"{lineage['gate'].get('mode')} mode); it cannot be published"
        )
    return lineage


def stale_files(hub: Hub, repo_id: str, plan: PublishPlan) -> list[str]:
    """Files on the repo's main branch that the new version does not have (e.g. old shards).

    They are deleted in the version's commit, so `data/train-*` matches only its own shards;
    earlier versions keep them under their tags.
    """
    api = hub.api()
    remote = hub_call(
        hub, f"list files of {repo_id}", lambda: api.list_repo_files(repo_id, repo_type=REPO_TYPE)
    )
    keep = {rel for rel, _ in plan.files} | {".gitattributes"}
    return sorted(set(remote) - keep)


def _upload(
    set_dir: Path,
    repo_id: str,
    hub: Hub,
    lineage: dict[str, Any],
    plan: PublishPlan,
    stale: list[str],
    signing_key: Any,
) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = hub.api()
    hub_call(
        hub,
        f"create {repo_id}",
        lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=plan.private, exist_ok=True),
    )
    project_commit = lineage["publication"]["project_commit"]
    with tempfile.TemporaryDirectory(prefix="factory-publish-") as tmp:
        stage_upload(set_dir, Path(tmp), lineage, signing_key)

        def commit() -> Any:
            ops: list[Any] = [
                CommitOperationAdd(rel, str(Path(tmp) / rel)) for rel, _ in plan_files(Path(tmp))
            ]
            ops += [CommitOperationDelete(rel) for rel in stale]
            return api.create_commit(
                repo_id,
                ops,
                commit_message=f"{lineage['set']['name']} {plan.version}",
                commit_description=f"Published by factory from project commit {project_commit}"
                f" (packaged at {lineage['package']['git_commit']}).",
                repo_type=REPO_TYPE,
            )

        info = hub_call(hub, f"upload {repo_id}", commit)
    hub_call(
        hub,
        f"tag {repo_id} {plan.version}",
        lambda: api.create_tag(
            repo_id,
            tag=plan.version,
            revision=info.oid,
            repo_type=REPO_TYPE,
            tag_message=f"{lineage['set']['name']} {plan.version}",
        ),
    )


def snapshot(
    repo_id: str,
    revision: str,
    hub: Hub,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> Path:
    """Download exactly `revision` (or find it in the local cache); nothing is checked."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    check_repo_id(repo_id)
    where = f"{repo_id}@{revision}"
    try:
        path = hub_call(
            hub,
            f"download {where}",
            lambda: snapshot_download(
                repo_id,
                repo_type=REPO_TYPE,
                revision=revision,
                endpoint=hub.endpoint,
                token=hub.token,
                cache_dir=cache_dir,
                local_files_only=offline,
            ),
        )
    except RevisionNotFoundError:
        raise FactoryError(
            f"{where}: no such revision on the Hub; list tags on the repo page"
        ) from None
    except RepositoryNotFoundError:
        raise FactoryError(
            f"{repo_id}: no such dataset repo (or no access with this token)"
        ) from None
    except LocalEntryNotFoundError:
        raise FactoryError(
            f"{where}: not in the local cache and the Hub cannot be reached; pull it once online"
        ) from None
    return Path(path)


def pull_set(
    repo_id: str, revision: str, hub: Hub, *, trusted: Any = None, **download: Any
) -> tuple[Path, Verification]:
    """Download `revision` (`download`: `snapshot`'s cache_dir, offline) and check every
    claim and the signature (against `trusted`, a public key, when given); refuse a set
    that differs, is badly signed or failed its gate."""
    where = f"{repo_id}@{revision}"
    path = snapshot(repo_id, revision, hub, **download)
    result = check_set(path, trusted)
    if result.differences:
        first, n = result.differences[0], len(result.differences)
        raise FactoryError(f"{where}: {first} ({n} difference(s)); refusing the set")
    if not result.signature.ok:
        raise FactoryError(f"{where}: {result.signature.describe()}; refusing the set")
    if not result.gate_passed:
        raise GateFailed(
            f"{where}: lineage.json records {result.gate_verdict!r}: a published set's gate "
            "must have passed; refusing the set"
        )
    return path, result


def download_set(repo_id: str, revision: str, hub: Hub, **options: Any) -> Path:
    """`pull_set`'s folder: a downloaded set whose every claim was checked (`options`:
    cache_dir, offline, trusted)."""
    return pull_set(repo_id, revision, hub, **options)[0]


def copy_set(src: Path, dest: str | Path) -> Path:
    """Copy a verified set into `dest` (atomically: all of it or none)."""
    with atomic_dir(dest) as tmp:
        for rel, _ in plan_files(src):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, tmp / rel)
    return Path(dest)


def load_set(path: str | Path, cache_dir: str | Path | None = None) -> Any:
    """The set's train split as a `datasets.Dataset`, read the way any consumer would."""
    import datasets

    return datasets.load_dataset(
        str(path), split=SPLIT, cache_dir=str(cache_dir) if cache_dir else None
    )
