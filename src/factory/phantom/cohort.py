"""Who is in the phantom set: women, breasts, views, BI-RADS, density, findings, fake PHI.

Everything here is drawn from a seeded `numpy.random.Generator` keyed by (seed, patient),
so patient `p` is the same whatever the patient count and whatever the worker order.
Pure data, no pixels: the renderer turns it into images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# INbreast's BI-RADS counts over its 410 images (Moreira et al. 2012).
BIRADS_COUNTS: dict[str, int] = {
    "1": 67,
    "2": 220,
    "3": 23,
    "4a": 13,
    "4b": 8,
    "4c": 22,
    "5": 49,
    "6": 8,
}
BIRADS = tuple(BIRADS_COUNTS)
BENIGN = ("2", "3")
SUSPICIOUS = ("4a", "4b", "4c", "5", "6")

# ACR density, roughly as in INbreast (most breasts ACR 1-2, few ACR 4).
ACR_WEIGHTS: dict[int, float] = {1: 0.33, 2: 0.36, 3: 0.24, 4: 0.07}

# INbreast: 90 women with both breasts (4 images), 25 with one (2 images); a few with 3.
VIEW_COUNT_WEIGHTS: dict[int, float] = {4: 0.74, 3: 0.06, 2: 0.20}

# Malignancy probability given BI-RADS (the pathology a biopsy would find).
MALIGNANT_P: dict[str, float] = {
    "1": 0.0,
    "2": 0.0,
    "3": 0.02,
    "4a": 0.1,
    "4b": 0.4,
    "4c": 0.7,
    "5": 0.95,
    "6": 1.0,
}

_FIRST = ("JANE", "MARIA", "ANNA", "LINDA", "SARAH", "EMMA", "ROSA", "HELEN", "NORA", "IRIS")
_LAST = ("DOE", "ROE", "SMITH", "SILVA", "COSTA", "NOVAK", "BERG", "LOPEZ", "MOREAU", "KOWALSKI")
_TOWNS = ("Springfield", "Riverton", "Lakeside", "Fairview", "Greenville")


@dataclass(frozen=True)
class Finding:
    """One lesion of a breast, in breast-relative units so every view places it alike.

    `depth` runs from the chest wall (0) to the nipple (1); `across` from -1 to 1 across
    the breast; `size` is the radius as a fraction of the image height.
    """

    kind: str  # "mass" or "calcification"
    shape: str  # mass: round, oval, lobulated, irregular, spiculated; calc: coarse, fine
    size: float
    contrast: float
    depth: float
    across: float
    malignant: bool


@dataclass(frozen=True)
class Breast:
    laterality: str  # "L" or "R"
    birads: str
    views: tuple[str, ...]  # "CC", "MLO"
    findings: tuple[Finding, ...]

    @property
    def malignant(self) -> bool:
        return any(f.malignant for f in self.findings)


@dataclass(frozen=True)
class Identity:
    """Fake, realistic-looking PHI for the DICOM headers (so de-identification has work)."""

    name: str
    patient_id: str
    birth_date: str
    study_date: str
    accession: str
    institution: str
    address: str
    physician: str
    operator: str


@dataclass(frozen=True)
class Patient:
    index: int
    age: int
    density: int  # ACR 1-4
    breasts: tuple[Breast, ...]
    identity: Identity


def patient_rng(seed: int, purpose: int, *keys: int) -> np.random.Generator:
    """An independent generator for (seed, purpose, keys...), whatever the drawing order."""
    return np.random.default_rng([seed, purpose, *keys])


def _pick(rng: np.random.Generator, weights: dict) -> object:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def draw_mass(rng: np.random.Generator, suspicious: bool, malignant: bool) -> Finding:
    if suspicious:
        shape = str(rng.choice(["spiculated", "irregular", "spiculated", "lobulated"]))
        size = rng.uniform(0.05, 0.1)
    else:
        shape = str(rng.choice(["round", "oval", "oval", "lobulated"]))
        size = rng.uniform(0.045, 0.085)
    return Finding(
        kind="mass",
        shape=shape,
        size=float(size),
        contrast=float(rng.uniform(0.26, 0.36)),
        depth=float(rng.uniform(0.25, 0.7)),
        across=float(rng.uniform(-0.5, 0.5)),
        malignant=malignant,
    )


def draw_calcification(rng: np.random.Generator, suspicious: bool, malignant: bool) -> Finding:
    return Finding(
        kind="calcification",
        shape="fine" if suspicious else "coarse",
        size=float(rng.uniform(0.02, 0.04) if suspicious else rng.uniform(0.05, 0.1)),
        contrast=float(rng.uniform(0.3, 0.4)),
        depth=float(rng.uniform(0.25, 0.75)),
        across=float(rng.uniform(-0.55, 0.55)),
        malignant=malignant,
    )


def draw_findings(rng: np.random.Generator, birads: str) -> tuple[Finding, ...]:
    """BI-RADS 1: none; 2-3: benign masses/coarse calcs; 4a-6: suspicious ones.

    Most abnormal breasts get a mass large enough to survive downsizing to 64 px.
    """
    if birads == "1":
        return ()
    suspicious = birads in SUSPICIOUS
    malignant = bool(rng.random() < MALIGNANT_P[birads])
    has_mass = rng.random() < (0.8 if suspicious else 0.75)
    has_calc = rng.random() < (0.5 if suspicious else 0.45) or not has_mass
    found = []
    if has_mass:
        found.append(draw_mass(rng, suspicious, malignant))
        if not suspicious and rng.random() < 0.15:  # benign masses often come in pairs
            found.append(draw_mass(rng, suspicious, False))
    if has_calc:
        found.append(draw_calcification(rng, suspicious, malignant and not has_mass))
    return tuple(found)


def draw_identity(rng: np.random.Generator, index: int, age: int) -> Identity:
    year = int(rng.integers(2008, 2011))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    first, last = str(rng.choice(_FIRST)), str(rng.choice(_LAST))
    town = str(rng.choice(_TOWNS))
    return Identity(
        name=f"{last}^{first}",
        patient_id=f"PHN{int(rng.integers(10**7, 10**8))}",
        birth_date=f"{year - age}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        study_date=f"{year}{month:02d}{day:02d}",
        accession=f"A{int(rng.integers(10**8, 10**9))}",
        institution=f"{town} General Hospital",
        address=f"{int(rng.integers(1, 400))} Hospital Road, {town}",
        physician=f"{rng.choice(_LAST)!s}^{rng.choice(_FIRST)!s}^^DR",
        operator=f"{rng.choice(_LAST)!s}^{rng.choice(_FIRST)!s}",
    )


def draw_patient(seed: int, index: int) -> Patient:
    """One phantom woman: age, density, 2-4 views over one or both breasts, findings."""
    rng = patient_rng(seed, 1, index)
    age = int(np.clip(rng.normal(57, 11), 35, 88))
    density = int(_pick(rng, ACR_WEIGHTS))
    n_views = int(_pick(rng, VIEW_COUNT_WEIGHTS))
    if n_views == 4:
        plan = {"R": ("CC", "MLO"), "L": ("CC", "MLO")}
    elif n_views == 3:
        one_cc = str(rng.choice(["L", "R"]))
        plan = {"R": ("CC", "MLO"), "L": ("CC", "MLO")}
        plan[one_cc] = ("CC",) if rng.random() < 0.5 else ("MLO",)
    else:
        plan = {str(rng.choice(["L", "R"])): ("CC", "MLO")}
    breasts = []
    for side in ("R", "L"):
        if side not in plan:
            continue
        birads = str(_pick(rng, BIRADS_COUNTS))
        breasts.append(Breast(side, birads, plan[side], draw_findings(rng, birads)))
    return Patient(index, age, density, tuple(breasts), draw_identity(rng, index, age))


def draw_cohort(seed: int, patients: int) -> list[Patient]:
    """The phantom cohort: patient `p` depends only on (seed, p)."""
    return [draw_patient(seed, p) for p in range(patients)]


def label_of(birads: str) -> str:
    """The default two-class label: normal = BI-RADS 1, abnormal = BI-RADS 2-6."""
    return "normal" if birads == "1" else "abnormal"
