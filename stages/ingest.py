"""DVC stage `ingest`: a dataset folder -> outputs/ingest (manifest, images, metrics).

python stages/ingest.py --path ${ingest.path} --out outputs/ingest [--params ...] [--debug]
The work is factory.ingest.stage.STAGE, the same code path as `factory ingest`; --path is
recorded in config.json as ingest.path (what was read). The pseudonym key comes from
$FACTORY_PSEUDONYM_KEY or .factory/pseudonym.key; it never goes into git or the outputs.
"""

from factory.ingest.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
