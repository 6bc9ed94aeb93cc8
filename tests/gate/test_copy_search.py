"""The shortlist copy search flags what the exhaustive one flags (issue 16).

Planted copies of training images (factory.gate.planted's exact and perturbed copies, and
scaled, offset, shifted and noisier ones) must all be found by the shortlist (recall
100%); on real held-out images both searches must flag exactly the same images with a
threshold calibrated on other held-out images; wherever the exhaustive nearest image is
in the shortlist, both give the same nearest image and NCC.
"""

from __future__ import annotations

import numpy as np
import pytest

from factory.gate import memorization, planted
from factory.gate.features import build_extractor, extract_features
from factory.gate.realset import RealSet

from .conftest import CLASSES, breast_like

pytestmark = pytest.mark.slow  # features of ~400 images at 64 px

SIZE, K, SHIFT = 64, 8, 2


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(3)
    train = np.concatenate([breast_like(100, c, SIZE, rng) for c in (0, 1)])
    labels = np.repeat([0, 1], 100)
    val = np.concatenate([breast_like(40, c, SIZE, rng) for c in (0, 1)])
    test = np.concatenate([breast_like(40, c, SIZE, rng) for c in (0, 1)])
    real = planted.RealSets(
        classes=CLASSES,
        train=train,
        train_labels=labels,
        train_ids=np.array([f"t{i}" for i in range(len(train))]),
        val=val,
        val_labels=np.repeat([0, 1], 40),
        val_patients=np.arange(80).astype(str),
        test=test,
        test_labels=np.repeat([0, 1], 40),
        test_patients=np.arange(80).astype(str),
    )
    extractor = build_extractor("random_cnn", seed=0)
    feats = {
        name: extract_features(images, extractor, 64)
        for name, images in (("train", train), ("val", val), ("test", test))
    }
    return real, feats, extractor


