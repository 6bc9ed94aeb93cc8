"""Two CPU processes (torchrun + gloo): the run completes, shards the data, writes once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_cpu_processes(manifest16, tmp_path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun not found beside the python interpreter"
    record = tmp_path / "record"
    record.mkdir()
    out = tmp_path / "train"
    script = Path(__file__).with_name("two_process_run.py")
    args = [str(script), str(manifest16), str(out), str(record)]
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((record / "rank-0.json").read_text())
    r1 = json.loads((record / "rank-1.json").read_text())
    assert r0["main"] and not r1["main"]
    for a, b in zip(r0["drawn"], r1["drawn"], strict=True):  # each rank its own images
        assert len(a) == len(b) == 2 and not set(a) & set(b)
    assert r1["writes"] == []  # only the main process writes outputs and logs
    assert any(w.endswith("lineage.json") for w in r0["writes"])
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["launch"]["processes"] == 2 and lineage["steps"] == 3
    assert lineage["launch"]["distributed_type"].endswith("MULTI_CPU")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-00000002",
        "step-00000003",
    ]
    assert (out / "model" / "unet_ema").is_dir()
