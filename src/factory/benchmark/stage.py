"""The `benchmark` stage (stages/benchmark.py and `factory benchmark`): does the synthetic
set help a classifier on unseen real patients?

Writes <out>/metrics.json, acceptance.json, report/, plots/ (atomically, see
`factory.benchmark.run`), then stagekit writes <out>/config.json. A rejection is a result
(exit 0; acceptance.json says why; `factory publish` refuses the set), not a failure;
leakage, offline weights and bad inputs are failures. With benchmark.processes > 1 the
stage script starts that many workers (torch.distributed, as train and sample) and deals
the jobs out over them; rank 0 alone writes and prints.
"""

from __future__ import annotations

from factory.benchmark.config import BenchmarkConfig
from factory.stagekit import Stage, StageRun


def _benchmark(run: StageRun) -> None:
    from factory import shard
    from factory.benchmark.run import run_benchmark  # torch: only once params are valid

    cfg, paths = run.params.benchmark, run.paths
    assert cfg is not None
    out = paths["out"]
    shard.init()  # benchmark.processes workers: the jobs are dealt out over them
    try:
        size = shard.world()[1]
        verdict = run_benchmark(cfg, run.params.common, paths["dataset"], paths["manifest"], out)
    finally:
        shard.close()
    if verdict is None:  # a worker of rank > 0: rank 0 writes and reports
        return
    word = "ACCEPTED" if verdict["accepted"] else "REJECTED"
    spread = f" (jobs over {size} processes)" if size > 1 else ""
    print(
        f"benchmark {word} (rule: {verdict['rule_label']}): {verdict['reason']}; "
        f"see {out / 'report' / 'results.md'}{spread}"
    )


STAGE = Stage(
    name="benchmark",
    description="Downstream classifier benchmark of a packaged synthetic set (acceptance test).",
    paths={
        "dataset": "packaged synthetic set folder (data/*.parquet, lineage.json)",
        "manifest": "ingest manifest.parquet (real images beside it)",
        "out": "output folder (metrics.json, acceptance.json, report/, plots/, config.json)",
    },
    sections={"benchmark": BenchmarkConfig},
    body=_benchmark,
    launcher="benchmark",
)