def _copies(real: planted.RealSets, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Planted copies and the training index each was made from."""
    parts = [
        maker(real, seed=5, n=10).images for maker in (planted.copies, planted.perturbed_copies)
    ]
    # both draw their sources first from default_rng(seed), as this does
    planted_src = planted._stratified_pick(real.train_labels, 10, np.random.default_rng(5))
    pick = rng.choice(len(real.train), 10, replace=False)
    src = real.train[pick]
    own = {
        "scaled x0.8": src * 0.8,
        "offset +0.1": np.clip(src + 0.1, 0, 1),
        "shifted (2, -1) px": np.roll(src, (2, -1), axis=(1, 2)),
        "noise sd 0.05": np.clip(src + 0.05 * rng.standard_normal(src.shape), 0, 1),
    }
    images = np.concatenate([*parts, *own.values()]).astype(np.float32)
    truth = np.concatenate([planted_src, planted_src, np.tile(pick, len(own))])
    return images, truth


def _shortlist(queries, query_feats, world_, references=None):
    real, feats, _ = world_
    refs = real.train if references is None else references
    train_thumbs = memorization.thumbnails(refs, 64)
    shift = memorization.thumbnail_shift(SIZE, SHIFT)
    candidates = np.concatenate(
        [
            memorization.shortlist(query_feats, feats["train"], K),
            memorization.thumbnail_shortlist(
                memorization.thumbnails(queries), train_thumbs, K, shift
            ),
        ],
        axis=1,
    )
    ncc, idx = memorization.shortlist_ncc(queries, refs, candidates, SHIFT, 64)
    return ncc, idx, candidates


def test_shortlist_finds_every_planted_copy(world) -> None:
    real, _, extractor = world
    copies, truth = _copies(real, np.random.default_rng(1))
    copy_feats = extract_features(copies, extractor, 64)
    ncc, idx, _ = _shortlist(copies, copy_feats, world)
    exh_ncc, exh_idx = memorization.nearest_ncc(copies, real.train, SHIFT)
    assert (exh_idx == truth).all(), np.flatnonzero(exh_idx != truth)  # every source found
    assert (idx == truth).all(), f"shortlist missed copies {np.flatnonzero(idx != truth)}"
    assert np.allclose(ncc, exh_ncc, atol=1e-5)
    assert (ncc > 0.9).all()


def test_shortlist_flags_the_same_held_out_images_as_exhaustive(world) -> None:
    """Calibrated on val, judged on test (real held-out images): the same flags."""
    real, feats, extractor = world
    copies, _ = _copies(real, np.random.default_rng(2))
    queries = np.concatenate([real.test, copies])
    q_feats = np.concatenate([feats["test"], extract_features(copies, extractor, 64)])
    flags = {}
    for search in ("shortlist", "exhaustive"):
        if search == "shortlist":
            val_ncc, _, _ = _shortlist(real.val, feats["val"], world)
            q_ncc, _, _ = _shortlist(queries, q_feats, world)
        else:
            val_ncc, _ = memorization.nearest_ncc(real.val, real.train, SHIFT)
            q_ncc, _ = memorization.nearest_ncc(queries, real.train, SHIFT)
        # percentile 5 of 80 val images: a threshold that flags some honest images too,
        # so that "the same false-flag rate" is tested on more than zero flags
        t = memorization.calibrate(1 - val_ncc, 5.0)
        flags[search] = (1 - q_ncc) < t.value
    n_test = len(real.test)
    assert flags["shortlist"][n_test:].all() and flags["exhaustive"][n_test:].all()
    assert (flags["shortlist"] == flags["exhaustive"]).all()
    assert flags["exhaustive"][:n_test].mean() == flags["shortlist"][:n_test].mean()


def test_same_nearest_where_the_true_nearest_is_shortlisted(world) -> None:
    real, feats, _ = world
    ncc, idx, candidates = _shortlist(real.test, feats["test"], world)
    exh_ncc, exh_idx = memorization.nearest_ncc(real.test, real.train, SHIFT)
    inside = (candidates == exh_idx[:, None]).any(axis=1)
    assert inside.mean() > 0.5  # the comparison is about most queries
    assert (idx[inside] == exh_idx[inside]).all()
    assert np.allclose(ncc[inside], exh_ncc[inside], atol=1e-5)
    assert (ncc[~inside] <= exh_ncc[~inside] + 1e-5).all()  # never above the true nearest


def test_searches_over_a_lazy_training_set_in_chunks_agree(world) -> None:
    real, feats, _ = world
    lazy = RealSet.from_array(real.train, real.train_labels, real.train_ids)
    queries = real.test[:40]
    whole = memorization.nearest_ncc(queries, real.train, SHIFT)
    chunked = memorization.nearest_ncc(queries, lazy, SHIFT, ref_chunk=37)
    assert (whole[1] == chunked[1]).all() and np.allclose(whole[0], chunked[0], atol=1e-6)
    a = _shortlist(queries, feats["test"][:40], world)
    b = _shortlist(queries, feats["test"][:40], world, references=lazy)
    assert (a[1] == b[1]).all() and np.allclose(a[0], b[0], atol=1e-6)


def test_exhaustive_combines_chunks_like_a_single_pass_on_ties() -> None:
    """Duplicated training images: the earlier one wins, whatever the chunking."""
    rng = np.random.default_rng(0)
    base = rng.random((5, 20, 20)).astype(np.float32)
    train = np.concatenate([base, base])  # image i and i + 5 are equal
    ncc, idx = memorization.nearest_ncc(base, train, 1, ref_chunk=3)
    assert idx.tolist() == [0, 1, 2, 3, 4] and np.allclose(ncc, 1, atol=1e-5)
    cands = np.stack([np.arange(10)] * 5)
    ncc2, idx2 = memorization.shortlist_ncc(base, train, cands, 1, chunk=4)
    assert idx2.tolist() == [0, 1, 2, 3, 4] and np.allclose(ncc2, 1, atol=1e-5)
