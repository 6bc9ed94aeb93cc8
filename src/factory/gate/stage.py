"""The `gate` stage (stages/gate.py and `factory gate`): judge the sampled set.

Writes <out>/ as one swap (report/, metrics.json, config.json, and accepted.parquet when
the gate passed or gate.on_fail is record). A failed gate in stop mode exits 1 with the
gate table; in record mode it prints the table, says "not for publication", exits 0.
With gate.processes > 1 the stage script starts that many workers (torch.distributed, as
train and sample); the gate's heavy parts are dealt out over them (`factory.shard`) and
rank 0 alone writes and prints.
"""

from __future__ import annotations

import sys

from factory.gate.config import GateConfig
from factory.stagekit import Stage, StageRun


def _gate(run: StageRun) -> None:
    from factory import shard
    from factory.gate.run import raise_if_failed, run_gate, warn_if_failed

    cfg, p = run.params.gate, run.paths
    assert cfg is not None
    shard.init()  # gate.processes workers: features, radiomics, classifiers, copy search
    try:
        result = run_gate(
            p["samples"], p["manifest"], p["out"], run.params.common, cfg, run.resolved
        )
        main = shard.is_main()
    finally:
        shard.close()
    if not main:  # a worker of rank > 0: rank 0 writes, reports and sets the exit code
        return
    raise_if_failed(result, cfg.on_fail)
    warning = warn_if_failed(result, cfg.on_fail)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    else:
        print(f"gate passed; accepted list in {p['out'] / 'accepted.parquet'}")


STAGE = Stage(
    name="gate",
    description="Quality, detectability, class-fidelity, memorization and sanity gates on the "
    "synthetic set.",
    paths={
        "samples": "sample stage output folder (metadata.parquet, images/)",
        "manifest": "ingest manifest.parquet (real images beside it)",
        "out": "output folder (metrics.json, accepted.parquet, report/, config.json)",
    },
    sections={"gate": GateConfig},
    body=_gate,
    config_dir=None,  # run_gate writes run.resolved inside its one-swap output folder
    launcher="gate",
)
