"""What every layout shares: the plan type, sizes, names, encodings, table writing."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory.io import atomic_write_text
from factory.phantom.cohort import Breast, Patient, label_of
from factory.phantom.encode import VOI_KINDS, Encoding, Header, j2k_available, spread_encodings
from factory.phantom.jobs import Job
from factory.phantom.render import ViewSpec

FULL_HEIGHT = 4084  # INbreast's full image height; pixel spacing scales from it
FULL_SPACING_MM = 0.07


@dataclass
class LayoutPlan:
    """The images to render, and how to write the label tables once they are rendered."""

    jobs: list[Job]
    finish: Callable[[Path, list[dict]], None]


def even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def spacing(height: int) -> float:
    return FULL_SPACING_MM * FULL_HEIGHT / height


def short_hash(*parts: object, n: int = 16) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:n]


def views(cohort: list[Patient]) -> list[tuple[Patient, Breast, str]]:
    """Every (patient, breast, view) of the cohort, in a fixed order."""
    return [(p, b, v) for p in cohort for b in p.breasts for v in b.views]


def all_syntaxes() -> tuple[str, ...]:
    return ("explicit", "rle", "j2k") if j2k_available() else ("explicit", "rle")


def mixed_encodings(n: int, rng: np.random.Generator) -> list[Encoding]:
    """Every encoding the issue lists, spread evenly over `n` images."""
    return spread_encodings(
        n,
        rng,
        syntax=all_syntaxes(),
        photometric=("MONOCHROME2", "MONOCHROME1"),
        bits=(12, 14, 16),
        voi=VOI_KINDS,
        padding=(True, False),
    )


def text_flags(n: int, rng: np.random.Generator, every: int = 3) -> list[bool]:
    """About one image in `every` gets a burned-in marker; at least one when n >= 1."""
    flags = np.zeros(n, dtype=bool)
    flags[: max(1, n // every) if n else 0] = True
    return [bool(x) for x in rng.permutation(flags)]


def spec(
    height: int,
    width: int,
    seed: int,
    patient: Patient,
    breast: Breast,
    view: str,
    *,
    text: str | None = None,
    scale: float = 1.0,
    film: bool = False,
) -> ViewSpec:
    """The render spec of one view; its generator key depends only on who and which view."""
    key = (seed, 2, patient.index, ord(breast.laterality), 0 if view == "CC" else 1)
    return ViewSpec(
        height=height,
        width=width,
        view=view,
        laterality=breast.laterality,
        density=patient.density,
        findings=breast.findings,
        key=key,
        breast_scale=scale,
        text=text,
        film=film,
    )


def header(
    seed: int, kind: str, patient: Patient, breast: Breast, view: str, height: int, **kw
) -> Header:
    return Header(
        identity=patient.identity,
        age=patient.age,
        laterality=breast.laterality,
        view=view,
        uid_key=(str(seed), kind, str(patient.index), breast.laterality, view),
        study_key=(str(seed), kind, str(patient.index)),
        pixel_spacing=spacing(height),
        **kw,
    )


def base_truth(patient: Patient, breast: Breast, patient_key: str) -> dict:
    return {
        "patient": patient_key,
        "phantom_patient": patient.index,
        "birads": breast.birads,
        "label": label_of(breast.birads),
        "malignant": breast.malignant,
        "age": patient.age,
    }


def csv_text(
    header: list[str], rows: list[list[object]], *, sep: str = ",", crlf: bool = False
) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[object]], **kw) -> None:
    atomic_write_text(path, csv_text(header, rows, **kw))
