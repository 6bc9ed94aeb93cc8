"""The gate's outputs: one swap (old outputs or none after a crash), and the two modes.

Kill points: every writer of the gate (report, accepted list, metrics, config, the swap
itself) is made to raise in turn, starting from a complete older output; the older output
must stay as it was, byte for byte (or, at the swap's second rename, be absent: never a
mix of old and new).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from factory.cli import main
from factory.config import CommonConfig
from factory.gate import run
from factory.gate.config import GateConfig
from factory.gate.gates import load_checks

CHEAP = {
    "extractor": "random_cnn",
    "frd": False,
    "kid_subsets": 10,
    "diversity_pairs": 20,
    "reference_subsets": 3,
    "bootstrap": 100,
    "detectability": ("features",),
    "min_reference_images": 6,
}
COMMON = CommonConfig(seed=0, image_size=32)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """One real assess of the tiny set, reused by the kill-point tests (monkeypatched in)."""
    import numpy as np

    from .conftest import breast_like, make_tiny_manifest, write_samples

    root = tmp_path_factory.mktemp("gate-io")
    manifest = make_tiny_manifest(root / "ingest", patients=30, size=32)
    rng = np.random.default_rng(7)
    images = np.concatenate([breast_like(20, c, 32, rng) for c in (0, 1)])
    samples = write_samples(root / "sample", images, np.repeat([0, 1], 20))
    inputs, _ = run.load_inputs(samples, manifest, COMMON.classes)
    passing = run.assess(inputs, GateConfig(**CHEAP, max_memorized_fraction=0.5), seed=0)
    failing = run.assess(inputs, GateConfig(**CHEAP, max_fid=0.0), seed=0)
    return samples, manifest, passing, failing


def gate_once(computed, out: Path, result, **config):
    samples, manifest, *_ = computed
    cfg = GateConfig(**CHEAP, **config)
    return run.run_gate(samples, manifest, out, COMMON, cfg, resolved={"gate": config})


@pytest.fixture(scope="module")
def passing_output(computed, tmp_path_factory):
    """A complete passing output folder, made once by the real writers."""
    _, _, passing, _ = computed
    out = tmp_path_factory.mktemp("passing") / "gate"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "assess", lambda *a, **k: passing)
        gate_once(computed, out, passing)
    assert {"metrics.json", "accepted.parquet", "config.json", "report"} <= {
        p.name for p in out.iterdir()
    }
    return out


@pytest.fixture
def old_output(computed, passing_output, tmp_path, monkeypatch):
    """A copy of the passing output; assess is then patched to give the failing result."""
    import shutil

    out = tmp_path / "gate"
    shutil.copytree(passing_output, out)
    monkeypatch.setattr(run, "assess", lambda *a, **k: computed[3])
    return out, snapshot(out)


class Boom(RuntimeError):
    pass


def boom(*args, **kwargs):
    raise Boom("killed here")


def nth_call_raises(real, n: int):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise Boom(f"killed at call {n}")
        return real(*args, **kwargs)

    return wrapper


def rename_raises(out: Path, which: str):
    """os.replace that raises at one of atomic_dir's two renames of the output folder:
    "old" (the current folder moved aside) or "new" (the built folder moved in)."""
    import os

    real = os.replace

    def wrapper(src, dst, *args, **kwargs):
        src = Path(src)
        if which == "old" and src == out:
            raise Boom("killed moving the old folder aside")
        if which == "new" and Path(dst) == out:
            raise Boom("killed moving the new folder in")
        return real(src, dst, *args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    "kill_point",
    ["report", "accepted.parquet", "metrics.json", "config.json", "swap: first rename"],
)
def test_a_crash_at_any_write_point_leaves_the_old_outputs_intact(
    computed, old_output, monkeypatch, kill_point
):
    out, before = old_output
    if kill_point == "report":
        monkeypatch.setattr(run, "write_report", boom)
    elif kill_point == "accepted.parquet":
        monkeypatch.setattr(run, "atomic_write_bytes", boom)
    elif kill_point == "metrics.json":
        monkeypatch.setattr(run, "atomic_write_json", boom)
    elif kill_point == "config.json":  # metrics.json is written, then config.json fails
        monkeypatch.setattr(run, "atomic_write_json", nth_call_raises(run.atomic_write_json, 2))
    else:
        import factory.io

        monkeypatch.setattr(factory.io.os, "replace", rename_raises(out, "old"))
    with pytest.raises(Boom):
        gate_once(computed, out, None, on_fail="record", max_fid=0.0)
    assert snapshot(out) == before  # the old passing set, every byte
    assert json.loads((out / "metrics.json").read_text())["passed"] is True


def test_a_crash_between_the_two_renames_leaves_no_output_then_the_next_run_cleans_up(
    computed, old_output, monkeypatch
):
    import factory.io

    out, _ = old_output
    monkeypatch.setattr(factory.io.os, "replace", rename_raises(out, "new"))
    with pytest.raises(Boom):
        gate_once(computed, out, None, on_fail="record", max_fid=0.0)
    assert not out.exists()  # none: never the new report beside the old metrics
    monkeypatch.undo()
    _, _, _, failing = computed
    monkeypatch.setattr(run, "assess", lambda *a, **k: failing)
    gate_once(computed, out, None, max_fid=0.0)
    assert json.loads((out / "metrics.json").read_text())["passed"] is False
    assert not list(out.parent.glob(".gate.*")), "temporary folders of the killed run remain"


def test_stop_mode_failure_removes_the_old_accepted_list_and_writes_all_else(computed, old_output):
    out, _ = old_output
    result = gate_once(computed, out, None, max_fid=0.0)  # on_fail: stop (default)
    assert not result.passed
    assert not (out / "accepted.parquet").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["passed"] is False and metrics["mode"] == "stop"
    assert (out / "report" / "report.md").read_text().startswith("# Gate report: FAILED")
    assert json.loads((out / "config.json").read_text()) == {"gate": {"max_fid": 0.0}}
    with pytest.raises(run.GateFailed, match="gate failed"):
        run.raise_if_failed(result, "stop")


def test_record_mode_failure_writes_the_accepted_list_and_says_not_for_publication(
    computed, old_output
):
    out, _ = old_output
    result = gate_once(computed, out, None, max_fid=0.0, on_fail="record")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["passed"] is False and metrics["mode"] == "record"
    checks = load_checks(metrics)
    assert [c.gate for c in checks if not c.passed] == ["max_fid"]
    accepted = pd.read_parquet(out / "accepted.parquet")
    assert len(accepted) == metrics["counts"]["accepted"] > 0
    run.raise_if_failed(result, "record")  # does not raise
    assert "not for publication" in run.warn_if_failed(result, "record")
    assert run.warn_if_failed(result, "stop") is None


def test_an_out_folder_with_foreign_files_is_refused_not_wiped(computed, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(run.FactoryError, match=r"thesis\.tex"):
        gate_once(computed, out, None)
    assert (out / "thesis.tex").read_text() == "precious"


@pytest.mark.slow
def test_cli_record_mode_on_a_failing_gate_exits_0_with_the_table(computed, tmp_path, capsys):
    import yaml

    samples, manifest, *_ = computed
    params = tmp_path / "params.yaml"
    gate = {**CHEAP, "detectability": ["features"], "max_fid": 0.0, "on_fail": "record"}
    params.write_text(yaml.safe_dump({"common": {"seed": 0, "image_size": 32}, "gate": gate}))
    out = tmp_path / "gate"
    argv = ["gate", "--samples", str(samples), "--manifest", str(manifest), "--out", str(out)]
    code = main([*argv, "--params", str(params)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "gate FAILED, recorded" in err and "not for publication" in err
    assert "fid" in err and "FAIL" in err
    assert json.loads((out / "metrics.json").read_text())["passed"] is False
    assert (out / "accepted.parquet").exists() and (out / "config.json").exists()


def test_the_radiomics_folder_dvc_lists_exists_even_when_no_cache_is_kept(passing_output):
    """dvc.yaml lists outputs/gate/radiomics (persist): with gate.frd off it must still be
    there, or DVC fails the stage for a missing output."""
    folder = passing_output / "radiomics"
    assert folder.is_dir()
    assert "gate.frd or gate.radiomics_cache is false" in (folder / "README.txt").read_text()
