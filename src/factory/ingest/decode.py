"""Files to display-ready pixels: a float image in [0, 1] where dense tissue is bright.

DICOM order (PS3.3 C.11, PS3.4 N.2): stored values -> padding mask -> modality LUT ->
VOI LUT (the VOI LUT Sequence when present, else the first window centre/width with
its VOILUTFunction LINEAR, LINEAR_EXACT or SIGMOID) -> MONOCHROME1 inverted. All of it
in float64 (pydicom's own functions), so no precision is lost before the final 16 bits.
PNG, TIFF and PGM files (converted datasets, mini-MIAS, hospital folders) are read with
Pillow and scaled by their bit depth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Which package decodes what, for the `no_decoder` message.
_DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg (JPEG 2000 Lossless)",
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg (JPEG 2000)",
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg (HTJ2K)",
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg (HTJ2K)",
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg (HTJ2K)",
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg (JPEG Lossless)",
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg (JPEG Lossless SV1)",
    "1.2.840.10008.1.2.4.50": "pylibjpeg-libjpeg (JPEG Baseline)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg (JPEG Extended)",
    "1.2.840.10008.1.2.4.80": "pylibjpeg-libjpeg or pyjpegls (JPEG-LS)",
    "1.2.840.10008.1.2.4.81": "pylibjpeg-libjpeg or pyjpegls (JPEG-LS)",
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (RLE Lossless)",
}
RASTER_SUFFIXES = (".png", ".tif", ".tiff", ".pgm")
DICOM_SUFFIXES = (".dcm", ".dicom", "")


class DecodeProblem(Exception):
    """A file that cannot become pixels; `reason` is a quarantine reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Decoded:
    """Pixels ready for preprocessing, plus the few tags the manifest may use."""

    image: np.ndarray  # float32 [0, 1], dense tissue bright
    valid: np.ndarray | None  # False where the detector padding is (None: all valid)
    pixel_sha256: str  # of the stored values: equal pixels = duplicate images
    laterality: str | None = None  # from (0020,0062) ImageLaterality, else (0020,0060)
    view: str | None = None  # from (0018,5101) ViewPosition


def is_dicom_path(path: Path) -> bool:
    return path.suffix.lower() not in RASTER_SUFFIXES


def decode_file(path: Path) -> Decoded:
    """Decode a DICOM or raster image file; raises DecodeProblem for bad files."""
    if is_dicom_path(path):
        return decode_dicom(path)
    return decode_raster(path)


