"""Real DVC: the package stage under `dvc repro` after the real upstream stages, its lineage
of the locked upstream stages, and `dvc push` / delete / `dvc pull` of the set through a
local-folder remote."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from upstream import MAIN, dvc, run

from factory.io import read_json, sha256_tree

pytestmark = pytest.mark.slow
ARTIFACTS = """
import json
from dvc.repo import Repo
with Repo(".") as repo:
    (artifacts,) = repo.artifacts.read().values()
print(json.dumps({k: {"type": a.type, "path": a.path} for k, a in artifacts.items()}))
"""


def clone_with_this_code(upstream, dest: Path) -> Path:
    """A copy of the tiny project (outputs, dvc.lock, DVC cache) with this checkout's code
    and dvc.yaml in it (only the package stage is run again: `--single-item`)."""
    shutil.copytree(upstream.root, dest, symlinks=True)
    for folder in ("src", "stages"):
        shutil.rmtree(dest / folder)
        shutil.copytree(MAIN / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(MAIN / "dvc.yaml", dest / "dvc.yaml")
    return dest


def test_repro_records_locked_upstream_then_push_pull_restores(upstream, tmp_path):
    root = clone_with_this_code(upstream, tmp_path / "clone")
    dvc("repro", "-q", "--single-item", "package", cwd=root)

    name = yaml.safe_load((root / "params.yaml").read_text())["package"]["name"]
    set_dir = root / "datasets" / "synthetic" / name
    lineage = read_json(set_dir / "lineage.json")
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    # DVC had locked the upstream stages when package ran: their entries are the final ones.
    for stage in ("ingest", "train", "sample", "gate"):
        recorded = lineage["dvc_lock"]["stages"][stage]
        assert recorded["outs"] == [
            {k: o[k] for k in ("path", "hash", "md5", "size", "nfiles") if k in o}
            for o in lock[stage]["outs"]
        ]
    assert lineage["source"]["record"]["dataset"]["id"] == "factory-phantom"
    assert read_json(root / "outputs" / "package" / "config.json")["package"]["name"] == name
    assert "package" in lock

    # DVC's own reading of the artifacts entry (in a subprocess: DVC configures logging).
    listed = run([sys.executable, "-c", ARTIFACTS], root)
    assert json.loads(listed) == {name: {"type": "dataset", "path": f"datasets/synthetic/{name}"}}

    before = sha256_tree(set_dir)
    dvc("remote", "add", "-d", "local", str(tmp_path / "remote"), cwd=root)
    dvc("push", "-q", "package", cwd=root)
    shutil.rmtree(set_dir)
    shutil.rmtree(root / ".dvc" / "cache")
    dvc("pull", "-q", "package", cwd=root)
    assert sha256_tree(set_dir) == before
    assert "up to date" in dvc("status", "package", cwd=root).lower()
