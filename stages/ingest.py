"""DVC stage `ingest`: a dataset folder -> outputs/ingest (manifest, images, metrics).

The pseudonym key comes from $FACTORY_PSEUDONYM_KEY or .factory/pseudonym.key (made on
first use); it never goes into git or the outputs.
"""

from __future__ import annotations

import argparse
import os
import sys

from factory.config import Params
from factory.stagekit import run_stage


def body(params: Params, args: argparse.Namespace) -> None:
    from factory.ingest import DEFAULT_KEY_FILE, KEY_ENV, ingest, resolve_key

    key, note = resolve_key(os.environ.get(KEY_ENV), DEFAULT_KEY_FILE)
    if note:
        print(note, file=sys.stderr)
    result = ingest(
        args.path,
        args.out,
        common=params.common,
        config=params.ingest,
        key=key,
        resolved_config=params.resolved("common", "ingest"),
    )
    m = result.metrics
    print(
        f"ingest: {m['images']} images of {m['patients']} patients -> {args.out} "
        f"({m['quarantined']} quarantined, {m['excluded_by_label_map']} excluded)"
    )


if __name__ == "__main__":
    run_stage(
        "Ingest a dataset folder into a de-identified, patient-split manifest of images.",
        {"path": "dataset folder in the layout of ingest.source", "out": "output folder"},
        body,
    )
