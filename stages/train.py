"""DVC stage `train`: the class-conditional DDPM on the manifest's train split.

python stages/train.py --manifest M --out outputs/train: params are validated once, then
train.processes workers start (torch.distributed, as torchrun: GPUs, or CPU processes
with gloo). Under a hand-run `torchrun ... stages/train.py ...` the script is one worker.
Re-running resumes. The work is factory.train.stage.STAGE, as for `factory train`.
"""

from factory.stagekit import run_stage
from factory.train.stage import STAGE

if __name__ == "__main__":
    run_stage(STAGE)
