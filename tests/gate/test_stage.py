"""The gate end to end: stage script and CLI on tiny sets in the real on-disk layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from factory.cli import main

ROOT = Path(__file__).resolve().parents[2]


def write_params(path: Path, **gate) -> Path:
    base = {
        "extractor": "random_cnn",
        "frd": False,
        "kid_subsets": 10,
        "diversity_pairs": 20,
        "reference_subsets": 3,
        "bootstrap": 100,
        "detectability": ["features"],
        "min_reference_images": 6,
    }
    params = {"common": {"seed": 0, "image_size": 32}, "gate": {**base, **gate}}
    path.write_text(yaml.safe_dump(params))
    return path


def run_stage(samples: Path, manifest: Path, out: Path, params: Path):
    return subprocess.run(
        [
            sys.executable,
            "stages/gate.py",
            "--samples",
            str(samples),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--params",
            str(params),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_failing_gate_exits_nonzero_keeps_report_and_no_accepted_list(gate_dirs, tmp_path):
    samples, manifest = gate_dirs
    out = tmp_path / "gate"
    out.mkdir()
    (out / "accepted.parquet").write_bytes(b"stale list from an older passing run")
    params = write_params(tmp_path / "params.yaml", max_fid=0.0, min_recall=0.1)
    proc = run_stage(samples, manifest, out, params)
    assert proc.returncode == 1, proc.stderr
    assert "metric" in proc.stderr and "threshold" in proc.stderr
    fid_line = next(line for line in proc.stderr.splitlines() if line.startswith("fid "))
    assert "FAIL" in fid_line
    message = proc.stderr[proc.stderr.index("error: gate failed") :]  # after progress bars
    assert len(message.strip().splitlines()) < 25  # one screen
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["passed"] is False and metrics["mode"] == "stop"
    assert [c["gate"] for c in metrics["checks"] if not c["passed"]] == ["max_fid"]
    assert (out / "report" / "report.md").read_text().startswith("# Gate report: FAILED")
    for picture in (
        "grid_normal.png",
        "grid_abnormal.png",
        "closest_pairs.png",
        "memorization_distances.png",
        "detectability_extremes.png",
    ):
        assert (out / "report" / picture).stat().st_size > 1000
    assert not (out / "accepted.parquet").exists()
    assert (out / "config.json").exists()


@pytest.mark.slow
def test_cli_gate_passes_and_writes_the_accepted_list(gate_dirs, tmp_path, capsys):
    samples, manifest = gate_dirs
    out = tmp_path / "gate"
    params = write_params(tmp_path / "params.yaml", max_memorized_fraction=0.2)
    code = main(
        [
            "gate",
            "--samples",
            str(samples),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--params",
            str(params),
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["passed"] is True
    assert set(metrics["per_class"]) == {"normal", "abnormal"}
    for key in (
        "fid",
        "kid",
        "precision",
        "recall",
        "density",
        "coverage",
        "ms_ssim_gap",
        "memorized_fraction",
    ):
        assert metrics["overall"][key] is not None
    accepted = pd.read_parquet(out / "accepted.parquet")
    sample_rows = pd.read_parquet(samples / "metadata.parquet")
    assert {"nearest_real_ncc", "nearest_real_feature_distance", "memorized", "sanity"} <= set(
        accepted.columns
    )
    assert set(sample_rows.columns) <= set(accepted.columns)
    assert len(accepted) == metrics["counts"]["accepted"] > 0.8 * len(sample_rows)
    assert not accepted["memorized"].any()


def test_missing_samples_is_one_line_error(tmp_path, tiny_manifest, capsys):
    params = write_params(tmp_path / "params.yaml")
    code = main(
        [
            "gate",
            "--samples",
            str(tmp_path / "nothing"),
            "--manifest",
            str(tiny_manifest),
            "--out",
            str(tmp_path / "gate"),
            "--params",
            str(params),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "metadata.parquet" in err and "dvc repro sample" in err


def test_samples_for_other_classes_are_refused(gate_dirs, tmp_path, capsys):
    samples, manifest = gate_dirs
    df = pd.read_parquet(samples / "metadata.parquet")
    df["class_name"] = df["class_name"].replace({"abnormal": "malignant"})
    df.to_parquet(samples / "metadata.parquet", index=False)
    params = write_params(tmp_path / "params.yaml")
    code = main(
        [
            "gate",
            "--samples",
            str(samples),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "gate"),
            "--params",
            str(params),
        ]
    )
    assert code == 2
    assert "common.classes" in capsys.readouterr().err


def test_too_few_synthetic_images_names_the_metric(gate_dirs, tmp_path, capsys):
    samples, manifest = gate_dirs
    df = pd.read_parquet(samples / "metadata.parquet")
    df.groupby("label").head(3).to_parquet(samples / "metadata.parquet", index=False)
    params = write_params(tmp_path / "params.yaml")
    code = main(
        [
            "gate",
            "--samples",
            str(samples),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "gate"),
            "--params",
            str(params),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "PRDC (k=5) needs at least 6" in err and "synthetic" in err
