"""DVC stage `train`: see factory.train.stage (the same code path as `factory train`)."""

from factory.stagekit import run_stage
from factory.train.stage import STAGE

if __name__ == "__main__":
    run_stage(STAGE)
