"""DVC stage `gate`: judge the sampled set against the real training images.

Writes <out>/report/ and <out>/metrics.json always, <out>/accepted.parquet only when every
gate passes; a failing gate exits 1 with the metric | value | threshold | pass table.
"""

from factory.gate.run import raise_if_failed, run_gate
from factory.io import save_resolved_config
from factory.stagekit import run_stage


def main(params, args) -> None:
    result = run_gate(args.samples, args.manifest, args.out, params.common, params.gate)
    save_resolved_config(args.out, **params.resolved("common", "gate"))
    raise_if_failed(result)


if __name__ == "__main__":
    run_stage(
        "Quality, diversity, memorization and sanity gates on the synthetic set.",
        {
            "samples": "sample stage output folder (metadata.parquet, images/)",
            "manifest": "ingest manifest.parquet (real images beside it)",
            "out": "output folder (metrics.json, accepted.parquet, report/, config.json)",
        },
        main,
    )
