"""Bounded memory (issue 16): 4x the training images, at most 1.2x the gate's peak memory.

Each measurement is a fresh subprocess that loads the inputs as the stage does
(`run.load_inputs`: the training set stays on disk) and runs every part of the gate that
reads training images: extractor features, within-class MS-SSIM, the shortlist and the
exhaustive copy search and the sanity statistics; then it reports its peak RSS (VmHWM).
Left out, to keep the test short: FRD (radiomics read one image at a time, tested in
test_radiomics.py), the CNN probes (they read at most gate.cnn_max_images training
images: bounded by that setting, not by the set), and the metrics on feature matrices.

Images are 256 px, so that the training set is large beside the process's ~700 MB of
libraries: N_SMALL = 192 images are 48 MB as float32, 4 x N_SMALL = 192 MB, and reading
the whole set at once costs several copies of that (sanity works in float64).

The test can fail: with gate.chunk_images above the set size every part reads the whole
set at once (as the gate did before), and the same comparison must then exceed 1.2x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.io import write_png16

from .conftest import breast_like, write_samples

SIZE, N_SMALL, N_FAKE, N_VAL = 256, 192, 16, 12
CLASSES = ("normal", "abnormal")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from factory.gate import assess as A, memorization, run
    from factory.gate.config import GateConfig
    from factory.gate.parts import Parts
    from factory.gate.reference import within_class_ms_ssim

    samples, manifest, chunk, whole = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    config = GateConfig(
        extractor="random_cnn", frd=False, batch_size=16, chunk_images=chunk,
        copy_shortlist=4, diversity_pairs=8,
    )
    inputs, _ = run.load_inputs(samples, manifest, CLASSES)
    if whole == "1":  # the gate before issue 16: every training image in memory
        import dataclasses
        images = inputs.train.load(slice(None))
        inputs = dataclasses.replace(inputs, train=images)
    parts = Parts()
    sets = A._features(inputs, config, [0, 1], parts)  # extractor features, batch by batch
    within_class_ms_ssim(sets.train, 8, np.random.default_rng(0))  # the pairs' images only
    A._per_image(inputs, sets, config, parts)  # shortlist copy search and sanity, chunked
    memorization.nearest_ncc(inputs.fake, inputs.train, 2, ref_chunk=chunk)  # exhaustive
    status = open("/proc/self/status").read().split("\\n")
    peak = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")][0]
    print(json.dumps({"peak_mb": peak / 1024, "train": len(inputs.train)}))
    """
).replace("CLASSES", repr(CLASSES))


def _manifest(root: Path, n_train: int, images: np.ndarray, labels: np.ndarray) -> Path:
    """A manifest over the first n_train training PNGs plus the val ones (same files)."""
    rows = []
    for i in range(n_train + N_VAL):
        split = "train" if i < n_train else "val"
        k = i if i < n_train else len(images) - N_VAL + (i - n_train)
        rows.append(
            {
                "image_id": f"img-{k:04d}",
                "patient_id": f"pat-{k:04d}",
                "label": CLASSES[int(labels[k])],
                "source_label": "x",
                "view": "CC",
                "laterality": "L",
                "split": split,
                "fold": 0,
                "sha256": "0" * 64,
                "source_sha256": "0" * 64,
                "source": "test",
                "path": f"images/img-{k:04d}.png",
            }
        )
    path = root / f"manifest-{n_train}.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    rng = np.random.default_rng(0)
    n_all = 4 * N_SMALL + N_VAL
    labels = np.arange(n_all) % 2
    (root / "images").mkdir()
    for k in range(n_all):
        image = breast_like(1, int(labels[k]), SIZE, rng)[0]
        write_png16(root / f"images/img-{k:04d}.png", np.round(image * 65535).astype(np.uint16))
    fake = np.concatenate([breast_like(N_FAKE // 2, c, SIZE, rng) for c in (0, 1)])
    samples = write_samples(root / "sample", fake, np.repeat([0, 1], N_FAKE // 2))
    manifests = {n: _manifest(root, n, np.zeros(n_all), labels) for n in (N_SMALL, 4 * N_SMALL)}
    return samples, manifests


def peak_mb(samples: Path, manifests: list[Path], whole: bool) -> list[float]:
    """Peak RSS (MB) of one run per manifest, the runs side by side (2 cores)."""
    chunk = 100_000 if whole else 16
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(samples), str(m), str(chunk), str(int(whole))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        for m in manifests
    ]
    peaks = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        peaks.append(json.loads(out.strip().splitlines()[-1])["peak_mb"])
    return peaks


@pytest.mark.slow
def test_four_times_the_training_images_stay_within_1_2x_peak_memory(sets) -> None:
    samples, manifests = sets
    both = [manifests[N_SMALL], manifests[4 * N_SMALL]]
    small, large = peak_mb(samples, both, whole=False)
    assert large <= 1.2 * small, f"peak {small:.0f} MB -> {large:.0f} MB with 4x the images"
    # The same measurement of the whole-set gate (training images in memory, one chunk):
    whole_small, whole_large = peak_mb(samples, both, whole=True)
    print(
        f"peak MB: streaming {small:.0f} -> {large:.0f}; "
        f"whole set {whole_small:.0f} -> {whole_large:.0f}"
    )
    assert whole_large > 1.2 * whole_small, (
        f"the test cannot fail: whole-set peak {whole_small:.0f} -> {whole_large:.0f} MB"
    )
