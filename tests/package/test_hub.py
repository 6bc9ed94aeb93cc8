"""publish / pull with the real huggingface_hub client against the local test Hub server.

The set is packaged from the real upstream outputs; the benchmark verdict is the real
`decide()`'s. Each publish runs `git status` and `dvc status` in a real clone, so these
take seconds. Every kind of tampering (tampering.py) done on the Hub is refused by pull.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import tampering
from hubserver import HubServer
from huggingface_hub import DatasetCard
from upstream import acceptance, dvc, gate_has_record_mode, git, make_project, package

from factory.errors import FactoryError, GateFailed
from factory.io import sha256_file
from factory.package.build import write_card_and_lineage
from factory.package.dataset import features
from factory.package.hub import Hub, download_set, load_set, publish, pull_set
from factory.package.signing import load_private_key, load_public_key, new_key, sign_file

REPO = "factory-org/phantom-demo"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory, upstream, params):
    root = tmp_path_factory.mktemp("project")
    return root, make_project(root, upstream, params)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    return new_key(base / "owner.pem"), new_key(base / "forger.pem")


def hub_for(server: HubServer, **kw) -> Hub:
    return Hub(endpoint=server.url, token=server.state.token, backoff=0.0, **kw)


def acceptance_file(project) -> Path:
    return project[0] / "outputs" / "benchmark" / "acceptance.json"


def do_publish(project, server, **kw):
    root, set_dir = project
    return publish(
        set_dir,
        REPO,
        hub_for(server),
        acceptance_path=acceptance_file(project),
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
        "croissant.json",
        *shard_paths(set_dir),
    }
    pulled, result = pull_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert result.signature.state == "unsigned"
    for rel in shard_paths(set_dir):
        assert (pulled / rel).read_bytes() == (set_dir / rel).read_bytes()
    published = json.loads((pulled / "lineage.json").read_text())
    verdict = json.loads(acceptance_file(project).read_text())
    assert published["publication"]["benchmark"] == verdict  # as the benchmark wrote it
    packaged = json.loads((set_dir / "lineage.json").read_text())
    assert {
        k: v
        for k, v in published.items()
        if k not in ("publication", "card_sha256", "croissant_sha256")
    } == {k: v for k, v in packaged.items() if k not in ("card_sha256", "croissant_sha256")}
    card = DatasetCard.load(pulled / "README.md")
    assert "**Benchmark verdict:** ACCEPTED" in card.text and verdict["rule_text"] in card.text
    assert "not run when the set was packaged" in (set_dir / "README.md").read_text()
    ds = load_set(pulled, cache_dir=tmp_path / "ds")
    assert len(ds) == packaged["set"]["rows"]
    assert ds.features["label"].names == ["normal", "abnormal"]

    hub.stop()  # the Hub goes away: the cached version still pulls, offline
    again = download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache", offline=True)
    shard = shard_paths(set_dir)[0]
    assert sha256_file(again / shard) == sha256_file(set_dir / shard)


def test_second_publish_of_a_version_is_refused(project, hub):
    do_publish(project, hub)
    tagged = hub.state.repos[REPO].tags["v0.1.0"]
    with pytest.raises(FactoryError, match="already published"):
        do_publish(project, hub)
    assert hub.state.repos[REPO].tags["v0.1.0"] == tagged
    assert sum(c.endswith("/commit/main") for c in hub.state.calls) == 1


@pytest.fixture(scope="module")
def published(project, keys):
    """One Hub for the module, holding the set published (signed by the owner) at v0.1.0."""
    (owner, _), _ = keys
    with HubServer() as server:
        do_publish(project, server, signing_key=load_private_key(owner))
        yield server


def hub_files(server: HubServer, rev: str = "v0.1.0") -> dict[str, bytes]:
    repo = server.state.repos[REPO]
    return dict(repo.commits[repo.resolve(rev)])


def retamper(server: HubServer, files: dict[str, bytes], rev: str = "v0.1.0") -> None:
    before = hub_files(server, rev)
    for name, data in files.items():
        if before.get(name) != data:
            server.state.tamper(REPO, rev, name, data)


@pytest.mark.parametrize(
    "tamper", tampering.TAMPERINGS, ids=[t.__name__ for t in tampering.TAMPERINGS]
)
def test_each_tampering_is_refused_by_pull(published, tamper, tmp_path):
    original = hub_files(published)
    files = dict(original)
    expected = tamper(files)
    retamper(published, files)
    try:
        with pytest.raises(FactoryError, match="refusing the set") as err:
            pull_set(REPO, "v0.1.0", hub_for(published), cache_dir=tmp_path / "cache")
        assert expected in str(err.value) or "difference(s)" in str(err.value)
    finally:
        retamper(published, original)


def test_signed_pull_and_a_resigned_forgery(published, keys, tmp_path):
    (_, owner_pub), (forger, _) = keys
    trusted = load_public_key(owner_pub)
    hub = hub_for(published)
    _, result = pull_set(REPO, "v0.1.0", hub, cache_dir=tmp_path / "a", trusted=trusted)
    assert result.signature.state == "signed" and result.signature.trusted

    original = hub_files(published)
    forged = tmp_path / "forged"
    for name, data in original.items():
        (forged / name).parent.mkdir(parents=True, exist_ok=True)
        (forged / name).write_bytes(data)
    lineage = json.loads((forged / "lineage.json").read_text())
    lineage["publication"]["benchmark"]["rule_text"] = "Accepted by the forger."
    write_card_and_lineage(
        forged,
        lineage,
        features(tuple(lineage["set"]["classes"])),
        lineage["publication"]["benchmark"],
    )
    sign_file(forged / "lineage.json", load_private_key(forger))
    retamper(published, tampering.read_folder(forged))
    try:
        _, loose = pull_set(REPO, "v0.1.0", hub, cache_dir=tmp_path / "b")
        assert loose.signature.state == "signed" and not loose.signature.trusted
        with pytest.raises(FactoryError, match="BAD SIGNATURE: signed by key"):
            pull_set(REPO, "v0.1.0", hub, cache_dir=tmp_path / "c", trusted=trusted)
        files = hub_files(published)
        lineage["package"]["git_dirty"] = not lineage["package"]["git_dirty"]
        files["lineage.json"] = (json.dumps(lineage, indent=2) + "\n").encode()
        retamper(published, files)  # an edit after signing: bad even without a trusted key
        with pytest.raises(FactoryError, match="changed after it was signed"):
            pull_set(REPO, "v0.1.0", hub, cache_dir=tmp_path / "d")
    finally:
        retamper(published, original)


def test_pull_cli_reports_the_signature(published, keys, tmp_path, monkeypatch, capsys):
    from factory.cli import main

    (_, owner_pub), _ = keys
    monkeypatch.setenv("HF_ENDPOINT", published.url)
    monkeypatch.setenv("HF_TOKEN", published.state.token)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    to = tmp_path / "pulled"
    args = ["pull", REPO, "--revision", "v0.1.0", "--to", str(to), "--trusted-key", str(owner_pub)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "signature: signed by the trusted key" in out
    assert main(["verify", str(to), "--trusted-key", str(owner_pub)]) == 0
    capsys.readouterr()
    assert main(["lineage", f"{REPO}@v0.1.0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["version"] == "v0.1.0"
    assert main(["pull", REPO, "--revision", "v7.0.0"]) == 2
    assert "no such revision" in capsys.readouterr().err


def test_no_token_and_wrong_token(project, hub):
    root, set_dir = project
    acc = acceptance_file(project)
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
    with pytest.raises(FactoryError, match=r"cannot reach the Hub .* after 2 attempts"):
        publish(set_dir, REPO, dead, acceptance_path=acceptance_file(project), project_dir=root)


def test_benchmark_verdict_blocks_unless_forced_with_reason(project, hub, tmp_path):
    root, set_dir = project
    rejected = tmp_path / "acceptance.json"
    verdict = acceptance(gain=0.003, ci95=(-0.03, 0.05), tstr=(0.5, 0.33, 0.67))
    rejected.write_text(json.dumps(verdict))
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
    card = hub_files(hub)["README.md"].decode()
    assert reason in card and "**Benchmark verdict:** REJECTED" in card
    for why in verdict["reasons"]:
        assert why in card


@pytest.mark.skipif(not gate_has_record_mode(), reason="the gate has no record mode")
def test_record_mode_failed_gate_is_refused_by_publish(project, hub, upstream, params, tmp_path):
    root, _ = project
    failed = tmp_path / "failed"
    package(upstream, params, failed, gate="outputs/gate-record")
    with pytest.raises(GateFailed, match="gate FAILED: not for publication"):
        publish(
            failed,
            REPO,
            hub_for(hub),
            acceptance_path=acceptance_file(project),
            project_dir=root,
            dry_run=True,
        )
    assert REPO not in hub.state.repos


def test_version_mismatch_refused(project, hub):
    root, set_dir = project
    with pytest.raises(FactoryError, match=r"packaged as v0\.1\.0"):
        publish(
            set_dir,
            REPO,
            hub_for(hub),
            version="v0.2.0",
            acceptance_path=acceptance_file(project),
            project_dir=root,
        )


def test_dirty_git_or_dvc_refused(project, hub):
    root, set_dir = project
    acc = acceptance_file(project)
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


def test_dry_run_lists_files_without_network(project, keys):
    (owner, _), _ = keys
    root, set_dir = project
    nowhere = Hub(endpoint="http://127.0.0.1:9", token=None, retries=1)
    plan = publish(
        set_dir,
        REPO,
        nowhere,
        acceptance_path=acceptance_file(project),
        project_dir=root,
        dry_run=True,
        signing_key=load_private_key(owner),
    )
    assert plan.version == "v0.1.0" and plan.private and plan.signed_by
    assert any(rel.startswith("data/train-") for rel, _ in plan.files)
    assert ("lineage.json.sig", 0) in plan.files


def test_new_version_replaces_old_shards_and_keeps_the_old_tag(
    project, hub, upstream, params, tmp_path
):
    root, set_dir = project
    do_publish(project, hub)  # v0.1.0: one shard
    v2 = tmp_path / "v2"
    rows = json.loads((set_dir / "lineage.json").read_text())["set"]["rows"]
    package(upstream, params, v2, version="v0.2.0", rows_per_shard=rows // 2 + 1)
    publish(v2, REPO, hub_for(hub), acceptance_path=acceptance_file(project), project_dir=root)
    repo = hub.state.repos[REPO]
    new = repo.commits[repo.tags["v0.2.0"]]
    old = repo.commits[repo.tags["v0.1.0"]]
    assert sorted(p for p in new if p.startswith("data/")) == shard_paths(v2)
    assert sorted(p for p in old if p.startswith("data/")) == shard_paths(set_dir)
    pulled = download_set(REPO, "v0.1.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert len(load_set(pulled, cache_dir=tmp_path / "ds")) == rows
    pulled2 = download_set(REPO, "v0.2.0", hub_for(hub), cache_dir=tmp_path / "cache")
    assert len(load_set(pulled2, cache_dir=tmp_path / "ds")) == rows
