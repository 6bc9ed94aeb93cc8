"""The package stage's inputs, made by the real upstream stages on a tiny phantom.

`build_upstream(root)` copies the project's dvc.yaml, stages/ and src/ into `root`, writes
a tiny params.yaml and runs `dvc repro gate`: the real phantom, ingest, train (a 2-level
UNet, a few steps), sample and gate stages write every file the package stage reads, and
DVC writes the real dvc.lock. `failed_gate` reruns the real gate stage in record and stop
modes with an impossible threshold (Contract 2: in record mode the accepted list is still
written; in stop mode the stage exits 1 and writes none). `acceptance` is the benchmark's
real `decide()` on a given paired difference. Nothing here is a hand-written upstream
document.

Building takes a minute or two on 2 cores, so the package tests build it once per session
(`conftest.py`). With FACTORY_TEST_CACHE=<dir> it is also kept across sessions, under a
name made of the hash of every file it depends on (so an edited stage rebuilds it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from factory.package.build import RECORDED_SECTIONS, Inputs, package_set

MAIN = Path(__file__).resolve().parents[2]
# The project copy the upstream is built from (a checkout; default: this one).
SOURCE = Path(os.environ.get("FACTORY_TEST_UPSTREAM_SOURCE", MAIN))
KEY = "package-tests-pseudonym-key"
CLASSES = ("normal", "abnormal")

# Small enough to build in about a minute, large enough for every stage's minimum sizes
# (both classes in each split, KID/PRDC neighbours, the memorisation calibration).
TINY = {
    "common": {"image_size": 32},
    "phantom": {"patients": 24, "height": 128, "workers": 1},
    "ingest": {"workers": 1},
    "train": {
        "processes": 1,
        "block_out_channels": [8, 16],
        "attention_resolutions": [],
        "mid_attention": False,
        "norm_num_groups": 4,
        "steps": 4,
        "batch_size": 8,
        "warmup_steps": 0,
        "checkpoint_every": 4,
        "preview_every": 0,
        "preview_per_class": 1,
        "preview_steps": 2,
    },
    "sample": {"per_class": 6, "steps": 2, "batch_size": 12, "processes": 1},
    # An undertrained model draws blobs: the sanity bounds are opened wide so that the
    # gate passes and what is packaged is what the gate accepted.
    "gate": {
        "frd": False,
        "sanity_tolerance": 10,
        "max_rejected_fraction": None,
        "max_memorized_fraction": 1.0,
        "kid_subsets": 5,
        "diversity_pairs": 5,
        # The fast two-sample test only (set where the gate has these settings).
        "detectability": ["features"],
        "bootstrap": 50,
    },
}
# The gate of `failed_gate`: a KID no synthetic set reaches.
FAILED_GATE = {"on_fail": "record", "max_kid": 0.0}


@dataclass(frozen=True)
class Upstream:
    """A tiny project after `dvc repro gate`: its root, and the package stage's inputs."""

    root: Path

    def inputs(self, gate: str = "outputs/gate") -> Inputs:
        out = self.root / "outputs"
        return Inputs(
            self.root / gate,
            out / "sample",
            out / "train",
            out / "ingest" / "manifest.parquet",
            self.root / "dvc.lock",
        )

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    @property
    def images(self) -> dict:
        """image_id -> the 16-bit pixels the sampler wrote, for every sampled image."""
        import pandas as pd

        from factory.io import read_png16

        samples = self.root / "outputs" / "sample"
        table = pd.read_parquet(samples / "metadata.parquet")
        pairs = zip(table["image_id"], table["path"], strict=True)
        return {image_id: read_png16(samples / path) for image_id, path in pairs}


def tiny_params() -> dict:
    """The project's params.yaml scaled down; the gate keeps only the memorisation gate
    (every quality threshold of the profile is cleared), in stop mode, so that it passes."""
    from factory.gate.config import GATES, GateConfig

    params = yaml.safe_load((SOURCE / "params.yaml").read_text())
    params["gate"].update(dict.fromkeys(GATES, None))
    if "on_fail" in GateConfig.model_fields:
        params["gate"]["on_fail"] = "stop"
    for section, values in TINY.items():
        known = GateConfig.model_fields if section == "gate" else values
        params[section].update({k: v for k, v in values.items() if k in known})
    return params


def _copied_files() -> list[Path]:
    files = [SOURCE / "dvc.yaml", SOURCE / "params.yaml"]
    for folder in ("src", "stages"):
        files += sorted(
            p for p in (SOURCE / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    return files


def fingerprint() -> str:
    """Hash of every file the build copies or runs, and of its settings."""
    h = hashlib.sha256(json.dumps([TINY, FAILED_GATE], sort_keys=True).encode())
    for path in _copied_files():
        h.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def run(cmd: list[str], cwd: Path, expect: int = 0) -> str:
    env = {**os.environ, "FACTORY_PSEUDONYM_KEY": KEY, "DVC_NO_ANALYTICS": "1"}
    # The copied src/ is the code that runs (and that dvc.lock hashes), whatever the
    # editable install points at.
    env["PYTHONPATH"] = str(cwd / "src")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != expect:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}, not {expect}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def git(*args: str, cwd: Path) -> str:
    return run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args], cwd)