def _pixel_hash(arr: np.ndarray) -> str:
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def decode_raster(path: Path) -> Decoded:
    """PNG (8/16-bit), TIFF or PGM grayscale, scaled to [0, 1] by its bit depth."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGB", "RGBA", "P", "LA"):
                im = im.convert("L")
            arr = np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DecodeProblem("unreadable", f"{type(exc).__name__}: {exc}") from None
    if arr.ndim != 2 or arr.size == 0:
        raise DecodeProblem("unreadable", f"expected a 2-D grayscale image, got {arr.shape}")
    if arr.dtype == np.uint8:
        top = 255.0
    elif arr.dtype == np.bool_:
        top = 1.0
    elif np.issubdtype(arr.dtype, np.integer):
        top = 65535.0 if arr.max() > 255 or arr.dtype.itemsize >= 2 else 255.0
    else:  # float TIFF: take its own range
        top = float(arr.max()) or 1.0
    image = (arr.astype(np.float32) / np.float32(top)).clip(0, 1)
    return Decoded(image=image, valid=None, pixel_sha256=_pixel_hash(arr))


def _read_dataset(path: Path):  # -> pydicom.Dataset
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DecodeProblem("unreadable", f"{type(exc).__name__}: {exc}") from None


def looks_truncated(ds) -> bool:
    """True when the file ended early: nothing after the file meta, or the last element
    holds fewer bytes than its declared length (pydicom reads such files silently)."""
    if len(ds) == 0:
        return True
    raw = ds.get_item(next(reversed(ds.keys())))  # raw: not yet converted
    length, value = getattr(raw, "length", None), getattr(raw, "value", None)
    if length in (None, 0xFFFFFFFF) or not isinstance(value, bytes):
        return False
    return len(value) < length


def _check_decoder(ds) -> None:
    from pydicom.pixels import get_decoder

    uid = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    package = _DECODER_PACKAGES.get(uid, "a pydicom pixel-data plugin for it")
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DecodeProblem(
            "no_decoder", f"transfer syntax {uid} is not supported by pydicom"
        ) from None
    if not decoder.is_available:
        raise DecodeProblem(
            "no_decoder", f"transfer syntax {uid} needs a decoder: pip install {package}"
        )


def _pixels(ds) -> np.ndarray:
    try:
        arr = ds.pixel_array
    except (ValueError, EOFError, OSError, AttributeError, KeyError, TypeError) as exc:
        raise DecodeProblem("unreadable", f"pixel data: {type(exc).__name__}: {exc}") from None
    except RuntimeError as exc:  # a plugin present but failing, e.g. a corrupt codestream
        raise DecodeProblem("unreadable", f"pixel data: {exc}") from None
    if arr.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) == 1:
        arr = arr[0]  # multi-frame: the first frame
    if arr.ndim != 2:
        raise DecodeProblem("unreadable", f"expected one grayscale frame, got {arr.shape}")
    return arr


def padding_mask(stored: np.ndarray, ds) -> np.ndarray | None:
    """True where stored values are detector padding (PixelPaddingValue [..RangeLimit])."""
    if "PixelPaddingValue" not in ds:
        return None
    a = int(ds.PixelPaddingValue)
    b = int(ds.get("PixelPaddingRangeLimit", a))
    lo, hi = min(a, b), max(a, b)
    mask = (stored >= lo) & (stored <= hi)
    return mask if mask.any() else None


def _voi_range(
    ds, used_lut: bool, values: np.ndarray, valid: np.ndarray | None
) -> tuple[float, float]:
    """The output range of the VOI step, to scale it to [0, 1].

    With a VOI LUT Sequence: the range of the LUT's own entries (many files declare 16
    bits but fill 12). With windowing: the range pydicom's apply_windowing maps onto
    (PS3.3 C.11.2.1.2). With neither: the image's own range over non-padding pixels.
    """
    if used_lut:
        from pydicom.pixels import apply_voi

        n_entries = int(ds.VOILUTSequence[0].LUTDescriptor[0] or 65536)
        first = int(ds.VOILUTSequence[0].LUTDescriptor[1])
        lut = apply_voi(np.arange(first, first + n_entries), ds)  # the entries, as decoded
        return float(lut.min()), float(lut.max())
    if "WindowCenter" in ds and "WindowWidth" in ds:
        if ds.get("ModalityLUTSequence"):
            return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
        bits = int(ds.BitsStored)
        if int(ds.get("PixelRepresentation", 0)) == 0:
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            slope, icpt = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            lo, hi = sorted((lo * slope + icpt, hi * slope + icpt))
        return lo, hi
    if valid is None:
        return float(values.min()), float(values.max())
    if not valid.any():
        return 0.0, 0.0
    kept = values[valid]
    return float(kept.min()), float(kept.max())


def _has_voi_lut(ds) -> bool:
    seq = ds.get("VOILUTSequence")
    return bool(seq) and "LUTDescriptor" in seq[0] and "LUTData" in seq[0]


def dicom_to_display(stored: np.ndarray, ds) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored values to [0, 1] float32 with dense tissue bright, and the padding mask.

    Uses pydicom's apply_modality_lut and apply_voi_lut (pydicom 3.0.2 implements
    LINEAR, LINEAR_EXACT and SIGMOID in apply_windowing, PS3.3 C.11.2.1.2-3).
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    pad = padding_mask(stored, ds)
    values = apply_modality_lut(stored, ds)
    used_lut = _has_voi_lut(ds)
    if used_lut and not np.issubdtype(values.dtype, np.integer):
        # A LUT indexes integers; rescaled values are whole numbers in practice.
        values = np.rint(values).astype(np.int32)
    values = apply_voi_lut(values, ds, index=0, prefer_lut=True)  # no-op without VOI tags
    valid = None if pad is None else ~pad
    lo, hi = _voi_range(ds, used_lut, values, valid)
    # float32 from here (24-bit mantissa: ample for a 16-bit result), in place: a
    # full-field mammogram is 13+ Mpx, so every float64 copy costs 100+ MB per worker.
    image = np.asarray(values, dtype=np.float32)
    del values
    if hi > lo:
        image -= np.float32(lo)
        image /= np.float32(hi - lo)
        np.clip(image, 0.0, 1.0, out=image)
    else:
        image[...] = 0.0
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        np.subtract(np.float32(1.0), image, out=image)
    if pad is not None:
        image[pad] = 0.0
    return image, valid


def _tag_laterality(ds) -> str | None:
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(ds.get(keyword, "") or "").strip().upper()
        if value in ("L", "R"):
            return value
    return None


def decode_dicom(path: Path) -> Decoded:
    """Read one DICOM file into display-ready pixels; raises DecodeProblem."""
    ds = _read_dataset(path)
    if looks_truncated(ds):
        raise DecodeProblem("unreadable", "the file is truncated")
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise DecodeProblem("no_pixel_data", "the file has no (7FE0,0010) Pixel Data")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DecodeProblem("unreadable", f"PhotometricInterpretation {photometric!r} is not grey")
    _check_decoder(ds)
    stored = _pixels(ds)
    try:
        image, valid = dicom_to_display(stored, ds)
    except (ValueError, AttributeError, KeyError, IndexError, NotImplementedError) as exc:
        raise DecodeProblem("unreadable", f"LUT/window tags: {type(exc).__name__}: {exc}") from None
    view = str(ds.get("ViewPosition", "") or "").strip().upper() or None
    return Decoded(
        image=image,
        valid=valid,
        pixel_sha256=_pixel_hash(stored),
        laterality=_tag_laterality(ds),
        view=view,
    )
