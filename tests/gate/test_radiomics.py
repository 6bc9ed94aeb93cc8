"""Radiomics once per image: the sha256-keyed cache of `factory.gate.radiomics`.

Radiomics cost ~0.3 s per 32 px image here, so each test extracts a handful at most.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.gate import metrics
from factory.gate.radiomics import (
    RadiomicsCache,
    _extractor,
    image_sha,
    radiomics_features,
    version_key,
)


def images(n: int, seed: int = 0) -> np.ndarray:
    from .conftest import breast_like

    rng = np.random.default_rng(seed)
    return np.concatenate([breast_like(n - n // 2, 0, 32, rng), breast_like(n // 2, 1, 32, rng)])


class Loader:
    """load(i) for radiomics_features that records which images it was asked for."""

    def __init__(self, x: np.ndarray) -> None:
        self.x, self.asked = x, []

    def __call__(self, i: int) -> np.ndarray:
        self.asked.append(i)
        return self.x[i]


@pytest.fixture(scope="module")
def four():
    """Four images, their keys and frd_features' rows of them (the reference values)."""
    x = images(4)
    return x, [image_sha(im) for im in x], metrics.frd_features(x, workers=1)


def test_rows_equal_frd_features_and_a_second_call_computes_nothing(four, tmp_path) -> None:
    x, shas, reference = four
    first = RadiomicsCache(tmp_path / "radiomics")
    start = time.perf_counter()
    rows = radiomics_features(shas, Loader(x), first, workers=2)
    cold = time.perf_counter() - start
    assert np.array_equal(rows, reference, equal_nan=True)  # same values, pool path
    assert (first.hits, first.misses) == (0, 4)
    assert len(list(first.folder.glob("*/*.npy"))) == 4

    again = RadiomicsCache(tmp_path / "radiomics")  # a new run: only the files are shared
    load = Loader(x)
    start = time.perf_counter()
    rows = radiomics_features(shas, load, again, workers=2)
    warm = time.perf_counter() - start
    assert np.array_equal(rows, reference, equal_nan=True)
    assert (again.hits, again.misses) == (4, 0)
    assert load.asked == []  # no image was even loaded
    assert warm < cold / 10, (warm, cold)


def test_hits_and_misses_add_up_over_calls_and_a_repeated_image_is_computed_once(
    four, tmp_path
) -> None:
    x, shas, reference = four
    cache = RadiomicsCache(tmp_path / "radiomics")
    load = Loader(x)
    rows = radiomics_features([shas[0], shas[1], shas[0]], load, cache, workers=1)
    assert np.array_equal(rows, reference[[0, 1, 0]], equal_nan=True)  # serial path
    assert (cache.hits, cache.misses) == (1, 2) and load.asked == [0, 1]
    rows = radiomics_features(shas, load, cache, workers=1)
    assert np.array_equal(rows, reference, equal_nan=True)
    assert (cache.hits, cache.misses) == (1 + 2, 2 + 2) and load.asked == [0, 1, 2, 3]


def test_a_mapper_computes_the_misses_with_the_same_values(four, tmp_path) -> None:
    from factory.shard import map_shards

    x, shas, reference = four
    cache = RadiomicsCache(tmp_path / "radiomics")
    radiomics_features(shas[:1], Loader(x), cache, workers=1)
    rows = radiomics_features(shas[:3], Loader(x), cache, workers=1, mapper=map_shards)
    assert np.array_equal(rows, reference[:3], equal_nan=True)
    assert (cache.hits, cache.misses) == (1, 3)
    assert len(list(cache.folder.glob("*/*.npy"))) == 3


def test_no_cache_and_an_in_memory_cache_compute_the_same_values(four) -> None:
    x, shas, reference = four
    assert np.array_equal(
        radiomics_features(shas[:2], Loader(x), None, workers=1), reference[:2], equal_nan=True
    )
    memory = RadiomicsCache(None)
    radiomics_features(shas[:2], Loader(x), memory, workers=1)
    load = Loader(x)
    rows = radiomics_features(shas[:2], load, memory, workers=1)
    assert np.array_equal(rows, reference[:2], equal_nan=True)
    assert (memory.hits, memory.misses, load.asked) == (2, 2, [])


def test_another_version_s_entries_are_not_used_and_finish_drops_them(four, tmp_path) -> None:
    x, shas, reference = four
    root = tmp_path / "radiomics"
    old = RadiomicsCache(root, version="frd-score-0.9_pyradiomics-3.0.0_frd-v1")
    old.put(shas[0], np.full(reference.shape[1], 7.0))  # what an older extractor gave
    assert old.get(shas[0]) is not None
    current = RadiomicsCache(root)
    assert current.version == version_key() != old.version
    rows = radiomics_features(shas[:1], Loader(x), current, workers=1)
    assert current.misses == 1  # the old row was not used...
    assert np.array_equal(rows, reference[:1], equal_nan=True)
    assert old.folder.is_dir()
    current.finish()
    assert not old.folder.exists()  # ... and is gone once the run finishes
    assert sorted(p.name for p in root.iterdir()) == [current.version]
    assert current.get(shas[0]) is not None


