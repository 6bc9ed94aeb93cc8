"""DVC stage `package`: see factory.package.stage (the same code path as `factory package`)."""

from factory.package.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
