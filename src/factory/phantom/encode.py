"""From presentation pixels to the bytes real files hold: DICOM (several encodings), PNG,
TIFF and PGM.

The encodings real mammograms come in are spread over a set with `spread_encodings`, so
a small set still holds each of them. Every output is deterministic: UIDs are derived from
the seed, dates are the fake study dates, nothing reads the clock.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)

from factory.phantom.cohort import Identity

SYNTAXES = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless, "j2k": JPEG2000Lossless}
MAMMO_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray, For Presentation
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
VOI_KINDS = ("linear", "linear-multi", "sigmoid", "sigmoid-multi", "lut", "none")


def j2k_available() -> bool:
    """True when a JPEG 2000 lossless encoder (pylibjpeg-openjpeg >= 2) is installed."""
    return bool(get_encoder(JPEG2000Lossless).is_available)


def _encoder_plugin(syntax: str) -> str:
    """Prefer the compiled pylibjpeg encoders (fast); pydicom's own RLE is the fallback."""
    encoder = get_encoder(SYNTAXES[syntax])
    available = getattr(encoder, "available_plugins", ())
    return "pylibjpeg" if "pylibjpeg" in available else ""


@dataclass(frozen=True)
class Encoding:
    """How one image is stored."""

    syntax: str = "explicit"  # explicit, rle, j2k
    photometric: str = "MONOCHROME2"
    bits: int = 16  # bits stored: 12, 14 or 16
    voi: str = "linear"  # one of VOI_KINDS
    padding: bool = False
    full_range: bool = False  # scanned film: values span 0..2**bits-1

    def as_dict(self) -> dict:
        return asdict(self)


def spread_encodings(n: int, rng: np.random.Generator, **choices: tuple) -> list[Encoding]:
    """`n` encodings whose fields cycle through `choices` (balanced, then shuffled).

    Each field is balanced on its own and shuffled independently, so any set of at least
    max(len(choice)) images holds every value of every field.
    """
    columns = {}
    for name, values in choices.items():
        column = [values[i % len(values)] for i in range(n)]
        order = rng.permutation(n)
        columns[name] = [column[i] for i in order]
    return [Encoding(**{k: v[i] for k, v in columns.items()}) for i in range(n)]


@dataclass(frozen=True)
class Header:
    """The non-pixel DICOM content of one image."""

    identity: Identity
    age: int
    laterality: str
    view: str
    uid_key: tuple[str, ...]  # seed, layout, patient, breast, view: UIDs derive from it
    study_key: tuple[str, ...]
    pixel_spacing: float
    sop_class: str = MAMMO_PRESENTATION
    modality: bool = True  # RSNA files lack Modality and ViewPosition
    view_position: bool = True
    laterality_tag: str = "ImageLaterality"  # CBIS-DDSM uses Laterality (0020,0060)
    patient_name: str | None = None  # overrides identity.name (CBIS puts the case name here)
    patient_id: str | None = None
    manufacturer: str = "PHANTOM IMAGING"
    model: str = "Synthetic FFDM 1"
    burned_in: bool = False
    extra: dict = field(default_factory=dict)


def to_stored(
    image: np.ndarray, breast: np.ndarray, enc: Encoding
) -> tuple[np.ndarray, int | None]:
    """Presentation values in [0, 1] -> stored integers; returns (pixels, padding value)."""
    top = (1 << enc.bits) - 1
    lo, hi = (0, top) if enc.full_range else (round(0.03 * top), round(0.97 * top))
    stored = lo + image * np.float32(hi - lo)
    if enc.photometric == "MONOCHROME1":  # low values display white
        stored = top - stored
    pixels = np.rint(stored).astype(np.uint16)
    if not enc.padding:
        return pixels, None
    pad = 0 if enc.photometric == "MONOCHROME2" else top
    background = ~breast & (image < 0.5)  # leaves burned-in text alone
    pixels[background] = pad
    return pixels, pad


