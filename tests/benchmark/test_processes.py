"""benchmark.processes 2: the stage script deals the jobs out over two CPU workers (gloo)
and writes the same metrics.json, acceptance.json and Grad-CAM boxes as one process."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from factory.stagekit import run_stage as run_stagekit

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "backbones": ["test_resnet"],
    "pretrained": False,
    "image_sizes": [32],
    "synthetic_counts": [0, 4],
    "seeds": 1,  # 3 scenarios: 3 jobs, the main one and one more on rank 0
    "epochs": 1,
    "batch_size": 8,
    "bootstrap": 50,
    "acceptance": {"metric": "auc", "scenario": 4, "min_gain": 0.0},
    "gradcam_images": 2,
    "threads": 1,  # the same torch thread count in both runs (torchrun's workers have 1)
}


def run_stage(tmp_path: Path, dataset: Path, manifest: Path, processes: int) -> Path:
    """stages/benchmark.py as dvc runs it; one process in this one (no torch import)."""
    params = tmp_path / f"params-{processes}.yaml"
    common = {"seed": 0, "classes": ["normal", "abnormal"], "image_size": 32}
    benchmark = TINY | {"processes": processes}
    params.write_text(yaml.safe_dump({"common": common, "benchmark": benchmark}))
    out = tmp_path / f"out-{processes}"
    args = ["--dataset", str(dataset), "--manifest", str(manifest), "--out", str(out)]
    args += ["--params", str(params)]
    if processes == 1:
        stage = runpy.run_path(str(ROOT / "stages" / "benchmark.py"), run_name="stage")
        run_stagekit(stage["STAGE"], args)
        return out
    cmd = [sys.executable, str(ROOT / "stages" / "benchmark.py"), *args]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("benchmark ")]
    assert len(lines) == 1 and lines[0].endswith(f"(jobs over {processes} processes)"), lines
    return out


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_give_the_results_of_one(tmp_path, tiny_inputs) -> None:
    dataset, manifest = tiny_inputs
    one, two = (run_stage(tmp_path, dataset, manifest, n) for n in (1, 2))
    for name in ("metrics.json", "acceptance.json", "report/gradcam.json"):
        assert json.loads((two / name).read_text()) == json.loads((one / name).read_text()), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(two / "report/predictions.parquet"),
        pd.read_parquet(one / "report/predictions.parquet"),
    )
    config = json.loads((two / "config.json").read_text())
    assert config["benchmark"]["processes"] == 2
