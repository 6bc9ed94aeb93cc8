"""Publish a packaged set to the Hugging Face Hub as a tagged version, and pull one back.

Publishing is one commit of every file followed by a tag named after the version; a tag
that exists is never moved or rewritten, so a failed or refused upload leaves the earlier
versions exactly as they were. The card uploaded is a copy re-rendered with the benchmark
verdict; the packaged folder (a DVC output) is never modified.
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
from factory.package.card import render_card
from factory.package.dataset import SPLIT, features
from factory.package.lineage import read_lineage
from factory.package.verify import verify_set
from factory.provenance import git_commit

REPO_TYPE = "dataset"
RETRIES = 4  # attempts per Hub call; waits between them double: 2 s, 4 s, 8 s
BACKOFF_SECONDS = 2.0
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")

T = TypeVar("T")


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


def with_results(
    acceptance: dict[str, Any] | None, results_path: str | Path | None
) -> dict[str, Any] | None:
    """Attach the benchmark's Markdown results table for the card, headings demoted a level
    or two so they nest under the card's own section."""
    if acceptance is None or acceptance.get("table") or results_path is None:
        return acceptance
    path = Path(results_path)
    if not path.exists():
        return acceptance
    lines = path.read_text(encoding="utf-8").splitlines()
    table = "\n".join("##" + line if line.startswith("#") else line for line in lines)
    return {**acceptance, "table": table}


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


def plan_files(set_dir: Path) -> list[tuple[str, int]]:
    files = sorted(p for p in set_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [(p.relative_to(set_dir).as_posix(), p.stat().st_size) for p in files]


def stage_upload(
    set_dir: Path, dest: Path, lineage: Mapping[str, Any], acceptance: Any, reason: str | None
) -> None:
    """Copy the set into `dest` with a card carrying the benchmark verdict."""
    for rel, _ in plan_files(set_dir):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(set_dir / rel, dest / rel)
    classes = tuple(lineage["set"]["classes"])
    card = render_card(lineage, features(classes), acceptance=acceptance, forced_reason=reason)
    (dest / "README.md").write_text(card, encoding="utf-8")


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
) -> PublishPlan:
    """Check everything, then upload the set as one commit and tag it with its version."""
    set_dir = Path(set_dir)
    check_repo_id(repo_id)
    lineage = read_lineage(set_dir)
    version = version or lineage["set"]["version"]
    if version != lineage["set"]["version"]:
        raise FactoryError(
            f"--version {version}: the set was packaged as {lineage['set']['version']}; set "
            "package.version in params.yaml and run `dvc repro package`"
        )
    diffs = verify_set(set_dir)
    if diffs:
        raise FactoryError(f"{set_dir}: {diffs[0]} ({len(diffs)} difference(s)); repackage it")
    if not lineage["gate"]["passed"]:
        raise GateFailed(f"{set_dir}: the gate did not pass; it cannot be published")
    acceptance = with_results(read_acceptance(acceptance_path), results_path)
    forced = check_acceptance(acceptance, str(acceptance_path), force, reason)
    check_clean(project_dir)
    plan = PublishPlan(repo_id, version, private, plan_files(set_dir), forced)
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
    _upload(set_dir, repo_id, hub, lineage, acceptance, plan, stale, git_commit(project_dir))
    return plan


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
    lineage: Any,
    acceptance: Any,
    plan: PublishPlan,
    stale: list[str],
    project_commit: str | None,
) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = hub.api()
    hub_call(
        hub,
        f"create {repo_id}",
        lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=plan.private, exist_ok=True),
    )
    with tempfile.TemporaryDirectory(prefix="factory-publish-") as tmp:
        stage_upload(set_dir, Path(tmp), lineage, acceptance, plan.forced_reason)

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


def download_set(
    repo_id: str,
    revision: str,
    hub: Hub,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> Path:
    """Download exactly `revision` (or find it in the local cache) and verify every shard."""
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
    diffs = verify_set(path)
    if diffs:
        raise FactoryError(f"{where}: {diffs[0]} ({len(diffs)} difference(s)); refusing the set")
    return Path(path)


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
