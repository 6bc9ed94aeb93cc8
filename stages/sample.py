"""DVC stage `sample`: draw the synthetic set from the trained generator.

python stages/sample.py --model outputs/train/model --out outputs/sample: params are
validated once, then sample.processes workers shard the images (the same images whatever
the number); under a hand-run torchrun the script is one worker. The work is
factory.sample.stage.STAGE, as for `factory sample`.
"""

from factory.sample.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
