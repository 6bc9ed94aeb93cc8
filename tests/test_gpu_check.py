"""benchmarks/gpu_check.py runs on CPU with its tiny config and writes its JSON and table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tiny_config_runs_every_part_on_cpu(gpu_check, tmp_path) -> None:
    small = ["--steps", "1", "--warmup", "1", "--batch", "2", "--classifier-batch", "2"]
    assert (
        gpu_check.main(
            ["--out", str(tmp_path), "--tiny", "--compile", "off", "--samples", "2", *small]
        )
        == 0
    )
    doc = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = [r["part"] for r in doc["rows"]]
    assert parts[:2] == ["UNet ours, compile off", "UNet bare, compile off"]
    assert parts[2].startswith("sample 2 images, dpmsolver++-")
    assert parts[3:] == [
        "test_efficientnet train, channels_last off",
        "test_efficientnet train, channels_last on",
    ]
    for row in doc["rows"]:
        assert "skipped" not in row
        assert row["images_per_s"] > 0 and row["peak_mb"] > 0
    assert doc["environment"]["device"] == "cpu" and doc["tiny"] and doc["size"] == 32
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| UNet ours, compile off |" in table and "98 img/s" in table


def test_parts_past_the_time_budget_are_marked_skipped(gpu_check, tmp_path) -> None:
    assert gpu_check.main(["--out", str(tmp_path), "--tiny", "--budget-s", "0"]) == 0
    doc = json.loads((tmp_path / "gpu_check.json").read_text())
    assert len(doc["rows"]) == 7  # 2 compile settings x 2 loops, sampling, 2 classifiers
    assert all(r.get("skipped") == "time budget" for r in doc["rows"])
    assert "skipped (time budget)" in (tmp_path / "gpu_check.md").read_text()


def test_paper_scale_config_is_the_train_defaults(gpu_check) -> None:
    cfg = gpu_check.unet_config(tiny=False, batch=16, compile_=True)
    assert cfg.block_out_channels == (128, 128, 256, 256, 512, 512)
    assert cfg.mixed_precision == "bf16" and cfg.channels_last and cfg.compile
    args = gpu_check.parse_args(["--out", "x"])
    assert args.size == 256 and args.compile == [False, True] and args.samples == 64
