"""benchmarks/gate_time.py: fits, tables between markers, the paper estimate, one tiny run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gate_time.py"


@pytest.fixture(scope="module")
def gt():
    spec = importlib.util.spec_from_file_location("gate_time", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(gt, syn: int, train: int, px: int, mode: str) -> dict:
    """A made-up run: copy search exhaustive ~ pairs, shortlist ~ pairs^0.5, rest ~ N."""
    n = syn + train + gt.val_count(train)
    pix = (px / 64) ** 2
    parts = {p: {"wall_s": 1e-3 * n * pix, "peak_rss_mb": 100 + n / 10} for p in gt.PARTS}
    pairs = syn * train
    parts["copy_search"]["wall_s"] = (
        1e-5 * pairs if mode == "exhaustive" else 1e-2 * pairs**0.5
    ) * pix
    wall = sum(p["wall_s"] for p in parts.values()) + 5
    return {
        "size": gt.tag(syn, train, px),
        "n_synthetic": syn,
        "n_train": train,
        "n_val": gt.val_count(train),
        "px": px,
        "mode": mode,
        "frd": True,
        "wall_s": wall,
        "cpu_s": 1.5 * wall,
        "load_before": 1.0,
        "load_after": 1.2,
        "process_peak_rss_mb": 200 + n / 10,
        "parts": parts,
        "radiomics_cache": {"hits": n, "misses": 0}
        if mode == "exhaustive"
        else {"hits": 0, "misses": n},
    }


FLOPS = {"random_cnn_64": 2e7, "tf_efficientnetv2_l_256": 3.2e10}


def _doc(gt) -> dict:
    runs = [
        _run(gt, s, t, px, m) for s, t, px in gt.parse_sizes(gt.DEFAULT_SIZES) for m in gt.MODES
    ]
    flops = dict(FLOPS)
    for name, size in gt.flop_pairs():
        flops.setdefault(f"{name}_{size}", 4e9 * (size / 256) ** 2)
    return {
        "runs": runs,
        "machine": {"cpus": 2, "python": "3", "torch": "2"},
        "commit": "abc",
        "when": "now",
        "flops": flops,
        "inception_cpu": {"s_per_image": 0.5, "load": 1.0},
    }


def test_parse_sizes_and_fit(gt) -> None:
    assert gt.parse_sizes("250x150, 500x300@256") == [(250, 150, 64), (500, 300, 256)]
    with pytest.raises(SystemExit, match="SYNTHETICxTRAIN"):
        gt.parse_sizes("250by150")
    fit = gt.loglog_fit([10, 100, 1000], [3 * 10**1.5, 3 * 100**1.5, 3 * 1000**1.5])
    assert fit["exponent"] == pytest.approx(1.5) and fit["coef"] == pytest.approx(3)
    assert gt.loglog_fit([10, 10], [1, 2]) is None


def test_render_fits_tables_and_estimate(gt, tmp_path) -> None:
    doc_md = tmp_path / "performance.md"
    doc_md.write_text(
        "# Perf\n\n<!-- gate-time:begin -->\nOLD-BLOCK\n<!-- gate-time:end -->\n\ntail\n"
    )
    doc = _doc(gt)
    gt.render(doc, tmp_path / "gt.json", tmp_path / "gt.png", doc_md)
    fits = doc["fits"]
    assert fits["copy_search"]["exhaustive"]["exponent"] == pytest.approx(1.0, abs=0.01)
    assert fits["copy_search"]["shortlist"]["exponent"] == pytest.approx(0.5, abs=0.01)
    assert fits["features"]["shortlist"]["exponent"] == pytest.approx(1.0, abs=0.01)
    assert fits["pixel_exponent"]["features"]["shortlist"] == pytest.approx(2.0, abs=0.01)
    est = doc["estimate"]
    assert est["rsna"]["benchmark"]["jobs"] == 2 * 5 * 1 * 2 * 5  # sizes backbones seeds sc folds
    assert est["inbreast"]["benchmark"]["jobs"] == 1 * 1 * 3 * 5 * 1  # 4 counts + synthetic-only
    assert est["rsna"]["counts"]["n_synthetic"] == 1000 and est["rsna"]["counts"]["px"] == 512
    for name in ("rsna", "inbreast"):
        g, b = est[name]["gate"], est[name]["benchmark"]
        assert set(g["one_process"]) == set(gt.PARTS) and g["eight_total_s"] < g["one_total_s"]
        assert b["longest_job_s"] <= b["eight_gpus_s"] < b["one_gpu_s"]
    text = doc_md.read_text()
    assert "OLD-BLOCK" not in text and text.count("<!-- gate-time:begin -->") == 1
    assert "tail" in text and "<!-- gate-estimate:end -->" in text and "`gpu_speedup`" in text
    assert "| 2000x1200@64 | exhaustive |" in text
    assert "with the shortlist, below the exhaustive search's ^1.00" in text
    assert "for InceptionV3 (0.50 CPU s/image measured" in text
    assert "4x the training images (150 -> 600, with 250 -> 1000 synthetic)" in text
    assert "Radiomics rerun at 2000x1200@64 (exhaustive run, 3440 cache hits" in text
    assert (tmp_path / "gt.png").stat().st_size > 1000
    # --table-only re-renders from the JSON alone, without duplicating the blocks
    before = json.loads((tmp_path / "gt.json").read_text())
    args = [
        "--table-only",
        "--json",
        str(tmp_path / "gt.json"),
        "--doc",
        str(doc_md),
        "--figure",
        str(tmp_path / "gt2.png"),
    ]
    assert gt.main(args) == 0
    assert doc_md.read_text() == text and (tmp_path / "gt2.png").is_file()
    assert json.loads((tmp_path / "gt.json").read_text())["estimate"] == before["estimate"]


@pytest.mark.slow
def test_one_tiny_size_end_to_end(gt, tmp_path) -> None:
    """The real sweep on one tiny size and one mode: a gate run in its own process."""
    out = tmp_path / "gt.json"
    args = [
        "--sizes",
        "24x20",
        "--modes",
        "shortlist",
        "--no-frd",
        "--no-flops",
        "--json",
        str(out),
        "--figure",
        str(tmp_path / "gt.png"),
        "--no-doc",
        "--work",
        str(tmp_path / "work"),
    ]
    assert gt.main(args) == 0
    doc = json.loads(out.read_text())
    (run,) = doc["runs"]
    assert run["size"] == "24x20@64" and run["mode"] == "shortlist" and run["wall_s"] > 0
    assert run["counts"]["synthetic"] == 24 and run["counts"]["real_train"] == 20
    assert run["process_peak_rss_mb"] > 50
    assert set(run["parts"] or {}) <= set(gt.PARTS)
    assert (tmp_path / "work" / "data" / "24x20@64" / "done").is_file()  # kept for reuse
