"""DVC stage `sample`: see factory.sample.stage (the same code path as `factory sample`)."""

from factory.sample.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
