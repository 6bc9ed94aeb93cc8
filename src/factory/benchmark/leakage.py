"""The leakage guard: an evaluated image must be real and from a patient nobody trained on.

This is the point of the benchmark. A synthetic set is only worth something if it helps a
classifier on real patients that neither the classifier nor the generator has seen; a
synthetic image in the test set, or a test patient whose images trained the generator,
would inflate the gain (as may have happened in the 80:20 protocol of Sutjiadi et al.).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from factory.errors import FactoryError

from .data import REAL, Pool, generator_training


class LeakageError(FactoryError):
    """An evaluated image is synthetic or comes from a patient seen in training."""


def _examples(values: Iterable[str], n: int = 3) -> str:
    values = sorted(set(values))
    more = f" (+{len(values) - n} more)" if len(values) > n else ""
    return ", ".join(values[:n]) + more


def assert_no_leakage(
    evaluated: pd.DataFrame,
    *,
    classifier_patients: Iterable[str],
    generator_patients: Iterable[str],
    synthetic_pixel_hashes: Iterable[str],
) -> None:
    """Raise LeakageError unless every evaluated row is a real image of an unseen patient.

    `evaluated` has the Pool row columns (image_id, patient_id, origin, pixel_sha256).
    """
    synthetic = evaluated["origin"] != REAL
    synthetic |= evaluated["pixel_sha256"].isin(set(synthetic_pixel_hashes))
    if synthetic.any():
        raise LeakageError(
            f"leakage: {int(synthetic.sum())} evaluated image(s) are synthetic "
            f"({_examples(evaluated.loc[synthetic, 'image_id'])}); the test set must be real only"
        )
    patients = set(evaluated["patient_id"])
    for who, seen in (("classifier", classifier_patients), ("generator", generator_patients)):
        shared = patients & set(seen)
        if shared:
            raise LeakageError(
                f"leakage: {len(shared)} evaluated patient(s) are in the {who}'s training data "
                f"({_examples(shared)}); test patients must be unseen"
            )


def generator_patients(pool: Pool) -> set[str]:
    """The real patients the generator trained on, from the synthetic set's lineage.

    Those are the training-split patients of the manifest whose sha256 the lineage records;
    if that is not the manifest we read, we cannot tell who they were, so we stop.
    """
    sha, splits = generator_training(pool.lineage)
    if sha is None:
        raise LeakageError(
            "the synthetic set's lineage.json records no training-manifest sha256 "
            "(model.manifest_sha256); cannot prove the test patients were unseen by the generator"
        )
    if sha != pool.manifest_sha256:
        raise LeakageError(
            f"the generator was trained on manifest sha256 {sha[:12]}..., but the benchmark reads "
            f"manifest sha256 {pool.manifest_sha256[:12]}...; cannot prove the test patients were "
            "unseen: benchmark with the manifest the generator was trained on"
        )
    real = pool.rows[pool.rows["origin"] == REAL]
    return set(real.loc[real["split"].isin(splits), "patient_id"])
