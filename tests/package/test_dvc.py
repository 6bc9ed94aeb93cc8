"""Real DVC: the package stage under `dvc repro`, its lineage of locked upstream stages, and
`dvc push` / delete / `dvc pull` of the set through a local-folder remote."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from package_fakes import dvc, git

from factory.io import read_json, sha256_tree

MAIN = Path(__file__).parents[2]
pytestmark = pytest.mark.slow

UPSTREAM_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from package_fakes import make_tiny_manifest, make_upstream
root = Path(".")
make_upstream(root, make_tiny_manifest(root / "outputs" / "ingest"), write_lock=False)
"""


def write_pipeline(root: Path) -> None:
    py = sys.executable
    (root / "upstream.py").write_text(UPSTREAM_SCRIPT.format(tests=str(Path(__file__).parent)))
    (root / "params.yaml").write_text(
        "common:\n  classes: [normal, abnormal]\n  image_size: 16\n"
        "package:\n  name: tiny-set\n  version: v1.2.3\n"
    )
    dvc_yaml = textwrap.dedent(
        f"""
        stages:
          gate:
            cmd: {py} upstream.py
            deps: [upstream.py]
            outs: [outputs/ingest, outputs/train, outputs/sample, outputs/gate]
          package:
            cmd: >-
              {py} {MAIN}/stages/package.py --gate outputs/gate --samples outputs/sample
              --train outputs/train --manifest outputs/ingest/manifest.parquet
              --dvc-lock dvc.lock --out datasets/synthetic/${{package.name}}
              --report outputs/package
            deps: [outputs/gate, outputs/sample, outputs/train, outputs/ingest]
            params: [common, package]
            outs:
              - datasets/synthetic/${{package.name}}
              - outputs/package/config.json
        artifacts:
          ${{package.name}}:
            path: datasets/synthetic/${{package.name}}
            type: dataset
            desc: synthetic test set
        """
    )
    (root / "dvc.yaml").write_text(dvc_yaml)


def test_repro_records_locked_upstream_then_push_pull_restores(tmp_path):
    root = tmp_path / "clone"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    dvc("init", "-q", cwd=root)
    write_pipeline(root)
    dvc("repro", "-q", cwd=root)

    set_dir = root / "datasets" / "synthetic" / "tiny-set"
    lineage = read_json(set_dir / "lineage.json")
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    # DVC had locked the upstream stage when package ran: its entry is the final one.
    recorded = lineage["dvc_lock"]["stages"]["gate"]
    assert recorded["outs"] == [
        {k: o[k] for k in ("path", "hash", "md5", "size", "nfiles") if k in o}
        for o in lock["gate"]["outs"]
    ]
    assert lineage["set"]["version"] == "v1.2.3" and lineage["set"]["rows"] == 6
    assert read_json(root / "outputs" / "package" / "config.json")["package"]["name"] == "tiny-set"
    assert "package" in lock

    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        (artifacts,) = repo.artifacts.read().values()
    assert artifacts["tiny-set"].type == "dataset"
    assert artifacts["tiny-set"].path == "datasets/synthetic/tiny-set"

    before = sha256_tree(set_dir)
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "local", str(remote), cwd=root)
    dvc("push", "-q", cwd=root)
    shutil.rmtree(set_dir)
    shutil.rmtree(root / ".dvc" / "cache")
    dvc("pull", "-q", "package", cwd=root)
    assert sha256_tree(set_dir) == before
    assert "up to date" in dvc("status", "package", cwd=root).lower()
