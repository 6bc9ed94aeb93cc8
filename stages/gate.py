"""DVC stage `gate`: judge the sampled set against the real training images.

Writes <out>/ as one swap (report/, metrics.json, config.json, and accepted.parquet when
the gate passed or gate.on_fail is record). A failed gate in stop mode exits 1 with the
gate table; in record mode it prints the table, says "not for publication", exits 0.
"""

import sys

from factory.gate.run import raise_if_failed, run_gate, warn_if_failed
from factory.stagekit import run_stage


def main(params, args) -> None:
    resolved = params.resolved("common", "gate")
    result = run_gate(args.samples, args.manifest, args.out, params.common, params.gate, resolved)
    raise_if_failed(result, params.gate.on_fail)
    warning = warn_if_failed(result, params.gate.on_fail)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(
        "Quality, detectability, class-fidelity, memorization and sanity gates on the "
        "synthetic set.",
        {
            "samples": "sample stage output folder (metadata.parquet, images/)",
            "manifest": "ingest manifest.parquet (real images beside it)",
            "out": "output folder (metrics.json, accepted.parquet, report/, config.json)",
        },
        main,
    )
