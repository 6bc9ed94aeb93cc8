"""Each protocol end to end on a tiny timm model (32 px, 1 epoch), in the real layouts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from factory.benchmark.config import BenchmarkConfig
from factory.benchmark.run import run_benchmark
from factory.cli import main as cli_main

TINY = {
    "backbones": ["test_resnet"],
    "pretrained": False,
    "image_sizes": [32],
    "synthetic_counts": [0, 4],
    "seeds": 2,
    "epochs": 1,
    "batch_size": 8,
    "bootstrap": 50,
    "acceptance": {"metric": "auc", "scenario": 4, "min_gain": 0.0},
    "gradcam_images": 2,
    "threads": 1,
}


def _read(out, name):
    return json.loads((out / name).read_text())


@pytest.mark.slow
def test_heldout_through_the_cli(tmp_path, tiny_inputs) -> None:
    dataset, manifest = tiny_inputs
    params = tmp_path / "params.yaml"
    common = {"seed": 0, "classes": ["normal", "abnormal"], "image_size": 32}
    params.write_text(yaml.safe_dump({"common": common, "benchmark": TINY}))
    out = tmp_path / "out"
    argv = ["benchmark", "--dataset", str(dataset), "--manifest", str(manifest)]
    assert cli_main([*argv, "--out", str(out), "--params", str(params)]) == 0

    verdict = _read(out, "acceptance.json")
    assert verdict["protocol"] == "heldout" and verdict["scenario"] == "real+4"
    assert isinstance(verdict["accepted"], bool) and verdict["metric"] == "auc"
    assert len(verdict["ci95"]) == 2 and verdict["min_gain"] == 0.0
    assert len(verdict["seeds"]) == 2
    assert [row["scenario"] for row in verdict["table"]] == ["real+0", "real+4", "synthetic-only"]
    metrics = _read(out, "metrics.json")
    results = metrics["results"]["test_resnet@32px"]
    assert set(results) == {"real+0", "real+4", "synthetic-only"}
    assert results["real+0"]["n_images"] == verdict["test_images"]
    assert set(metrics["differences"]["test_resnet@32px"]) == {"real+4", "synthetic-only"}
    predictions = pd.read_parquet(out / "report/predictions.parquet")
    assert set(predictions["origin"]) == {"real"}
    real = pd.read_parquet(manifest)
    test_ids = set(real.loc[real["split"] == "test", "image_id"])
    assert set(predictions["image_id"]) == test_ids
    assert len(predictions) == 3 * 2 * len(test_ids)  # scenarios x seeds x test images
    for kind, ext in (("roc", "csv"), ("curves", "csv"), ("confusion", "json")):
        assert (out / "plots" / kind / f"real_plus_4.{ext}").exists()
    for png in ("roc", "confusion", "comparison", "curves"):
        assert (out / "plots/images" / f"{png}.png").stat().st_size > 1000
    results_md = (out / "report/results.md").read_text()
    assert "| # | Real (train) | Synthetic |" in results_md
    # the rule in words and the numbers it was applied to, in acceptance.json and results.md
    assert verdict["rule"] == "superiority" and verdict["rule_text"] in results_md
    assert verdict["accepted"] is (verdict["reasons"] == [])
    assert all(e in results_md for e in verdict["evidence"] + verdict["reasons"])
    tstr = verdict["tstr"]
    assert tstr["required"] is True and isinstance(tstr["passed"], bool)
    assert tstr["auc"] == pytest.approx(results["synthetic-only"]["auc"]["mean"])
    assert tstr["ci95"][0] == pytest.approx(results["synthetic-only"]["auc"]["ci95_low"])
    assert metrics["headline"]["tstr_auc"] == pytest.approx(tstr["auc"])
    assert _read(out, "config.json")["benchmark"]["protocol"] == "heldout"
    gradcam = _read(out, "report/gradcam.json")
    assert len(list((out / "report/gradcam").glob("*.png"))) == len(gradcam["boxes"])


@pytest.mark.slow
def test_sutjiadi2025_is_labelled_and_never_accepted(tmp_path, tiny_inputs, common) -> None:
    dataset, manifest = tiny_inputs
    scenario = {"synthetic_counts": [0, 20], "acceptance": {"scenario": 20}}
    cfg = BenchmarkConfig(**(TINY | scenario | {"protocol": "sutjiadi2025", "seeds": 1}))
    out = tmp_path / "out"
    verdict = run_benchmark(cfg, common, dataset, manifest, out)
    assert verdict["accepted"] is False
    note = "includes synthetic images in the test set"
    assert note in verdict["notes"][0]
    assert note in (out / "report/results.md").read_text()
    assert note in json.dumps(_read(out, "metrics.json"))
    assert (out / "plots/roc/real_plus_20-includes-synthetic-in-test.csv").exists()
    predictions = pd.read_parquet(out / "report/predictions.parquet")
    assert "synthetic" in set(predictions.loc[predictions["scenario"] == "real+20", "origin"])


@pytest.mark.slow
def test_prodan2023_folds_backbones_and_sizes(tmp_path, tiny_inputs, common) -> None:
    dataset, manifest = tiny_inputs
    cfg = BenchmarkConfig(
        **(
            TINY
            | {
                "protocol": "prodan2023",
                "backbones": ["test_resnet", "test_efficientnet"],
                "image_sizes": [32, 40],
                "seeds": 1,
                "folds": 2,
                "oversample_positive": 5,
                "hflip": True,
                "class_weight": "none",
                "gradcam_images": 0,
            }
        )
    )
    out = tmp_path / "out"
    verdict = run_benchmark(cfg, common, dataset, manifest, out)
    assert verdict["accepted"] is False and verdict["protocol"] == "prodan2023"
    metrics = _read(out, "metrics.json")
    assert set(metrics["results"]) == {
        f"{b}@{s}px" for b in ("test_resnet", "test_efficientnet") for s in (32, 40)
    }
    predictions = pd.read_parquet(out / "report/predictions.parquet")
    one = predictions[
        (predictions["config"] == "test_resnet@32px") & (predictions["scenario"] == "real+0")
    ]
    assert len(one) == len(pd.read_parquet(manifest))  # out-of-fold: every real image once
    assert set(one["split"]) == {"fold-0", "fold-1"}
    assert "Shaped like Prodan et al., Table 2" in (out / "report/results.md").read_text()
