"""The plan of a synthetic set: counts, ids, per-image seeds and shards."""

from __future__ import annotations

import pytest

from factory.errors import FactoryError
from factory.sample.config import SampleConfig
from factory.sample.plan import class_counts, image_seed, plan_images, shard

CLASSES = ("normal", "abnormal")


def test_image_seed_is_stable_and_depends_on_every_part():
    assert image_seed(0, 1, 7) == image_seed(0, 1, 7)
    seeds = {image_seed(s, c, i) for s in (0, 1) for c in (0, 1) for i in range(50)}
    assert len(seeds) == 200
    assert all(0 <= s < 2**63 for s in seeds)


def test_counts_from_an_int_or_a_mapping():
    assert class_counts(5, CLASSES) == {"normal": 5, "abnormal": 5}
    assert class_counts({"abnormal": 1000}, CLASSES) == {"normal": 0, "abnormal": 1000}
    assert class_counts({"normal": 0, "abnormal": 3}, CLASSES) == {"normal": 0, "abnormal": 3}


@pytest.mark.parametrize(
    ("per_class", "message"),
    [({"abnromal": 3}, "abnromal"), ({"normal": 0}, "0 images")],
)
def test_bad_counts_are_one_line_errors(per_class, message):
    with pytest.raises(FactoryError, match=message):
        class_counts(per_class, CLASSES)


def test_config_accepts_the_paper_scenarios():
    assert SampleConfig(per_class=125).per_class == 125
    assert SampleConfig(per_class={"normal": 0, "abnormal": 1000}).per_class["abnormal"] == 1000
    with pytest.raises(ValueError):
        SampleConfig(per_class=0)
    with pytest.raises(ValueError):
        SampleConfig(per_class={"normal": -1})


def test_plan_ids_paths_and_prefix_property():
    small = plan_images(2, CLASSES, 0)
    assert [p.image_id for p in small] == [
        "syn-normal-00000",
        "syn-normal-00001",
        "syn-abnormal-00000",
        "syn-abnormal-00001",
    ]
    assert small[2].path == "images/abnormal/syn-abnormal-00000.png"
    assert [p.label for p in small] == [0, 0, 1, 1]
    big = plan_images(5, CLASSES, 0)
    # a bigger set holds the smaller one: same ids, same seeds
    assert set(small) <= set(big)
    assert {p.seed for p in plan_images(2, CLASSES, 1)}.isdisjoint({p.seed for p in small})


def test_class_names_must_be_folder_names():
    with pytest.raises(FactoryError, match="folder name"):
        plan_images(1, ("a/b", "c"), 0)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_the_plan_with_the_same_seeds(count):
    plan = plan_images(7, CLASSES, 0)
    shards = [shard(plan, i, count) for i in range(count)]
    together = [p for s in shards for p in s]
    assert sorted(together, key=plan.index) == plan  # disjoint and complete
    seeds = {p.image_id: p.seed for p in together}
    assert seeds == {p.image_id: p.seed for p in shard(plan, 0, 1)}
    with pytest.raises(ValueError):
        shard(plan, count, count)