def window_of(pixels: np.ndarray, breast: np.ndarray) -> tuple[int, int]:
    """A reading window (centre, width) over the breast's stored values."""
    values = pixels[breast] if breast.any() else pixels.ravel()
    p1, p99 = np.percentile(values[:: max(1, values.size // 200_000)], [1, 99.5])
    return round((p1 + p99) / 2), max(2, round((p99 - p1) * 1.15))


def _voi(ds: Dataset, enc: Encoding, centre: int, width: int) -> dict:
    """Write the VOI transform tags; return what was written (for the ground truth)."""
    if enc.voi == "none":
        return {}
    if enc.voi == "lut":
        top = (1 << enc.bits) - 1
        x = np.arange(top + 1, dtype=np.float64)
        t = np.clip((x - (centre - width / 2)) / width, 0, 1) ** 0.8
        data = np.rint(t * 65535).astype(np.uint16)
        item = Dataset()
        # LUTDescriptor: entries (0 means 65536), first stored value mapped, bits per entry.
        item.add_new("LUTDescriptor", "US", [0 if top + 1 == 65536 else top + 1, 0, 16])
        item.LUTExplanation = "PHANTOM GAMMA 0.8"
        item.add_new("LUTData", "OW", data.astype("<u2").tobytes())
        ds.VOILUTSequence = Sequence([item])
        return {
            "voi_lut": {
                "entries": top + 1,
                "first": 0,
                "bits": 16,
                "gamma": 0.8,
                "centre": centre,
                "width": width,
            }
        }
    centres, widths, names = [centre], [width], ["NORMAL"]
    if enc.voi.endswith("-multi"):
        centres += [round(centre + 0.1 * width), centre]
        widths += [round(0.7 * width), round(1.4 * width)]
        names += ["HARDER", "SOFTER"]
    ds.WindowCenter = centres if len(centres) > 1 else centres[0]
    ds.WindowWidth = widths if len(widths) > 1 else widths[0]
    ds.WindowCenterWidthExplanation = names if len(names) > 1 else names[0]
    function = "SIGMOID" if enc.voi.startswith("sigmoid") else "LINEAR"
    ds.VOILUTFunction = function
    return {"window_centre": centres, "window_width": widths, "voi_lut_function": function}


def build_dataset(
    pixels: np.ndarray, pad: int | None, breast: np.ndarray, enc: Encoding, header: Header
) -> tuple[Dataset, dict]:
    """A complete DICOM dataset for `pixels`, and the VOI values it carries."""
    sop_uid = generate_uid(entropy_srcs=["factory-phantom", *header.uid_key, "sop"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = header.sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = (
        ["ORIGINAL", "PRIMARY", ""]
        if header.sop_class == MAMMO_PRESENTATION
        else ["DERIVED", "SECONDARY"]
    )
    ds.SOPClassUID = header.sop_class
    ds.SOPInstanceUID = sop_uid
    _study_tags(ds, header)
    _image_tags(ds, pixels, pad, enc, header)
    for keyword, value in header.extra.items():
        setattr(ds, keyword, value)
    centre, width = window_of(pixels, breast)
    voi = _voi(ds, enc, centre, width)

    if enc.syntax == "explicit":
        ds.PixelData = pixels.tobytes()
        ds["PixelData"].VR = "OW"
    else:
        ds.compress(
            SYNTAXES[enc.syntax],
            pixels,
            encoding_plugin=_encoder_plugin(enc.syntax),
            generate_instance_uid=False,
        )
    return ds, voi


def _study_tags(ds: Dataset, header: Header) -> None:
    """Patient, study and series: the fake PHI a de-identifier must drop."""
    ident = header.identity
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = ident.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = ident.accession
    if header.modality:
        ds.Modality = "MG"
    ds.Manufacturer = header.manufacturer
    ds.InstitutionName = ident.institution
    ds.InstitutionAddress = ident.address
    ds.ReferringPhysicianName = ident.physician
    ds.StationName = "PHANTOM-MG1"
    ds.StudyDescription = "MAMMOGRAPHY BILATERAL"
    ds.OperatorsName = ident.operator
    ds.ManufacturerModelName = header.model
    ds.PatientName = header.patient_name or ident.name
    ds.PatientID = header.patient_id or ident.patient_id
    ds.PatientBirthDate = ident.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = f"{header.age:03d}Y"
    ds.BodyPartExamined = "BREAST"
    ds.DeviceSerialNumber = "PH" + ident.accession[-6:]
    if header.view_position:
        ds.ViewPosition = header.view
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["factory-phantom", *header.study_key, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["factory-phantom", *header.uid_key, "series"])
    ds.StudyID = ident.accession[-4:]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1


def _image_tags(
    ds: Dataset, pixels: np.ndarray, pad: int | None, enc: Encoding, header: Header
) -> None:
    """Orientation, presentation and the pixel module."""
    # Row direction, column direction: LCC A\R, RCC P\L, LMLO A\FR, RMLO P\FL.
    cc = header.view == "CC"
    if header.laterality == "L":
        ds.PatientOrientation = ["A", "R" if cc else "FR"]
    else:
        ds.PatientOrientation = ["P", "L" if cc else "FL"]
    setattr(ds, header.laterality_tag, header.laterality)
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BurnedInAnnotation = "YES" if header.burned_in else "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = enc.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelSpacing = ds.ImagerPixelSpacing = [round(header.pixel_spacing, 4)] * 2
    ds.BitsAllocated = 16
    ds.BitsStored = enc.bits
    ds.HighBit = enc.bits - 1
    ds.PixelRepresentation = 0
    if header.sop_class == MAMMO_PRESENTATION:
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
    if pad is not None:
        ds.PixelPaddingValue = pad


def dataset_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def image_bytes(image: np.ndarray, fmt: str) -> bytes:
    """Presentation pixels as a PNG (8/16-bit), TIFF (16-bit) or PGM (8-bit) file."""
    buf = io.BytesIO()
    if fmt in ("png16", "tiff16"):
        pil = Image.fromarray(np.rint(image * 65535).astype(np.uint16))
        pil.save(buf, format="PNG" if fmt == "png16" else "TIFF")
    elif fmt in ("png8", "pgm8"):
        pil = Image.fromarray(np.rint(image * 255).astype(np.uint8))
        pil.save(buf, format="PNG" if fmt == "png8" else "PPM")
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()
