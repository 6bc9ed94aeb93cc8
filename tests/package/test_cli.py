"""The `factory` commands over a packaged set: verify, lineage, publish/pull through the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from huggingface_hub import constants
from package_fakes import SECRET_SOURCE_FILE, make_project

from factory.cli import main
from factory.config import params_from_dict
from factory.manifest import read_manifest

REPO = "factory-org/phantom-demo"


def test_package_command(upstream, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("common:\n  classes: [normal, abnormal]\npackage:\n  name: cli-set\n")
    i = upstream.inputs
    args = ["package", "--gate", str(i.gate_dir), "--samples", str(i.samples_dir)]
    args += ["--train", str(i.train_dir), "--manifest", str(i.manifest)]
    args += ["--dvc-lock", str(i.dvc_lock), "--params", str(params)]
    args += ["--out", str(tmp_path / "cli-set")]
    assert main(args) == 0
    assert "packaged cli-set v0.1.0: 6 images" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "cli-set")]) == 0


def test_verify_intact_then_tampered(packaged, tmp_path, capsys):
    out, lineage = packaged
    assert main(["verify", str(out)]) == 0
    assert "matches lineage.json" in capsys.readouterr().out
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shard = copy / lineage["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0x01
    shard.write_bytes(bytes(data))
    (copy / "data" / "train-99999-of-00001.parquet").write_bytes(b"stray")
    assert main(["verify", str(copy)]) == 2
    captured = capsys.readouterr()
    assert "DIFFERS" in captured.out and "sha256" in captured.out
    assert "present but not in lineage.json" in captured.out
    assert "difference(s)" in captured.err


def test_lineage_of_one_image_as_json(packaged, upstream, capsys):
    out, _ = packaged
    image_id = "syn-normal-0000"
    assert main(["lineage", str(out), "--image", image_id, "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["image"]["image_id"] == image_id
    assert chain["sampler"]["seed"] == 1000 and chain["sampler"]["scheduler"] == "dpmsolver++"
    assert chain["sampler"]["params"] == {"sample": {"per_class": 3, "steps": 25}}
    assert chain["model"]["model_hash"] == "a" * 64 and chain["model"]["train_steps"] == 120
    assert chain["model"]["git_commit"] == "0123456789abcdef"
    for step, stage in (("sampler", "sample"), ("model", "train"), ("manifest", "ingest")):
        assert chain[step]["dvc_lock"]["outs"][0]["path"] == f"outputs/{stage}"
        assert chain[step]["dvc_lock"]["deps"][0]["md5"]
    assert chain["manifest"]["params"] == {"ingest": {"source": "inbreast", "workers": 2}}
    assert chain["manifest"]["sha256"] and chain["manifest"]["datasets"] == ["tiny"]
    assert set(chain["manifest"]["counts"]) == {"train", "val", "test"}
    real = read_manifest(upstream.inputs.manifest)
    train = real[real["split"] == "train"]
    assert chain["source_files"]["sha256"] == sorted(train["source_sha256"])
    text = json.dumps(chain)
    for value in [*real["patient_id"], *real["image_id"], *real["path"], SECRET_SOURCE_FILE]:
        assert value not in text


def test_lineage_text_and_errors(packaged, tmp_path, capsys):
    out, _ = packaged
    assert main(["lineage", str(out)]) == 0
    text = capsys.readouterr().out
    for link in ("<- sampler", "<- model", "<- training manifest", "source files"):
        assert link in text
    assert main(["lineage", str(out), "--image", "nope"]) == 2
    assert "no image 'nope'" in capsys.readouterr().err
    assert main(["lineage", str(tmp_path)]) == 2
    assert "not a packaged set" in capsys.readouterr().err


@pytest.mark.slow
def test_publish_pull_lineage_through_the_cli(hub, tmp_path, monkeypatch, capsys):
    params = params_from_dict({"common": {"classes": ["normal", "abnormal"], "image_size": 16}})
    root = tmp_path / "project"
    set_dir = make_project(root, params)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    acc = str(root / "outputs" / "benchmark" / "acceptance.json")
    results = str(root / "outputs" / "benchmark" / "report" / "results.md")
    base = ["publish", str(set_dir), "--repo", REPO, "--acceptance", acc, "--results", results]
    base += ["--project", str(root)]

    assert main([*base, "--dry-run"]) == 0
    assert "would publish" in capsys.readouterr().out and REPO not in hub.state.repos
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "no Hub token" in err
    monkeypatch.setenv("HF_TOKEN", hub.state.token)
    assert main(base) == 0
    assert hub.state.token not in capsys.readouterr().out  # never printed

    to = tmp_path / "pulled"
    assert main(["pull", REPO, "--revision", "v0.1.0", "--to", str(to)]) == 0
    assert "verified, 6 images" in capsys.readouterr().out
    assert main(["verify", str(to)]) == 0
    capsys.readouterr()
    assert main(["lineage", f"{REPO}@v0.1.0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["version"] == "v0.1.0"
    assert main(["pull", REPO, "--revision", "v0.1.0", "--offline"]) == 0
    assert main(["pull", REPO, "--revision", "v7.0.0"]) == 2
    assert "no such revision" in capsys.readouterr().err
