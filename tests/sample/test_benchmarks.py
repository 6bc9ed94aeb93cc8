"""The default-sampler rule of benchmarks/sampler_quality.py (pure parts only)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "sampler_quality.py"
spec = importlib.util.spec_from_file_location("sampler_quality", PATH)
sq = importlib.util.module_from_spec(spec)
sys.modules.setdefault("sampler_quality", sq)  # dataclasses look their module up
spec.loader.exec_module(sq)


def row(sampler, kid, frd):
    return sq.Row(sampler, sq.parse_sampler(sampler)[1], 1.0, kid, 0.0, frd)


def test_parse_sampler():
    assert sq.parse_sampler("dpmsolver++-25") == ("dpmsolver++", 25)
    assert sq.parse_sampler("ddpm-1000") == ("ddpm", 1000)
    with pytest.raises(SystemExit):
        sq.parse_sampler("ddim")


def test_within_handles_negative_values():
    assert sq.within(1.05, 1.0) and not sq.within(1.2, 1.0)
    assert sq.within(-2.0, -2.1) and sq.within(-1.9, -2.0) and not sq.within(-1.7, -2.0)


def test_pick_fewest_steps_within_ten_percent_on_both_metrics():
    rows = [
        row("ddpm-1000", 0.010, 2.0),
        row("dpmsolver++-10", 0.030, 2.0),  # KID too far
        row("dpmsolver++-20", 0.0105, 2.3),  # FRD too far
        row("dpmsolver++-25", 0.0108, 2.1),
        row("ddim-50", 0.009, 1.9),
    ]
    assert sq.pick_default(rows).sampler == "dpmsolver++-25"
    assert sq.pick_default(rows[1:]) is None  # no reference, no pick
    table = sq.markdown(rows, sq.pick_default(rows), "header")
    assert "| dpmsolver++-25 | 25 |" in table and "**yes**" in table


def test_kid_differences_inside_the_measurement_noise_count_as_within():
    ref = row("ddpm-1000", 0.00003, 34.5)
    ref = ref.__class__(**{**ref.__dict__, "kid_std": 0.00009})
    close = row("dpmsolver++-10", 0.00004, 35.7)
    far = row("ddim-50", 0.00087, 36.5)
    assert sq.kid_within(close, ref) and not sq.kid_within(far, ref)
    assert sq.pick_default([ref, close, far]).sampler == "dpmsolver++-10"
