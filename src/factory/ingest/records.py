"""What adapters produce and what the pipeline quarantines.

An adapter turns a dataset folder into `SourceRecord`s (one per image file it should
ingest) plus `Quarantined` entries for what is wrong with the listing itself (a CSV row
whose file is missing, a file no CSV row names, a label missing from the CSV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Every reason an image can be quarantined; quarantine.jsonl uses exactly these words.
REASONS: dict[str, str] = {
    "unreadable": "the file cannot be read or is truncated",
    "no_pixel_data": "the DICOM file has no pixel data",
    "no_decoder": "no installed decoder for the file's transfer syntax",
    "no_breast": "no breast-sized foreground region found",
    "label_missing": "the label file gives no label for the image",
    "label_unmapped": "the image's label is not in the label map",
    "duplicate": "the same pixels as another image",
    "missing_file": "named in the label file but not on disk",
    "not_in_csv": "on disk but not named in the label file",
    "conflicting_labels": "listed more than once with different labels",
    "path_outside_folder": "the label file names it by an absolute path or one outside the folder",
}


@dataclass(frozen=True)
class SourceRecord:
    """One image to ingest, as the dataset describes it (values may be PHI: never output)."""

    file: Path  # absolute path of the image file
    rel: str  # path relative to the dataset root (identifies the image; stays local)
    patient: str  # the dataset's patient identifier (pseudonymised before output)
    source_label: str | None  # the dataset's label, normalised (e.g. BI-RADS "4a"); None = none
    view: str = "other"  # CC | MLO | other
    laterality: str | None = None  # L | R from the listing, if it has one
    listing: str = ""  # where the listing names it, e.g. "labels.csv row 7" (messages only)


@dataclass(frozen=True)
class Quarantined:
    """One file (or listing row) left out, and why."""

    file: str  # relative to the dataset root
    reason: str  # a key of REASONS
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown quarantine reason {self.reason!r}")


@dataclass
class Scan:
    """An adapter's result: the images to process and the listing problems found."""

    records: list[SourceRecord] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def normalise_view(value: object) -> str:
    """Map a dataset's view code to CC | MLO | other."""
    text = str(value or "").strip().upper()
    if text in ("CC", "XCCL", "XCCM"):
        return "CC"
    if text == "MLO":
        return "MLO"
    return "other"


def normalise_laterality(value: object) -> str | None:
    """Map L/LEFT/R/RIGHT (any case) to L | R; anything else to None."""
    text = str(value or "").strip().upper()
    if text in ("L", "LEFT"):
        return "L"
    if text in ("R", "RIGHT"):
        return "R"
    return None
