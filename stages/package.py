"""DVC stage `package`: the gate's accepted samples -> a versioned set in the Hub's layout.

Writes <out>/data/train-*.parquet, <out>/README.md (dataset card) and <out>/lineage.json;
the resolved config goes to <report>/config.json (the set folder holds only what the Hub
gets). dvc.lock is read, not declared as a dependency: DVC has already locked the upstream
stages when this one runs, and their outputs are this stage's dependencies.
"""

from pathlib import Path

from factory.io import save_resolved_config
from factory.package.build import RECORDED_SECTIONS, Inputs, package_set
from factory.stagekit import run_stage


def main(params, args) -> None:
    inputs = Inputs(
        gate_dir=Path(args.gate),
        samples_dir=Path(args.samples),
        train_dir=Path(args.train),
        manifest=Path(args.manifest),
        dvc_lock=Path(args.dvc_lock),
    )
    lineage = package_set(
        params.package,
        params.common.classes,
        inputs,
        args.out,
        params.resolved(*RECORDED_SECTIONS),
    )
    save_resolved_config(args.report, **params.resolved("common", "package"))
    s = lineage["set"]
    print(f"packaged {s['name']} {s['version']}: {s['rows']} images {s['per_class']} -> {args.out}")


if __name__ == "__main__":
    run_stage(
        "Package the gate-accepted synthetic images as a versioned Hugging Face dataset.",
        {
            "gate": "gate output folder (accepted.parquet, metrics.json, config.json)",
            "samples": "sample output folder (images/, metadata.parquet, config.json)",
            "train": "train output folder (model/factory_model.json, lineage.json, config.json)",
            "manifest": "ingest manifest.parquet (metrics.json and config.json beside it)",
            "dvc-lock": "dvc.lock of the project (upstream stages' hashes are recorded)",
            "out": "the set folder, datasets/synthetic/<name>",
            "report": "folder for this stage's resolved config.json",
        },
        main,
    )
