"""The `ingest` stage (stages/ingest.py and `factory ingest`): dataset -> manifest.

The pseudonym key comes from --key-file (CLI), else $FACTORY_PSEUDONYM_KEY, else
.factory/pseudonym.key (made on first use); it never goes into git or the outputs. Its
fingerprint goes into .factory/pseudonym.fingerprint (tracked; a dep of the stage), and a
manifest made with another key is only replaced when asked (--allow-key-change, or
FACTORY_ALLOW_KEY_CHANGE=1 for the stage).
"""

from __future__ import annotations

import os
import sys

from factory.config import Params
from factory.ingest.config import IngestConfig
from factory.stagekit import Stage, StageRun
from factory.train.config import TrainConfig


def label_map_fits(params: Params) -> None:
    """ingest.label_map against common.classes, at load (before any image is decoded)."""
    from factory.ingest.labels import resolve_label_map

    cfg = params.ingest
    assert cfg is not None
    resolve_label_map(cfg.source, cfg.label_map, params.common.classes, where=params.source)


def _ingest(run: StageRun) -> None:
    from factory.ingest import DEFAULT_KEY_FILE, KEY_ENV, ingest, resolve_key
    from factory.ingest.pseudonym import ALLOW_CHANGE_ENV, FINGERPRINT_FILE, env_flag

    flags = run.flags
    if flags.get("key_file") is not None:
        key, note = resolve_key(None, flags["key_file"])
    else:
        key, note = resolve_key(os.environ.get(KEY_ENV), DEFAULT_KEY_FILE)
    if note:
        print(note, file=sys.stderr)
    allow = flags.get("allow_key_change") or env_flag(
        os.environ.get(ALLOW_CHANGE_ENV), ALLOW_CHANGE_ENV
    )
    assert run.params.ingest is not None
    out = run.paths["out"]
    result = ingest(
        run.paths["path"],
        out,
        common=run.params.common,
        config=run.params.ingest,
        key=key,
        resolved_config=run.resolved,  # written inside the output set, as one swap
        progress=run.progress,
        allow_key_change=bool(allow),
        fingerprint_file=flags.get("fingerprint_file", FINGERPRINT_FILE),
    )
    m = result.metrics
    print(
        f"ingest: {m['images']} images of {m['patients']} patients -> {out} "
        f"({m['quarantined']} quarantined, {m['excluded_by_label_map']} excluded)"
    )


STAGE = Stage(
    name="ingest",
    description="Ingest a dataset folder into a de-identified, patient-split manifest of images.",
    paths={"path": "dataset folder in the layout of ingest.source", "out": "output folder"},
    # train is read only for the cross-section check (common.image_size must suit the
    # UNet), so that a size that cannot train fails here, before any image is decoded.
    sections={"ingest": IngestConfig, "train": TrainConfig},
    body=_ingest,
    record=("common", "ingest"),
    config_dir=None,
    path_params={"path": "ingest.path"},
    checks=(label_map_fits,),
)