def test_a_damaged_entry_is_recomputed_with_a_warning_naming_the_file(four, tmp_path) -> None:
    x, shas, reference = four
    root = tmp_path / "radiomics"
    radiomics_features(shas[:3], Loader(x), RadiomicsCache(root), workers=1)
    cache = RadiomicsCache(root)
    truncated, reshaped = cache.path(shas[0]), cache.path(shas[1])
    truncated.write_bytes(truncated.read_bytes()[:100])
    np.save(reshaped, reference[1][:10])  # a valid .npy of the wrong length
    with pytest.warns(UserWarning) as caught:
        rows = radiomics_features(shas[:3], Loader(x), cache, workers=1)
    said = " ".join(str(w.message) for w in caught)
    assert truncated.name in said and reshaped.name in said
    assert np.array_equal(rows, reference[:3], equal_nan=True)
    assert (cache.hits, cache.misses) == (1, 2)
    repaired = RadiomicsCache(root)
    radiomics_features(shas[:3], Loader(x), repaired, workers=1)
    assert repaired.misses == 0  # rewritten whole


def test_a_failed_extraction_names_the_image(tmp_path) -> None:
    flat = np.zeros((1, 32, 32), np.float32)  # pyradiomics cannot bin a constant image
    sha = image_sha(flat[0])
    with pytest.raises(FactoryError, match=rf"image 0 \(sha256 {sha}\)"):
        radiomics_features([sha], Loader(flat), RadiomicsCache(tmp_path / "r"), workers=1)


