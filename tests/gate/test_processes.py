"""gate.processes 2: the stage script starts two CPU workers (gloo) that share out the
feature batches, radiomics, CNN folds and copy search, and rank 0 writes the metrics.json
and accepted list of one process (timings aside)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GATE = {
    "extractor": "random_cnn",
    "frd": True,  # radiomics through the cache, dealt out over the ranks
    "frd_workers": 1,
    "kid_subsets": 10,
    "diversity_pairs": 20,
    "reference_subsets": 3,
    "bootstrap": 100,
    "detectability": ["features", "cnn"],
    "min_reference_images": 6,
    "max_memorized_fraction": 0.2,
    "chunk_images": 16,  # several feature batches and copy-search chunks per rank
}
TIMINGS = {"seconds", "parts"}  # wall time and per-part time/memory differ between runs


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def run_gate(tmp_path: Path, samples: Path, manifest: Path, processes: int) -> tuple[Path, str]:
    """stages/gate.py as dvc runs it, under OMP_NUM_THREADS=1 also for one process (torchrun
    gives its workers one thread): only the number of ranks differs between the runs.

    This test found torchmetrics' FID/KID summing their states over the ranks (2% of a
    near-zero FID apart; fixed by sync_on_compute=False in factory.gate.metrics)."""
    params = tmp_path / f"params-{processes}.yaml"
    common = {"seed": 0, "image_size": 32}
    params.write_text(yaml.safe_dump({"common": common, "gate": GATE | {"processes": processes}}))
    out = tmp_path / f"gate-{processes}"
    args = ["--samples", str(samples), "--manifest", str(manifest), "--out", str(out)]
    args += ["--params", str(params)]
    cmd = [sys.executable, str(ROOT / "stages" / "gate.py"), *args]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_give_the_metrics_of_one(gate_dirs, tmp_path) -> None:
    samples, manifest = gate_dirs
    one, _ = run_gate(tmp_path, samples, manifest, 1)
    two, stdout = run_gate(tmp_path, samples, manifest, 2)
    assert stdout.count("gate passed") == 1, stdout  # rank 0 alone reports
    metrics = [json.loads((out / "metrics.json").read_text()) for out in (one, two)]
    assert metrics[0]["passed"] is True
    assert without_timings(metrics[1]) == without_timings(metrics[0])
    pd.testing.assert_frame_equal(
        pd.read_parquet(two / "accepted.parquet"), pd.read_parquet(one / "accepted.parquet")
    )
    assert json.loads((two / "config.json").read_text())["gate"]["processes"] == 2
