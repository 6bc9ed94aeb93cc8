"""The `package` stage (stages/package.py and `factory package`): gate-accepted samples ->
a versioned set in the Hub's layout (see factory.package.build).

The set folder holds only what the Hub gets; the resolved config goes to <report>/
config.json. dvc.lock is read, not declared as a dependency: DVC has already locked the
upstream stages when this one runs, and their outputs are this stage's dependencies.
"""

from __future__ import annotations

import sys

from factory.package.build import Inputs, package_set
from factory.package.config import PackageConfig
from factory.stagekit import Stage, StageRun


def _package(run: StageRun) -> None:
    p, paths = run.params, run.paths
    assert p.package is not None
    inputs = Inputs(
        paths["gate"], paths["samples"], paths["train"], paths["manifest"], paths["dvc-lock"]
    )
    lineage = package_set(p.package, p.common.classes, inputs, paths["out"], run.resolved)
    s, out = lineage["set"], paths["out"]
    print(f"packaged {s['name']} {s['version']}: {s['rows']} images {s['per_class']} -> {out}")
    if not lineage["gate"]["passed"]:
        print(f"warning: {lineage['gate']['verdict']}", file=sys.stderr)


STAGE = Stage(
    name="package",
    description="Package the gate-accepted synthetic images as a versioned Hugging Face dataset.",
    paths={
        "gate": "gate output folder (accepted.parquet, metrics.json, config.json)",
        "samples": "sample output folder (images/, metadata.parquet, config.json)",
        "train": "train output folder (model/factory_model.json, lineage.json, config.json)",
        "manifest": "ingest manifest.parquet (metrics.json, source.json, config.json beside it)",
        "dvc-lock": "dvc.lock of the project (upstream stages' hashes are recorded)",
        "out": "the set folder, datasets/synthetic/<name>",
        "report": "folder for this stage's resolved config.json",
    },
    # Each upstream stage's params are recorded from its own config.json (what it ran with).
    sections={"package": PackageConfig},
    body=_package,
    config_dir="report",
)
