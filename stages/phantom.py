"""DVC stage `phantom`: write the embedded synthetic dataset (INbreast layout by default).

python stages/phantom.py --out datasets/phantom [--params params.yaml] [--debug]
The work is factory.phantom.stage.STAGE, the same code path as `factory phantom`.
"""

from factory.phantom.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
