"""DVC stage `phantom`: see factory.phantom.stage (the same code path as `factory phantom`)."""

from factory.phantom.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
