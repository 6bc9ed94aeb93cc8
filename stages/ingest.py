"""DVC stage `ingest`: see factory.ingest.stage (the same code path as `factory ingest`)."""

from factory.ingest.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
