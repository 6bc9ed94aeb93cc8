"""DVC stage `benchmark`: does the synthetic set help a classifier on unseen real patients?

python stages/benchmark.py --dataset <set> --manifest <manifest> --out outputs/benchmark
runs factory.benchmark.stage.STAGE, as `factory benchmark` does. A rejection is a result
(exit 0, acceptance.json says why); leakage, offline weights and bad inputs fail.
"""

from factory.benchmark.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
