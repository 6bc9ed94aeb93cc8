"""The lazy training set (factory.gate.realset) and the parts that stream it (issue 16).

Streaming must not change a value: features per batch, sanity statistics and CNN pixels
per chunk are compared bit for bit with the whole-array computation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory.errors import FactoryError
from factory.gate import cnn, sanity
from factory.gate.features import build_extractor, extract_features
from factory.gate.realset import RealSet
from factory.io import write_png16
from factory.manifest import class_index, load_images, read_manifest

from .conftest import CLASSES, make_tiny_manifest


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    manifest = make_tiny_manifest(tmp_path_factory.mktemp("ingest"), patients=20, size=32)
    df = read_manifest(manifest)
    rows = df[df["split"] == "train"].reset_index(drop=True)
    lazy = RealSet.from_manifest(rows, manifest.parent, class_index(rows["label"], CLASSES))
    whole = load_images(rows, manifest.parent).astype(np.float32) / 65535.0
    return lazy, whole, rows, manifest.parent


def test_realset_reads_what_load_images_reads(train) -> None:
    lazy, whole, rows, _ = train
    assert len(lazy) == len(whole) and lazy.shape == whole.shape
    assert list(lazy.ids) == list(rows["image_id"]) and list(lazy.shas) == list(rows["sha256"])
    assert np.array_equal(lazy.load(slice(None)), whole)
    assert np.array_equal(lazy[[3, 1]], whole[[3, 1]]) and np.array_equal(lazy[2], whole[2])
    seen = np.concatenate([idx for idx, _ in lazy.chunks(5)])
    assert seen.tolist() == list(range(len(whole)))
    assert all(np.array_equal(images, whole[idx]) for idx, images in lazy.chunks(5))
    mask = lazy.labels == 1
    sub = lazy.subset(mask)
    assert np.array_equal(sub.load(slice(None)), whole[mask]) and (sub.labels == 1).all()
    assert np.array_equal(sub.subset([0, 2])[1], whole[mask][2])


def test_realset_refuses_to_materialise_and_names_an_odd_image(train, tmp_path) -> None:
    lazy, _, rows, root = train
    with pytest.raises(TypeError, match="read lazily"):
        np.asarray(lazy)
    odd = rows.copy()
    write_png16(tmp_path / "odd.png", np.zeros((16, 16), np.uint16))
    odd.loc[1, "path"] = str(tmp_path / "odd.png")  # absolute: root / abs = abs
    bad = RealSet.from_manifest(odd, root, lazy.labels)
    with pytest.raises(FactoryError, match="must all have one size"):
        list(bad.chunks(4))


def test_streamed_parts_equal_the_whole_array_bit_for_bit(train) -> None:
    lazy, whole, _, _ = train
    extractor = build_extractor("random_cnn", seed=0)
    assert np.array_equal(
        extract_features(lazy, extractor, 4), extract_features(whole, extractor, 4)
    )
    stats = sanity.set_stats(lazy, 0.05, chunk=3)
    assert stats.equals(sanity.image_stats(whole, 0.05))
    assert torch.equal(cnn.to_pixels(lazy, 16, chunk=3), cnn.to_pixels(whole, 16))


def test_arrays_given_to_the_gate_are_wrapped(train) -> None:
    from factory.gate.assess import GateInputs

    lazy, whole, _, _ = train
    inputs = GateInputs(
        classes=CLASSES,
        fake=whole[:4],
        fake_labels=lazy.labels[:4],
        train=whole,
        train_labels=lazy.labels,
        train_ids=lazy.ids,
        val=whole[:2],
        val_labels=lazy.labels[:2],
    )
    assert isinstance(inputs.train, RealSet) and np.array_equal(inputs.train[0], whole[0])
