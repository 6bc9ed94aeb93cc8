"""The `factory` commands over a packaged set: package, lineage and their errors."""

from __future__ import annotations

import json

from factory.cli import main
from factory.manifest import read_manifest
from factory.package.dataset import read_rows


def test_package_command(upstream, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(
        upstream.params_file.read_text().replace("name: phantom-demo", "name: cli-set")
    )
    i = upstream.inputs()
    args = ["package", "--gate", str(i.gate_dir), "--samples", str(i.samples_dir)]
    args += ["--train", str(i.train_dir), "--manifest", str(i.manifest)]
    args += ["--dvc-lock", str(i.dvc_lock), "--params", str(params)]
    args += ["--out", str(tmp_path / "cli-set"), "--report", str(tmp_path / "report")]
    assert main(args) == 0
    assert "packaged cli-set v0.1.0:" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "cli-set")]) == 0
    recorded = json.loads((tmp_path / "report" / "config.json").read_text())
    assert recorded["package"]["name"] == "cli-set"


def test_lineage_of_one_image_as_json(packaged, upstream, capsys):
    out, lineage = packaged
    row = read_rows(out).iloc[0]
    assert main(["lineage", str(out), "--image", row["image_id"], "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["image"]["image_id"] == row["image_id"]
    assert chain["sampler"]["seed"] == row["seed"]
    assert chain["sampler"]["scheduler"] == row["scheduler"]
    inputs = upstream.inputs()
    assert chain["sampler"]["params"] == json.loads(
        (inputs.samples_dir / "config.json").read_text()
    )
    assert chain["model"]["model_hash"] == row["model_hash"] == lineage["model"]["model_hash"]
    for step, stage in (("sampler", "sample"), ("model", "train"), ("manifest", "ingest")):
        paths = [o["path"] for o in chain[step]["dvc_lock"]["outs"]]
        assert any(p.startswith(f"outputs/{stage}") for p in paths), paths
        assert chain[step]["dvc_lock"]["deps"][0]["md5"]
    assert chain["manifest"]["source"] == "embedded phantom (synthetic, INbreast layout)"
    assert chain["manifest"]["adapters"] == ["inbreast"]
    assert set(chain["manifest"]["counts"]) == {"train", "val", "test"}
    real = read_manifest(inputs.manifest)
    train = real[real["split"] == "train"]
    assert chain["source_files"]["sha256"] == sorted(train["source_sha256"])
    text = json.dumps(chain)
    for value in [*real["patient_id"], *real["image_id"], *real["path"]]:
        assert value not in text


def test_lineage_text_and_errors(packaged, tmp_path, capsys):
    out, _ = packaged
    assert main(["lineage", str(out)]) == 0
    text = capsys.readouterr().out
    for link in ("gate: passed", "<- sampler", "<- model", "<- training manifest", "source files"):
        assert link in text
    assert "source: embedded phantom (synthetic, INbreast layout)" in text
    assert main(["lineage", str(out), "--image", "nope"]) == 2
    assert "no image 'nope'" in capsys.readouterr().err
    assert main(["lineage", str(tmp_path)]) == 2
    assert "not a packaged set" in capsys.readouterr().err


def test_publish_flags_that_go_together(packaged, capsys):
    out, _ = packaged
    args = ["publish", str(out), "--repo", "o/n", "--dry-run", "--terms-override-by", "me"]
    assert main(args) == 2
    assert "--terms-override-reason" in capsys.readouterr().err


def test_every_package_command_has_help(capsys):
    for command in (
        ["package"],
        ["publish"],
        ["pull"],
        ["lineage"],
        ["verify"],
        ["sign-key", "new"],
    ):
        assert main([*command, "--help"]) == 0
        assert "Usage" in capsys.readouterr().out