def _child(code: str, *args: Path) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter that dies by SIGKILL where the code says so."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_process_killed_while_writing_leaves_no_entry(tmp_path) -> None:
    root = tmp_path / "radiomics"
    killed = _child(
        """
        import os, signal, sys
        import numpy as np
        from factory.gate.radiomics import RadiomicsCache
        cache = RadiomicsCache(sys.argv[1])
        os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # dies before rename
        cache.put("ab" * 32, np.arange(5.0))
        """,
        root,
    )
    assert killed.returncode == -9, killed.stderr
    cache = RadiomicsCache(root)
    assert cache.get("ab" * 32) is None
    leftovers = list(cache.folder.rglob(".*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the bytes, unnamed
    cache.finish()
    assert not list(cache.folder.rglob(".*.tmp"))


def test_a_run_killed_midway_keeps_the_rows_it_finished(four, tmp_path) -> None:
    x, shas, reference = four
    root = tmp_path / "radiomics"
    np.save(tmp_path / "x.npy", x)
    killed = _child(
        """
        import os, signal, sys
        import numpy as np
        from factory.gate.radiomics import RadiomicsCache, image_sha, radiomics_features
        x = np.load(sys.argv[2])
        def load(i):
            if i == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return x[i]
        radiomics_features([image_sha(im) for im in x], load, RadiomicsCache(sys.argv[1]), 1)
        """,
        root,
        tmp_path / "x.npy",
    )
    assert killed.returncode == -9, killed.stderr
    cache = RadiomicsCache(root)
    load = Loader(x)
    rows = radiomics_features(shas, load, cache, workers=1)
    assert (cache.hits, cache.misses, load.asked) == (2, 2, [2, 3])
    assert np.array_equal(rows, reference, equal_nan=True)


def test_keys_are_the_sha256_of_the_png_the_stages_write(tmp_path) -> None:
    from factory.gate.radiomics import quantize
    from factory.io import sha256_file, write_png16

    x = images(2)
    assert write_png16(tmp_path / "a.png", quantize(x[0])) == image_sha(x[0])
    assert sha256_file(tmp_path / "a.png") == image_sha(x[0]) != image_sha(x[1])


WORKER = """
import json, sys
import numpy as np
from factory import shard
from factory.gate.radiomics import RadiomicsCache, image_sha, radiomics_features

x = np.load(sys.argv[2])
shas = [image_sha(im) for im in x]
rank, _ = shard.world()
root = sys.argv[1] if rank == 0 or sys.argv[3] == "shared" else sys.argv[1] + "-other"
cache = RadiomicsCache(root, write=shard.is_main())  # rank 0 alone writes
first = radiomics_features(shas[:3], lambda i: x[i], cache, 1, mapper=shard.map_shards)
# the same images again (a synthetic copy of a training image): no rank may deal out
# different misses, whether or not rank 0's files have landed yet
second = radiomics_features(shas[2:], lambda i: x[2 + i], cache, 1, mapper=shard.map_shards)
np.save(f"{sys.argv[1]}/../rank-{rank}.npy", np.concatenate([first, second]))
with open(f"{sys.argv[1]}/../rank-{rank}.json", "w") as fh:
    json.dump(cache.as_dict(), fh)
shard.close()
"""


def _two_ranks(tmp_path: Path, x: np.ndarray, disks: str) -> list[tuple[np.ndarray, dict]]:
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    cmd += ["2", str(script), str(tmp_path / "radiomics"), str(tmp_path / "x.npy"), disks]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [
        (
            np.load(tmp_path / f"rank-{rank}.npy"),
            json.loads((tmp_path / f"rank-{rank}.json").read_text()),
        )
        for rank in (0, 1)
    ]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_share_the_misses_and_rank_0_alone_writes(four, tmp_path) -> None:
    x, shas, reference = four
    expected = np.concatenate([reference[:3], reference[2:]])
    for rows, counts in _two_ranks(tmp_path, x, "shared"):
        assert np.array_equal(rows, expected, equal_nan=True)
        assert (counts["hits"], counts["misses"]) == (1, 4)
    cache = RadiomicsCache(tmp_path / "radiomics")
    assert len(list(cache.folder.glob("*/*.npy"))) == 4
    rows = radiomics_features(shas, Loader(x), cache, workers=1)
    assert cache.misses == 0 and np.array_equal(rows, reference, equal_nan=True)


def test_map_shards_in_one_process_leaves_the_misses_to_the_pool(four, tmp_path) -> None:
    from factory import shard

    x, shas, reference = four
    calls = []

    def counting(fn, items, desc=""):
        calls.append(len(items))
        return shard.map_shards(fn, items, desc)

    _extractor.cache_clear()  # built again by whichever process extracts
    rows = radiomics_features(shas[:2], Loader(x), None, workers=2, mapper=shard.map_shards)
    assert np.array_equal(rows, reference[:2], equal_nan=True)
    assert _extractor.cache_info().currsize == 0  # not here: in the pool's processes
    radiomics_features(shas[:1], Loader(x), None, workers=2, mapper=counting)
    assert calls == [1]  # any other mapper is used as given


@pytest.mark.slow
def test_a_rerun_of_the_gate_with_changed_thresholds_computes_no_radiomics(tmp_path) -> None:
    """The end-to-end promise: run_gate keeps <out>/radiomics across its swap."""
    from factory.config import CommonConfig
    from factory.gate import run
    from factory.gate.config import GateConfig

    from .conftest import breast_like, make_tiny_manifest, write_samples

    manifest = make_tiny_manifest(tmp_path / "ingest", patients=20, size=32)
    rng = np.random.default_rng(3)
    fake = np.concatenate([breast_like(8, c, 32, rng) for c in (0, 1)])
    samples = write_samples(tmp_path / "sample", fake, np.repeat([0, 1], 8))
    common = CommonConfig(seed=0, image_size=32)
    cheap = {
        "extractor": "random_cnn",
        "frd": True,
        "frd_workers": 2,
        "kid_subsets": 5,
        "diversity_pairs": 10,
        "reference_subsets": 2,
        "bootstrap": 50,
        "detectability": ("features", "radiomics"),
        "min_reference_images": 6,
        "on_fail": "record",
    }
    out = tmp_path / "gate"
    docs = []
    for thresholds in ({"max_frd": 100.0}, {"max_frd": 1.0, "max_memorized_fraction": 0.2}):
        run.run_gate(samples, manifest, out, common, GateConfig(**cheap, **thresholds))
        docs.append(json.loads((out / "metrics.json").read_text()))
    first, second = (d["radiomics_cache"] for d in docs)
    assert first["misses"] > 16 and first["hits"] == 0, first  # synthetic + real images
    assert second["misses"] == 0, second  # the rerun extracted nothing...
    assert second["hits"] == first["misses"], (first, second)  # ... and served every row
    assert docs[1]["thresholds"] != docs[0]["thresholds"]
    assert docs[1]["overall"]["frd"] == docs[0]["overall"]["frd"]
    for name in ("normal", "abnormal"):
        assert docs[1]["per_class"][name]["frd"] == docs[0]["per_class"][name]["frd"]
    assert (out / "radiomics" / version_key()).is_dir()
    cold, warm = (d["parts"]["radiomics"]["wall_s"] for d in docs)
    assert warm < cold / 10, (cold, warm)


@pytest.mark.slow
@pytest.mark.multiprocess
def test_ranks_on_other_disks_deal_out_rank_0_s_misses_and_take_its_rows(four, tmp_path) -> None:
    """Rank 1 sees an empty folder (another machine): it computes what rank 0 lacks and
    takes the row rank 0 has, so both deal out the same items and return the same rows."""
    x, shas, reference = four
    RadiomicsCache(tmp_path / "radiomics").put(shas[0], reference[0])  # on rank 0's disk only
    expected = np.concatenate([reference[:3], reference[2:]])
    for rows, counts in _two_ranks(tmp_path, x, "apart"):
        assert np.array_equal(rows, expected, equal_nan=True)
        assert (counts["hits"], counts["misses"]) == (2, 3)  # rank 0's view on both ranks
    assert not list((tmp_path / "radiomics-other").rglob("*.npy"))  # rank 1 wrote nothing
