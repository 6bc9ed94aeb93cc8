"""The whole pipeline as `dvc repro` on a clean copy of the project, scaled down.

Runs real DVC on a copy of the tracked files (as a fresh clone holds them) with a tiny
params override: every stage runs, each writes what the next one reads; a second
`dvc repro` does nothing; a benchmark-only change reruns only the benchmark; and an
impossible gate threshold stops the pipeline before `package`, with its table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factory.params import load_params

sys.path.insert(0, str(Path(__file__).parent))
from import_closure import importers

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

ROOT = Path(__file__).resolve().parents[1]

# Small enough for CI (a couple of minutes on 2 cores), large enough for every stage's
# minimum sizes (splits with both classes, KID/PRDC neighbours, memorisation calibration).
TINY = {
    "common": {"image_size": 32},
    "phantom": {"patients": 24, "height": 128, "workers": 2},
    "ingest": {"workers": 2},
    "train": {
        "processes": 1,
        "block_out_channels": [8, 16],
        "attention_resolutions": [],
        "mid_attention": False,
        "norm_num_groups": 4,
        "steps": 12,
        "batch_size": 8,
        "warmup_steps": 2,
        "checkpoint_every": 6,
        "preview_every": 12,
        "preview_per_class": 2,
        "preview_steps": 3,
    },
    "sample": {"per_class": 12, "steps": 3, "batch_size": 12, "processes": 1},
    # An undertrained model draws blobs. The quality gates keep the demo's thresholds and
    # its record mode, so they fail honestly and the chain runs on with that verdict
    # recorded; only the per-image checks are opened wide so that package has images.
    "gate": {
        "frd": False,
        "sanity_tolerance": 10,
        "max_rejected_fraction": None,
        "max_memorized_fraction": 1.0,
        "kid_subsets": 10,
        "diversity_pairs": 10,
        "detectability": ["features"],
        "reference_subsets": 3,
        "bootstrap": 100,
        "min_reference_images": 6,
        "on_fail": "record",
        "max_frd_ratio": None,  # FRD is off here (radiomics are slow)
    },
    "benchmark": {
        "backbones": ["test_resnet"],
        "image_sizes": [32],
        "synthetic_counts": [0, 8],
        "synthetic_only": False,
        "seeds": 1,
        "epochs": 1,
        "bootstrap": 50,
        "gradcam_images": 2,
        # synthetic_only is off to save a scenario, so TSTR cannot be required here.
        "acceptance": {"metric": "auc", "scenario": 8, "tstr_required": False},
    },
}


def tiny_params(base: Path) -> str:
    params = yaml.safe_load(base.read_text())
    for section, values in TINY.items():
        params[section].update(values)
    return yaml.safe_dump(params, sort_keys=False)


def copy_project(dest: Path) -> None:
    """The tracked files of this checkout, committed in a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "copy")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
        cwd=cwd,
        check=True,
    )


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FACTORY_PSEUDONYM_KEY"] = "pipeline-test-key"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dvc {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def ran(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [
        line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage")
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("project")
    copy_project(work)
    (work / "params.yaml").write_text(tiny_params(work / "params.yaml"))
    load_params(work / "params.yaml")  # the override itself must be valid
    git(work, "commit", "-qam", "tiny params")
    return work


def test_repro_runs_every_stage_then_is_a_no_op(project: Path) -> None:
    first = dvc(project, "repro")
    assert ran(first) == ["phantom", "ingest", "train", "sample", "gate", "package", "benchmark"]

    out = project / "outputs"
    for stage in ("ingest", "train", "sample", "gate", "benchmark"):
        assert (out / stage / "config.json").is_file(), stage
    assert (out / "ingest" / "manifest.parquet").is_file()
    assert (out / "train" / "model" / "factory_model.json").is_file()
    assert (out / "sample" / "metadata.parquet").is_file()
    # A 12-step model draws blobs: the demo's quality gates fail it, record mode keeps the
    # chain going, and every artefact downstream says so (none claims a pass).
    gate = json.loads((out / "gate" / "metrics.json").read_text())
    assert gate["passed"] is False and gate["mode"] == "record"
    assert any(c["gated"] and not c["passed"] for c in gate["checks"])
    name = load_params(project / "params.yaml").package.name
    dataset = project / "datasets" / "synthetic" / name
    assert sorted(p.name for p in dataset.iterdir()) >= [
        "README.md",
        "croissant.json",
        "data",
        "lineage.json",
    ]
    assert "gate FAILED: not for publication" in (dataset / "README.md").read_text()
    lineage = json.loads((dataset / "lineage.json").read_text())
    assert lineage["gate"]["passed"] is False
    assert "phantom" in json.dumps(lineage["source"]).lower()  # the data set, not the adapter
    verdict = json.loads((out / "benchmark" / "acceptance.json").read_text())
    assert isinstance(verdict["accepted"], bool) and verdict["rule_text"]
    assert (out / "benchmark" / "metrics.json").is_file()

    shown = dvc(project, "metrics", "show", "--json")
    assert "outputs/gate/metrics.json" in shown.stdout

    second = dvc(project, "repro")
    assert ran(second) == []
    assert "up to date" in second.stdout


def test_touching_a_shared_module_changes_exactly_its_importers(project: Path) -> None:
    """A comment appended to a project module marks in `dvc status` exactly the stages whose
    scripts import it (their import closure, read from the source): not fewer (stale
    outputs reported current), not more (false reruns). Their downstream stages rerun when
    these produce new outputs. The copy is restored afterwards."""
    names = set(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    for module in ("src/factory/manifest.py", "src/factory/accel.py"):
        expected = importers(ROOT / module)
        assert expected and expected != names, module  # a module only some stages import
        path = project / module
        original = path.read_bytes()
        path.write_bytes(original + b"\n# touched by the test\n")
        try:
            status = json.loads(dvc(project, "status", "--json").stdout or "{}")
        finally:
            path.write_bytes(original)
        assert set(status) == expected, (module, status)
    assert json.loads(dvc(project, "status", "--json").stdout or "{}") == {}


def test_benchmark_param_change_reruns_only_the_benchmark(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["benchmark"]["bootstrap"] = 60
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(dvc(project, "repro")) == ["benchmark"]


def test_impossible_gate_stops_before_package_with_its_table(project: Path) -> None:
    name = load_params(project / "params.yaml").package.name
    dataset = project / "datasets" / "synthetic" / name
    shutil.rmtree(dataset)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["gate"]["max_kid"] = 0.0  # no synthetic set is that close to the real one
    params["gate"]["on_fail"] = "stop"  # as in the paper profiles
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    failed = dvc(project, "repro", check=False)
    assert failed.returncode != 0
    assert ran(failed) == ["gate"]
    text = failed.stdout + failed.stderr
    assert "kid" in text.lower() and "threshold" in text.lower()
    assert not dataset.exists()
    assert (project / "outputs" / "gate" / "report").is_dir()  # kept for audit
    assert not (project / "outputs" / "gate" / "accepted.parquet").exists()
