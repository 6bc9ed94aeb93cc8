"""publish / pull with the real huggingface_hub client against the local test Hub server.

Each publish runs `git status` and `dvc status` in a real clone, so these take seconds.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from hubserver import HubServer
from huggingface_hub import DatasetCard
from package_fakes import dvc, git, make_project

from factory.config import params_from_dict
from factory.errors import FactoryError, GateFailed
from factory.io import sha256_file
from factory.package.build import Inputs, package_set
from factory.package.hub import Hub, download_set, load_set, publish

REPO = "factory-org/phantom-demo"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    params = params_from_dict({"common": {"classes": ["normal", "abnormal"], "image_size": 16}})
    root = tmp_path_factory.mktemp("project")
    return root, make_project(root, params)


def hub_for(server: HubServer, **kw) -> Hub:
    return Hub(endpoint=server.url, token=server.state.token, backoff=0.0, **kw)


def do_publish(project, server, **kw):
    root, set_dir = project
    return publish(
        set_dir,
        REPO,
        hub_for(server),
        acceptance_path=root / "outputs" / "benchmark" / "acceptance.json",
        results_path=root / "outputs" / "benchmark" / "report" / "results.md",
        project_dir=root,
        **kw,
    )


def shard_paths(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*.parquet"))


def test_publish_then_pull_by_tag_is_byte_identical(project, hub, tmp_path):
    _, set_dir = project
    plan = do_publish(project, hub)
    repo = hub.state.repos[REPO]
    assert repo.private and set(repo.tags) == {"v0.1.0"}
    assert sum(c.endswith("/commit/main") for c in hub.state.calls) == 1  # one commit
    assert {rel for rel, _ in plan.files} == {
        "README.md",
        "lineage.json",
        *shard_paths(set_dir),
    }

    pulled = download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert shard_paths(pulled) == shard_paths(set_dir)
    for rel in shard_paths(set_dir):
        assert (pulled / rel).read_bytes() == (set_dir / rel).read_bytes()
    assert (pulled / "lineage.json").read_bytes() == (set_dir / "lineage.json").read_bytes()
    card = DatasetCard.load(pulled / "README.md")
    assert "Verdict: **accepted**" in card.text and "| real+500 | 0.83 | 0.78 |" in card.text
    assert "### Benchmark results" in card.text and "- reason: paired gain" in card.text
    assert "Pending" in (set_dir / "README.md").read_text()  # the DVC output is untouched
    ds = load_set(pulled, cache_dir=tmp_path / "ds")
    assert len(ds) == 6 and ds.features["label"].names == ["normal", "abnormal"]

    hub.stop()  # the Hub goes away: the cached version still pulls, offline
    again = download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache", offline=True)
    assert sha256_file(again / shard_paths(set_dir)[0]) == sha256_file(
        set_dir / shard_paths(set_dir)[0]
    )


def test_second_publish_of_a_version_is_refused(project, hub):
    do_publish(project, hub)
    tagged = hub.state.repos[REPO].tags["v0.1.0"]
    with pytest.raises(FactoryError, match="already published"):
        do_publish(project, hub)
    assert hub.state.repos[REPO].tags["v0.1.0"] == tagged
    assert sum(c.endswith("/commit/main") for c in hub.state.calls) == 1


def test_tampered_shard_is_refused_by_pull(project, hub, tmp_path):
    _, set_dir = project
    do_publish(project, hub)
    shard = shard_paths(set_dir)[0]
    data = bytearray((set_dir / shard).read_bytes())
    data[len(data) // 2] ^= 0xFF
    hub.state.tamper(REPO, "v0.1.0", shard, bytes(data))
    with pytest.raises(FactoryError, match=r"sha256 .* refusing"):
        download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache")


def test_missing_revision_is_a_clear_error(project, hub, tmp_path):
    do_publish(project, hub)
    with pytest.raises(FactoryError, match="no such revision"):
        download_set(REPO, "v9.9.9", hub_for(hub), cache_dir=tmp_path / "cache")


def test_no_token_and_wrong_token(project, hub):
    root, set_dir = project
    acc = root / "outputs" / "benchmark" / "acceptance.json"
    no_token = Hub(endpoint=hub.url, token=None)
    with pytest.raises(FactoryError, match="no Hub token"):
        publish(set_dir, REPO, no_token, acceptance_path=acc, project_dir=root)
    wrong = Hub(endpoint=hub.url, token="wrong", backoff=0.0)
    with pytest.raises(FactoryError, match="refused the token"):
        publish(set_dir, REPO, wrong, acceptance_path=acc, project_dir=root)
    assert REPO not in hub.state.repos


def test_unreachable_hub_after_retries(project):
    root, set_dir = project
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = Hub(endpoint=f"http://127.0.0.1:{port}", token="t", retries=2, backoff=0.0)
    acc = root / "outputs" / "benchmark" / "acceptance.json"
    with pytest.raises(FactoryError, match=r"cannot reach the Hub .* after 2 attempts"):
        publish(set_dir, REPO, dead, acceptance_path=acc, project_dir=root)


def test_benchmark_verdict_blocks_unless_forced_with_reason(project, hub, tmp_path):
    root, set_dir = project
    rejected = tmp_path / "acceptance.json"
    rejected.write_text(json.dumps({"accepted": False, "metric": "roc_auc", "gain": -0.02}))
    kw = {"project_dir": root}
    with pytest.raises(GateFailed, match="did not accept"):
        publish(set_dir, REPO, hub_for(hub), acceptance_path=rejected, **kw)
    with pytest.raises(GateFailed, match="is missing"):
        publish(set_dir, REPO, hub_for(hub), acceptance_path=tmp_path / "none.json", **kw)
    with pytest.raises(FactoryError, match="--reason"):
        publish(set_dir, REPO, hub_for(hub), acceptance_path=rejected, force=True, **kw)
    assert REPO not in hub.state.repos
    reason = "demo set for the tutorial, not for training"
    publish(set_dir, REPO, hub_for(hub), acceptance_path=rejected, force=True, reason=reason, **kw)
    card = hub.state.repos[REPO].commits[hub.state.repos[REPO].tags["v0.1.0"]]["README.md"]
    assert reason in card.decode() and "not accepted" in card.decode()


def test_failed_gate_and_version_mismatch_refused(project, hub, tmp_path):
    root, set_dir = project
    acc = root / "outputs" / "benchmark" / "acceptance.json"
    with pytest.raises(FactoryError, match=r"packaged as v0\.1\.0"):
        publish(
            set_dir, REPO, hub_for(hub), version="v0.2.0", acceptance_path=acc, project_dir=root
        )
    failed = tmp_path / "failed"
    shutil.copytree(set_dir, failed)
    lineage = json.loads((failed / "lineage.json").read_text())
    lineage["gate"]["passed"] = False
    (failed / "lineage.json").write_text(json.dumps(lineage))
    with pytest.raises(GateFailed, match="gate did not pass"):
        publish(failed, REPO, hub_for(hub), acceptance_path=acc, project_dir=root)
    assert REPO not in hub.state.repos


def test_dirty_git_or_dvc_refused(project, hub):
    root, set_dir = project
    acc = root / "outputs" / "benchmark" / "acceptance.json"
    stray = root / "notes.txt"
    stray.write_text("uncommitted")
    try:
        with pytest.raises(FactoryError, match="git tree is dirty"):
            publish(set_dir, REPO, hub_for(hub), acceptance_path=acc, project_dir=root)
    finally:
        stray.unlink()
    tracked = root / "extra.txt"
    tracked.write_text("v1")
    dvc("add", "-q", "extra.txt", cwd=root)
    git("add", "extra.txt.dvc", ".gitignore", cwd=root)
    git("commit", "-q", "-m", "extra", cwd=root)
    tracked.write_text("v2")  # git sees nothing (ignored), DVC sees a change
    with pytest.raises(FactoryError, match="dvc status"):
        publish(set_dir, REPO, hub_for(hub), acceptance_path=acc, project_dir=root)
    tracked.write_text("v1")
    assert REPO not in hub.state.repos


def test_dry_run_lists_files_without_network(project):
    root, set_dir = project
    nowhere = Hub(endpoint="http://127.0.0.1:9", token=None, retries=1)
    plan = publish(
        set_dir,
        REPO,
        nowhere,
        acceptance_path=root / "outputs" / "benchmark" / "acceptance.json",
        project_dir=root,
        dry_run=True,
    )
    assert plan.version == "v0.1.0" and plan.private
    assert any(rel.startswith("data/train-") for rel, _ in plan.files)


def test_new_version_replaces_old_shards_and_keeps_the_old_tag(project, hub, tmp_path):
    root, set_dir = project
    do_publish(project, hub)  # v0.1.0: one shard
    params = params_from_dict(
        {
            "common": {"classes": ["normal", "abnormal"], "image_size": 16},
            "package": {"version": "v0.2.0", "rows_per_shard": 4},
        }
    )
    out = root / "outputs"
    inputs = Inputs(
        out / "gate",
        out / "sample",
        out / "train",
        out / "ingest" / "manifest.parquet",
        root / "dvc.lock",
    )
    v2 = tmp_path / "v2"
    package_set(params.package, params.common.classes, inputs, v2, params.resolved("package"))
    publish(
        v2,
        REPO,
        hub_for(hub),
        acceptance_path=out / "benchmark" / "acceptance.json",
        project_dir=root,
    )
    repo = hub.state.repos[REPO]
    new = repo.commits[repo.tags["v0.2.0"]]
    old = repo.commits[repo.tags["v0.1.0"]]
    assert sorted(p for p in new if p.startswith("data/")) == shard_paths(v2)
    assert sorted(p for p in old if p.startswith("data/")) == shard_paths(set_dir)
    pulled = download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert len(load_set(pulled, cache_dir=tmp_path / "ds")) == 6
    pulled2 = download_set(REPO, "v0.2.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert len(load_set(pulled2, cache_dir=tmp_path / "ds")) == 6