def dvc(*args: str, cwd: Path) -> str:
    return run([sys.executable, "-m", "dvc", *args], cwd)


def build_upstream(root: Path) -> Upstream:
    """Copy the project into `root` and run the real stages up to the gate."""
    for path in _copied_files():
        dest = root / path.relative_to(SOURCE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    (root / ".gitignore").write_text(
        "/outputs\n/datasets\n/.factory/*\n!/.factory/pseudonym.fingerprint\n"
    )
    _write_key_fingerprint(root)
    git("init", "-q", "-b", "main", cwd=root)
    dvc("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "tiny project", cwd=root)
    dvc("repro", "-q", "gate", cwd=root)
    upstream = Upstream(root)
    if gate_has_record_mode():
        failed_gate(upstream, "record")
        failed_gate(upstream, "stop")
    return upstream


def _write_key_fingerprint(root: Path) -> None:
    """The tracked, non-secret fingerprint of the pseudonym key that ingest depends on."""
    import importlib

    pseudonym = importlib.import_module("factory.ingest.pseudonym")  # the package's
    # `pseudonym` attribute is the function of that name
    if hasattr(pseudonym, "write_fingerprint"):
        pseudonym.write_fingerprint(KEY.encode(), root / pseudonym.FINGERPRINT_FILE)


def gate_has_record_mode() -> bool:
    from factory.gate.config import GateConfig

    return "on_fail" in GateConfig.model_fields


def failed_gate(upstream: Upstream, mode: str) -> Path:
    """The real gate stage with an impossible KID threshold, in `mode` (record: exit 0,
    accepted list written; stop: exit 1, no accepted list), into outputs/gate-<mode>."""
    params = tiny_params()
    params["gate"].update({**FAILED_GATE, "on_fail": mode})
    path = upstream.root / f"params-gate-{mode}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    root, o, out = upstream.root, upstream.root / "outputs", f"outputs/gate-{mode}"
    cmd = [sys.executable, str(root / "stages" / "gate.py"), "--samples", str(o / "sample")]
    cmd += ["--manifest", str(o / "ingest" / "manifest.parquet"), "--out", str(root / out)]
    run([*cmd, "--params", str(path)], root, expect=1 if mode == "stop" else 0)
    return root / out


def cached_upstream(base: Path) -> Upstream:
    """`build_upstream` once per fingerprint under `base` (built aside, renamed into place)."""
    target = base / f"upstream-{fingerprint()}"
    if (target / ".complete").exists():
        return Upstream(target)
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=base))
    build_upstream(staging)
    (staging / ".complete").write_text("ok\n")
    try:
        staging.rename(target)
    except OSError:  # another session finished first: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    return Upstream(target)


def acceptance(
    gain: float = 0.031,
    ci95: tuple[float, float] = (0.004, 0.058),
    tstr: tuple[float, float, float] | None = (0.71, 0.62, 0.80),
    scenario: str = "real+40",
) -> dict:
    """The benchmark's real verdict (`decide`) on a paired difference and a TSTR AUC."""
    from factory.benchmark.acceptance import decide
    from factory.benchmark.config import BenchmarkConfig

    rule = BenchmarkConfig().acceptance
    lo, hi = ci95
    difference = {"mean": gain, "sd": 0.01, "ci95_low": lo, "ci95_high": hi}
    summary = None
    if tstr is not None:
        summary = {"mean": tstr[0], "sd": 0.05, "ci95_low": tstr[1], "ci95_high": tstr[2]}
    return decide(rule, "heldout", scenario, difference, summary)


def package(upstream: Upstream, params, out: Path, gate: str = "outputs/gate", **package):
    """The package library on the real upstream outputs (package.* settings overridden by
    `package`); returns the lineage."""
    return package_set(
        params.package.model_copy(update=package),
        params.common.classes,
        upstream.inputs(gate),
        out,
        params.resolved(*RECORDED_SECTIONS),
        project_dir=upstream.root,
    )


def copy_outputs(upstream: Upstream, dest: Path) -> Upstream:
    """A private copy of the upstream outputs (and dvc.lock), for tests that change them."""
    shutil.copytree(upstream.root / "outputs", dest / "outputs")
    shutil.copyfile(upstream.root / "dvc.lock", dest / "dvc.lock")
    return Upstream(dest)


def make_project(
    root: Path, upstream: Upstream, params, verdict: dict | None = None, **package_settings
) -> Path:
    """A clean git + DVC clone holding a packaged set (DVC-tracked, package.* settings
    overridden by `package_settings`) and the benchmark's verdict (real `decide()`);
    returns the set folder."""
    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=root)
    (root / ".gitignore").write_text("outputs/\n")
    dvc("init", "-q", cwd=root)
    set_dir = root / "datasets" / "synthetic" / params.package.name
    package(upstream, params, set_dir, **package_settings)
    verdict_file = root / "outputs" / "benchmark" / "acceptance.json"
    verdict_file.parent.mkdir(parents=True)
    verdict_file.write_text(json.dumps(verdict or acceptance(), indent=2))
    dvc("add", "-q", str(set_dir.relative_to(root)), cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "packaged set", cwd=root)
    return set_dir
