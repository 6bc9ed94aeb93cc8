"""factory.shard: item i on rank i % size, every rank gets every result in item order.

One process is a plain loop; two real processes (torchrun, gloo on CPU) split the items,
uneven counts included, and an error met on one rank is raised on every rank; `share`
gives rank 0's value to every rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from factory import shard
from factory.errors import FactoryError

WORKER = """
import json, sys
from factory import shard
from factory.errors import FactoryError

rank, size = shard.world()
offset = 100  # a closure: each rank calls its own fn, only results travel
seven = shard.map_shards(lambda x: {"x": x, "y": x * x + offset, "rank": shard.world()[0]},
                         list(range(7)), "seven")
three = shard.map_shards(lambda s: s.upper(), ["a", "b", "c"])
none = shard.map_shards(lambda x: x, [])
shared = shard.share(["rank", rank])  # rank 0's value everywhere


def bad(x):
    if x == 3:
        raise FactoryError(f"item {x} cannot be read")
    return x


try:
    shard.map_shards(bad, list(range(5)))
    error = None
except FactoryError as exc:
    error = str(exc)
record = {"rank": rank, "size": size, "main": shard.is_main(), "device": str(shard.device()),
          "seven": seven, "three": three, "none": none, "shared": shared, "error": error}
with open(f"{sys.argv[1]}/rank-{rank}.json", "w") as fh:
    json.dump(record, fh)
shard.close()
"""


def test_one_process_is_a_plain_loop(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert shard.world() == (0, 1) and shard.is_main()
    assert shard.map_shards(lambda x: x * 2, [3, 1, 2], "double", progress=False) == [6, 2, 4]
    assert shard.map_shards(lambda x: x, []) == []
    assert shard.share({"a": 1}) == {"a": 1}
    assert shard.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(FactoryError, match="bad"):
        shard.map_shards(lambda x: (_ for _ in ()).throw(FactoryError("bad")), [1])
    shard.init()  # nothing to join in one process
    shard.close()


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_split_items_and_share_all_results(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node", "2", str(script), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["size"], r["main"]) for r in records] == [(0, 2, True), (1, 2, False)]
    expected = [{"x": i, "y": i * i + 100, "rank": i % 2} for i in range(7)]
    for r in records:
        assert r["seven"] == expected  # every item once, in item order, i on rank i % 2
        assert r["three"] == ["A", "B", "C"]  # 3 items on 2 ranks: rank 0 has two
        assert r["none"] == []
        assert r["shared"] == ["rank", 0]
        assert r["error"] == "item 3 cannot be read"  # met on rank 1, raised on both
        assert r["device"] == "cpu"
