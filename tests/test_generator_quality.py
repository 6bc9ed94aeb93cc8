"""Pure parts of benchmarks/generator_quality.py on tiny arrays: each metric fails a
known-bad set and passes a known-good one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "generator_quality.py"


@pytest.fixture(scope="module")
def gq():
    spec = importlib.util.spec_from_file_location("generator_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["generator_quality"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _blobs(rng: np.random.Generator, n: int, size: int = 16) -> np.ndarray:
    """Smooth random images in [0, 1] (sums of a few Gaussian blobs)."""
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size), np.float32)
    for i in range(n):
        for _ in range(3):
            cy, cx, s = rng.uniform(2, size - 2), rng.uniform(2, size - 2), rng.uniform(2, 4)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return np.clip(out / 2, 0, 1)


def test_detectability_separates_shifted_sets_not_equal_ones(gq) -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 8))
    same = gq.detectability(real, rng.normal(size=(60, 8)), seed=0)
    shifted = gq.detectability(real, rng.normal(size=(60, 8)) + 1.5, seed=0)
    assert same["ci95"][0] < 0.5 + 0.15 and same["auc"] < 0.7
    assert shifted["auc"] > 0.9 and shifted["ci95"][0] > 0.8


def test_memorized_flags_training_copies_not_new_images(gq) -> None:
    rng = np.random.default_rng(1)
    splits = {
        name: gq.RealSplit(_blobs(rng, n), np.arange(n) % 2, np.arange(n).astype(str))
        for name, n in (("train", 30), ("val", 20))
    }
    copies = gq.memorized(splits["train"].images[:10] * 0.9 + 0.05, splits)
    assert copies["fraction"] == 1.0 and copies["ci95"][0] > 0.6
    new = gq.memorized(_blobs(rng, 20), splits)
    assert new["fraction"] <= 0.1


def test_patient_auc_has_an_interval_around_it(gq) -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    patients = np.repeat(np.arange(20), 2).astype(str)
    good = gq.patient_auc(y, y + rng.normal(0, 0.3, 40), patients, seed=0)
    chance = gq.patient_auc(y, rng.normal(size=40), patients, seed=0)
    assert good["ci95"][0] > 0.8
    assert chance["ci95"][0] < 0.5 < chance["ci95"][1]


def test_markdown_table_and_budget_columns(gq) -> None:
    point = {
        "frd": {"value": 30.0, "value_sd": 1.0, "ratio": 6.0},
        "detectability": {"auc": 0.9, "ci95": [0.8, 1.0]},
        "class_fidelity": {"auc": 0.6, "ci95": [0.4, 0.8]},
        "tstr": {"auc": 0.55, "ci95": [0.3, 0.7]},
        "memorized": {"fraction": 0.0, "ci95": [0.0, 0.05]},
        "sampling": {"images_per_s": 2.0},
        "step": 10,
    }
    doc = {
        "budget": {"steps": 10, "batch_size": 16, "threads": 1, "sampler": "s", "per_class": 2},
        "reference": {
            "frd": 5.0,
            "detectability": {"auc": 0.5, "ci95": [0.4, 0.6]},
            "fidelity_val": {"auc": 0.9, "ci95": [0.8, 1.0]},
            "trtr": {"auc": 0.9, "ci95": [0.8, 1.0]},
            "memorized_val": 0.0,
        },
        "variants": [
            {
                "name": "a",
                "train": {"steps": 10, "wall_s": 5.0, "cpu_s": 4.0},
                "trace": [point],
                "final": point,
                "peak_rss_mb": 100.0,
            },
            {
                "name": "m",
                "train": {
                    "steps": 400,
                    "wall_s": None,
                    "cpu_s": None,
                    "batch": "32 (2 processes x 16)",
                },
                "trace": [],
                "final": point,
                "peak_rss_mb": 1.0,
            },
        ],
    }
    text = gq.markdown(doc)
    assert "| a | 10 x 16 | 5 | 4 | 30.00 (1.00) | 6.00 | 0.900 [0.800, 1.000] |" in text
    assert "| m | 400 x 32 (2 processes x 16) | - | - |" in text
    assert "| a | 10 | 6.00 | 0.900 | 0.000 |" in text
