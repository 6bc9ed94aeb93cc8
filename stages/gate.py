"""DVC stage `gate`: judge the sampled set against the real training images.

python stages/gate.py --samples outputs/sample --manifest outputs/ingest/manifest.parquet
--out outputs/gate. Writes <out>/ as one swap (report/, metrics.json, config.json, and
accepted.parquet when the gate passed or gate.on_fail is record). A failed gate in stop
mode exits 1 with the gate table; in record mode it prints the table, says "not for
publication", exits 0. The work is factory.gate.stage.STAGE, as for `factory gate`.
"""

from factory.gate.stage import STAGE
from factory.stagekit import run_stage

if __name__ == "__main__":
    run_stage(STAGE)
