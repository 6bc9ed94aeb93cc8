"""Patient split: never a patient in two parts, stratified, deterministic, any size."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factory.ingest.split import assign_groups, split_and_fold

datasets = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["normal", "abnormal", "third"])),
    min_size=1,
    max_size=120,
)
fractions = st.sampled_from([(0.7, 0.1, 0.2), (0.8, 0.0, 0.2), (1.0, 0.0, 0.0), (0.34, 0.33, 0.33)])


@settings(max_examples=150, deadline=None)
@given(images=datasets, fractions=fractions, folds=st.integers(2, 7), seed=st.integers(0, 9))
def test_no_patient_in_two_parts(images, fractions, folds, seed) -> None:
    patients = [f"p{p}" for p, _ in images]
    labels = [label for _, label in images]
    split, fold = split_and_fold(patients, labels, fractions, folds, seed)
    assert set(split) == set(patients) == set(fold)
    # the manifest view: every image of a patient carries the patient's one split
    rows = [(p, split[p]) for p in patients]
    assert all(len({s for q, s in rows if q == p}) == 1 for p in set(patients))
    # stratified: a class with at least one single-class patient per open part is in each
    open_parts = [i for i, f in enumerate(fractions) if f > 0]
    classes_of: dict[str, set[str]] = {}
    for p, label in zip(patients, labels, strict=True):
        classes_of.setdefault(p, set()).add(label)
    for cls in set(labels):
        pure = [p for p, c in classes_of.items() if c == {cls}]
        if len(pure) >= len(open_parts):
            have = {split[p] for p in patients if cls in classes_of[p]}
            assert set(open_parts) <= have, (cls, have)
    assert all(fractions[s] > 0 for s in split.values())  # empty parts get nobody
    assert all(0 <= f < folds for f in fold.values())
    again = split_and_fold(patients, labels, fractions, folds, seed)
    assert again == (split, fold)  # deterministic


def test_each_class_reaches_each_split_when_it_can() -> None:
    patients = [f"p{i}" for i in range(6)]
    labels = ["a", "a", "a", "b", "b", "b"]
    split, _ = split_and_fold(patients, labels, (0.7, 0.1, 0.2), 5, seed=3)
    per = Counter((split[p], label) for p, label in zip(patients, labels, strict=True))
    assert all(per[(s, c)] == 1 for s in range(3) for c in "ab")


def test_large_dataset_matches_the_fractions() -> None:
    rng = np.random.default_rng(0)
    patients = [f"p{i // 2}" for i in range(4000)]
    labels = [("normal", "abnormal")[int(rng.random() < 0.2)] for _ in range(4000)]
    split, fold = split_and_fold(patients, labels, (0.7, 0.1, 0.2), 5, seed=0)
    for cls in ("normal", "abnormal"):
        idx = [i for i, lab in enumerate(labels) if lab == cls]
        share = Counter(split[patients[i]] for i in idx)
        assert abs(share[0] / len(idx) - 0.7) < 0.02
        assert abs(share[1] / len(idx) - 0.1) < 0.02
        per_fold = Counter(fold[patients[i]] for i in idx)
        assert max(per_fold.values()) - min(per_fold.values()) <= 0.03 * len(idx)


def test_seed_changes_the_assignment() -> None:
    patients = [f"p{i}" for i in range(50)]
    labels = ["a"] * 50
    a = assign_groups(patients, labels, (0.5, 0.5), np.random.default_rng(1))
    b = assign_groups(patients, labels, (0.5, 0.5), np.random.default_rng(2))
    assert a != b
