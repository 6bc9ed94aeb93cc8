"""DVC stage `benchmark`: does the synthetic set help a classifier on unseen real patients?

Writes <out>/metrics.json, acceptance.json, report/, plots/ and config.json. A rejection
is a result (acceptance.json says why; `factory publish` refuses the set), not a failure;
leakage, offline weights and bad inputs are failures.
"""

from factory.benchmark import run_benchmark
from factory.io import save_resolved_config
from factory.stagekit import run_stage


def main(params, args) -> None:
    verdict = run_benchmark(params.benchmark, params.common, args.dataset, args.manifest, args.out)
    save_resolved_config(args.out, **params.resolved("common", "benchmark"))
    word = "ACCEPTED" if verdict["accepted"] else "REJECTED"
    print(f"benchmark {word} (rule: {verdict['rule_label']}): {verdict['reason']}")


if __name__ == "__main__":
    run_stage(
        "Downstream classifier benchmark of a packaged synthetic set (acceptance test).",
        {
            "dataset": "packaged synthetic set folder (data/*.parquet, lineage.json)",
            "manifest": "ingest manifest.parquet (real images beside it)",
            "out": "output folder (metrics.json, acceptance.json, report/, plots/, config.json)",
        },
        main,
    )
