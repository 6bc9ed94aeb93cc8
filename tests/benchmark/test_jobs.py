"""The benchmark's workload as a job list: order, the main model, one job run alone."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from factory.benchmark.config import BenchmarkConfig
from factory.benchmark.data import load_pool
from factory.benchmark.fit import runtime
from factory.benchmark.run import Job, cpu_threads, make_jobs, plan, protocol_splits, run_one

CLASSES = ("normal", "abnormal")


def _cfg(**extra) -> BenchmarkConfig:
    base = {
        "backbones": ("test_resnet", "test_efficientnet"),
        "pretrained": False,
        "image_sizes": (32, 40),
        "synthetic_counts": (0, 4),
        "seeds": 2,
        "epochs": 1,
        "batch_size": 8,
        "bootstrap": 50,
        "acceptance": {"scenario": 4},
        "threads": 1,
    }
    return BenchmarkConfig(**(base | extra))


@pytest.fixture
def pool(tiny_inputs):
    dataset, manifest = tiny_inputs
    return load_pool(dataset, manifest, CLASSES)


def test_jobs_cover_the_workload_in_order_with_one_main_model(pool) -> None:
    cfg = _cfg()
    the_plan = plan(cfg, pool, seed=0)
    jobs = make_jobs(cfg, protocol_splits(cfg, pool, the_plan, 0), 0, "real+4")
    scenarios = ["real+0", "real+4", "synthetic-only"]
    assert len(jobs) == 2 * 2 * 2 * len(scenarios)  # sizes x backbones x seeds x scenarios
    keys = [(j.size, j.backbone, j.seed_index, j.scenario) for j in jobs]
    expected = [
        (size, b, i, s)
        for size in (32, 40)
        for b in ("test_resnet", "test_efficientnet")
        for i in range(2)
        for s in scenarios
    ]
    assert keys == expected
    main = [j for j in jobs if j.main]
    assert [(j.config, j.scenario, j.seed_index) for j in main] == [
        ("test_resnet@32px", "real+4", 0)
    ]
    assert len({j.seed for j in jobs}) == 2  # one seed per repeat, shared by scenarios
    again = pickle.loads(pickle.dumps(jobs))  # ready to be dealt out over processes
    assert [(j.config, j.scenario, j.seed) for j in again] == [
        (j.config, j.scenario, j.seed) for j in jobs
    ]


@pytest.mark.slow
def test_a_job_gives_the_same_predictions_whenever_it_runs(pool) -> None:
    cfg = _cfg(backbones=("test_resnet",), image_sizes=(32,), seeds=1)
    the_plan = plan(cfg, pool, seed=0)
    jobs = make_jobs(cfg, protocol_splits(cfg, pool, the_plan, 0), 0, "real+4")
    x, rt = pool.tensor(32), runtime(cfg)
    with cpu_threads(1):
        first, _ = run_one(jobs[1], cfg, x, pool.rows, rt)
        torch.manual_seed(123)  # whatever ran before: the job seeds its own RNGs
        torch.rand(1000)
        second, _ = run_one(jobs[1], cfg, x, pool.rows, rt)
    assert isinstance(jobs[1], Job) and first.scenario == "real+4"
    np.testing.assert_array_equal(first.prob, second.prob)
    assert first.train_size == {"real": int((pool.rows["split"] == "train").sum()), "synthetic": 4}


def test_a_failed_gate_in_the_lineage_is_noted(tiny_inputs) -> None:
    dataset, manifest = tiny_inputs
    cfg = _cfg(backbones=("test_resnet",), image_sizes=(32,))
    assert plan(cfg, load_pool(dataset, manifest, CLASSES), seed=0).notes == []
    lineage = json.loads((dataset / "lineage.json").read_text())
    lineage["gate"] = {"passed": False, "mode": "record", "verdict": "gate FAILED: x"}
    (dataset / "lineage.json").write_text(json.dumps(lineage))
    notes = plan(cfg, load_pool(dataset, manifest, CLASSES), seed=0).notes
    assert (
        len(notes) == 1
        and notes[0].startswith("gate FAILED: x")
        and "not for publication" in notes[0]
    )
