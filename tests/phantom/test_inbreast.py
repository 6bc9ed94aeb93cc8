"""The default phantom set: INbreast's layout, readable DICOMs, every encoding, determinism."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import apply_voi_lut

from factory.io import sha256_tree
from factory.phantom import TRUTH_FILE, read_truth, write_layout
from factory.phantom.cohort import BIRADS_COUNTS, draw_cohort
from factory.phantom.encode import j2k_available

NAME = re.compile(r"^(\d+)_([0-9a-f]{16})_MG_([LR])_(CC|ML)_ANON\.dcm$")
COLUMNS = [
    "Patient ID",
    "Patient age",
    "Laterality",
    "View",
    "Acquisition date",
    "File Name",
    "ACR",
    "Bi-Rads",
]


@pytest.fixture(scope="module")
def inbreast(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ph") / "inbreast"
    return write_layout("inbreast", out, patients=6, seed=3, height=128, progress=False)


@pytest.fixture(scope="module")
def dicoms(inbreast) -> dict[str, pydicom.Dataset]:
    return {p.name: pydicom.dcmread(p) for p in sorted((inbreast / "AllDICOMs").glob("*.dcm"))}


def test_layout_files_in_place(inbreast: Path) -> None:
    names = sorted(p.name for p in (inbreast / "AllDICOMs").iterdir())
    assert len(names) >= 12
    assert all(NAME.match(n) for n in names), names
    assert (inbreast / "INbreast.csv").is_file()
    assert (inbreast / TRUTH_FILE).is_file()


def test_csv_parses_with_inbreast_columns(inbreast: Path) -> None:
    raw = (inbreast / "INbreast.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n"), "every line ends in CRLF"
    table = pd.read_csv(inbreast / "INbreast.csv", sep=";", dtype=str, keep_default_na=False)
    assert list(table.columns) == COLUMNS
    assert set(table["Patient ID"]) == {"removed"}
    assert (table["ACR"] == "").sum() == 1, "one row has a blank ACR, as in the real file"
    assert set(table["Bi-Rads"]) <= set(BIRADS_COUNTS)
    assert set(table["ACR"]) - {""} <= {"1", "2", "3", "4"}
    files = {NAME.match(p.name)[1]: p.name for p in (inbreast / "AllDICOMs").iterdir()}
    assert set(table["File Name"]) == set(files)
    for _, row in table.iterrows():
        m = NAME.match(files[row["File Name"]])
        assert m[3] == row["Laterality"]
        assert {"CC": "CC", "ML": "MLO"}[m[4]] == row["View"]
        assert re.fullmatch(r"20(08|09|10)(0[1-9]|1[0-2])", row["Acquisition date"])


def test_every_dicom_decodes_and_has_the_tags(dicoms: dict) -> None:
    for name, ds in dicoms.items():
        m = NAME.match(name)
        pixels = ds.pixel_array
        assert pixels.shape == (128, 104) and pixels.dtype == np.uint16, name
        assert int(pixels.max()) < 2**ds.BitsStored
        assert ds.Modality == "MG"
        assert ds.ImageLaterality == m[3]
        assert ds.ViewPosition == {"CC": "CC", "ML": "MLO"}[m[4]]
        for keyword in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "StudyDate",
            "InstitutionName",
        ):
            assert str(ds.get(keyword, "")).strip(), f"{name} lacks {keyword}"
        apply_voi_lut(pixels, ds)  # every VOI description is one pydicom understands


def test_every_encoding_occurs(dicoms: dict) -> None:
    seen = Counter()
    for ds in dicoms.values():
        seen[ds.PhotometricInterpretation] += 1
        seen[f"bits{ds.BitsStored}"] += 1
        seen[ds.file_meta.TransferSyntaxUID.name] += 1
        seen[ds.get("VOILUTFunction", "no-function")] += 1
        seen["several-windows"] += "WindowCenter" in ds and ds["WindowCenter"].VM > 1
        seen["voi-lut-sequence"] += "VOILUTSequence" in ds
        seen["padding"] += "PixelPaddingValue" in ds
        seen["burned-in"] += ds.BurnedInAnnotation == "YES"
    wanted = [
        "MONOCHROME1",
        "MONOCHROME2",
        "bits12",
        "bits14",
        "bits16",
        "Explicit VR Little Endian",
        "RLE Lossless",
        "LINEAR",
        "SIGMOID",
        "several-windows",
        "voi-lut-sequence",
        "padding",
        "burned-in",
    ]
    if j2k_available():
        wanted.append("JPEG 2000 Image Compression (Lossless Only)")
    missing = [w for w in wanted if not seen[w]]
    assert not missing, f"never written: {missing}; seen {dict(seen)}"


def test_photometric_and_padding_are_honest(dicoms: dict, inbreast: Path) -> None:
    """Dense tissue is bright after MONOCHROME1 inversion; padding marks only background."""
    truth = {Path(r["file"]).name: r for r in read_truth(inbreast)}
    for name, ds in dicoms.items():
        pixels = ds.pixel_array.astype(np.int64)
        top = 2**ds.BitsStored - 1
        shown = top - pixels if ds.PhotometricInterpretation == "MONOCHROME1" else pixels
        h, w = shown.shape
        left = ds.ImageLaterality == "L"  # chest wall on the left for left breasts
        chest = (slice(h // 3, 2 * h // 3), slice(0, w // 8) if left else slice(w - w // 8, w))
        far = (slice(None), slice(w - 3, w) if left else slice(0, 3))
        assert np.median(shown[chest]) > np.median(shown[far]) + 0.1 * top, name
        if "PixelPaddingValue" in ds:
            pad = ds.PixelPaddingValue
            assert pad == truth[name]["encoding"]["padding_value"]
            assert (pixels[far] == pad).mean() > 0.5
            assert not (pixels[chest] == pad).any()


def test_truth_matches_files_and_csv(inbreast: Path) -> None:
    table = pd.read_csv(inbreast / "INbreast.csv", sep=";", dtype=str, keep_default_na=False)
    by_name = dict(zip(table["File Name"], table["Bi-Rads"], strict=True))
    records = read_truth(inbreast)
    assert len(records) == len(table)
    for r in records:
        assert (inbreast / r["file"]).is_file()
        assert by_name[r["file_name"]] == r["birads"]
        assert r["label"] == ("normal" if r["birads"] == "1" else "abnormal")
        assert bool(r["findings"]) == (r["birads"] != "1")
        assert r["phi"]["PatientName"]


def test_same_seed_same_bytes(tmp_path: Path, inbreast: Path) -> None:
    again = write_layout(
        "inbreast", tmp_path / "again", patients=6, seed=3, height=128, progress=False
    )
    assert sha256_tree(again) == sha256_tree(inbreast)
    other = write_layout(
        "inbreast", tmp_path / "other", patients=6, seed=4, height=128, progress=False
    )
    assert sha256_tree(other) != sha256_tree(inbreast)


@pytest.mark.slow
def test_workers_do_not_change_bytes(tmp_path: Path) -> None:
    one = write_layout("inbreast", tmp_path / "one", patients=3, seed=1, height=96, progress=False)
    two = write_layout(
        "inbreast", tmp_path / "two", patients=3, seed=1, height=96, workers=2, progress=False
    )
    assert sha256_tree(one) == sha256_tree(two)


def test_png_conversions(tmp_path: Path) -> None:
    out = write_layout(
        "inbreast", tmp_path / "png", patients=2, seed=0, height=64, png=True, progress=False
    )
    dcm = sorted(p.stem for p in (out / "AllDICOMs").glob("*.dcm"))
    png = sorted(p.stem for p in (out / "AllPNGs").glob("*.png"))
    assert dcm == png and dcm


def test_birads_proportions_follow_inbreast() -> None:
    cohort = draw_cohort(0, 1500)
    counts = Counter(b.birads for p in cohort for b in p.breasts for _ in b.views)
    total = sum(counts.values())
    assert 4700 < total < 5800  # ~3.5 views per woman, as INbreast's 410 / 115
    for birads, n in BIRADS_COUNTS.items():
        expected = n / 410
        assert abs(counts[birads] / total - expected) < 0.02 + 0.15 * expected, birads


def test_findings_follow_birads() -> None:
    for patient in draw_cohort(1, 400):
        for breast in patient.breasts:
            shapes = {f.shape for f in breast.findings}
            if breast.birads == "1":
                assert not shapes
            elif breast.birads in ("2", "3"):
                assert shapes and shapes <= {"round", "oval", "lobulated", "coarse"}
            else:
                assert shapes and shapes <= {"spiculated", "irregular", "lobulated", "fine"}
