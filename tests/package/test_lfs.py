"""The Hub's large-file path: `factory publish` of a multi-shard set uploads the shards the
LFS way (batch, PUT or multipart, verify, lfsFile commit), as the real client does against
the real Hub; pull verifies them; a consumer reads a tag with `datasets` alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hubserver import HubServer
from upstream import make_project

from factory.errors import FactoryError
from factory.io import sha256_file
from factory.package.hub import Hub, download_set, publish
from factory.package.lineage import read_lineage

REPO = "factory-org/phantom-demo"
ROWS_PER_SHARD = 4
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory, upstream, params):
    """A clean project clone whose packaged set (the real upstream's) has several shards."""
    root = tmp_path_factory.mktemp("lfs-project")
    return root, make_project(root, upstream, params, rows_per_shard=ROWS_PER_SHARD)


def do_publish(project, server: HubServer) -> None:
    root, set_dir = project
    publish(
        set_dir,
        REPO,
        Hub(endpoint=server.url, token=server.state.token, backoff=0.0),
        acceptance_path=root / "outputs" / "benchmark" / "acceptance.json",
        project_dir=root,
    )


def shards(set_dir: Path) -> dict[str, str]:
    return {s["path"]: s["sha256"] for s in read_lineage(set_dir)["shards"]}


@pytest.mark.parametrize("chunk", [None, 2048], ids=["basic", "multipart"])
def test_shards_go_the_lfs_way_and_pull_back_identical(project, tmp_path, chunk):
    _, set_dir = project
    recorded = shards(set_dir)
    rows = read_lineage(set_dir)["set"]["rows"]
    assert len(recorded) == -(-rows // ROWS_PER_SHARD) >= 2
    with HubServer(lfs_chunk_size=chunk) as hub:
        do_publish(project, hub)
        # every shard is an LFS file at the tag, its oid the sha256 lineage.json records;
        # the card and lineage.json (text) went the regular way
        assert hub.state.lfs_paths(REPO, "v0.1.0") == recorded
        how = "multipart" if chunk else "basic"
        assert sorted(hub.state.lfs_uploads) == sorted((oid, how) for oid in recorded.values())
        assert any("/info/lfs/objects/batch" in c for c in hub.state.calls)
        assert any("/info/lfs/objects/verify" in c for c in hub.state.calls)
        assert all(sha256_file(set_dir / p) == oid for p, oid in recorded.items())
        pulled = download_set(
            REPO,
            "v0.1.0",
            Hub(endpoint=hub.url, token=hub.state.token),
            cache_dir=tmp_path / "cache",
        )
        for rel in recorded:
            assert (pulled / rel).read_bytes() == (set_dir / rel).read_bytes()
        # the bytes came from the storage origin, after the Hub's redirect
        assert sum(c.startswith("GET /lfs-objects/") for c in hub.state.calls) == len(recorded)


def test_tampered_lfs_object_is_refused_by_pull(project, tmp_path):
    _, set_dir = project
    with HubServer() as hub:
        do_publish(project, hub)
        shard = sorted(shards(set_dir))[1]
        data = bytearray((set_dir / shard).read_bytes())
        data[len(data) // 2] ^= 0xFF
        hub.state.tamper(REPO, "v0.1.0", shard, bytes(data))
        with pytest.raises(FactoryError, match=r"sha256 .* refusing"):
            download_set(
                REPO,
                "v0.1.0",
                Hub(endpoint=hub.url, token=hub.state.token),
                cache_dir=tmp_path / "cache",
            )


def test_server_refuses_an_lfs_object_whose_bytes_differ_from_its_oid():
    """The test server is strict where the Hub is: a lying upload fails (so it can fail)."""
    import urllib.error
    import urllib.request

    with HubServer() as hub:
        url = f"{hub.state.storage_url}/lfs-upload/{'0' * 64}"
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(urllib.request.Request(url, data=b"abc", method="PUT"))
        assert bad.value.code == 400 and "sha256" in bad.value.headers["X-Error-Message"]
        assert hub.state.lfs_objects == {}


CONSUMER = textwrap.dedent(
    """
    import json, sys
    import datasets
    ds = datasets.load_dataset(sys.argv[1], revision=sys.argv[2], split="train")
    print(json.dumps({
        "rows": len(ds),
        "labels": ds.features["label"].names,
        "modes": sorted({im.mode for im in ds["image"]}),
        "ids": list(ds["image_id"]),
        "factory_imported": any(m == "factory" or m.startswith("factory.") for m in sys.modules),
    }))
    """
)


def consumer_env(hub: HubServer, home: Path) -> dict[str, str]:
    """Only what a consumer sets: the endpoint, a token, caches (no factory, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON"))}
    return {
        **env,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": hub.state.token,
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


def test_plain_load_dataset_by_revision(project, tmp_path):
    """README recipe 1: `datasets.load_dataset("<org>/<name>", revision="<tag>")`."""
    _, set_dir = project
    lineage = read_lineage(set_dir)
    with HubServer() as hub:
        do_publish(project, hub)
        run = subprocess.run(
            [sys.executable, "-c", CONSUMER, REPO, "v0.1.0"],
            capture_output=True,
            text=True,
            env=consumer_env(hub, tmp_path / "hf"),
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert got["rows"] == lineage["set"]["rows"]
        assert got["labels"] == lineage["set"]["classes"]
        assert got["modes"] == ["I;16"]
        assert got["ids"] == sorted(got["ids"]) and len(set(got["ids"])) == got["rows"]
        assert got["factory_imported"] is False
        missing = subprocess.run(
            [sys.executable, "-c", CONSUMER, REPO, "v9.9.9"],
            capture_output=True,
            text=True,
            env=consumer_env(hub, tmp_path / "hf2"),
            cwd=tmp_path,
        )
        assert missing.returncode != 0 and "v9.9.9" in missing.stderr
