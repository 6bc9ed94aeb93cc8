"""Pixel pipeline: LUT order, windowing against hand-computed values, decoders, crop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless

from factory.ingest.decode import DecodeProblem, decode_dicom, decode_file
from factory.ingest.preprocess import NoBreast, crop_to_breast, preprocess


def ramp(values: list[int]) -> np.ndarray:
    return np.array([values], dtype=np.uint16)


def test_monochrome1_is_inverted_so_dense_is_bright(tmp_path: Path, kit) -> None:
    stored = ramp([0, 1000, 4095])
    m1 = decode_dicom(kit.write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    m2 = decode_dicom(kit.write_dicom(tmp_path / "m2.dcm", stored, photometric="MONOCHROME2"))
    np.testing.assert_allclose(m2.image[0], [0.0, 1000 / 4095, 1.0], rtol=1e-6)
    np.testing.assert_allclose(m1.image[0], [1.0, 1 - 1000 / 4095, 0.0], rtol=1e-6)


def test_linear_window_matches_ps33_formula(tmp_path: Path, kit) -> None:
    # LINEAR, c=2000, w=1001 on 12 bits: x <= 1499.5 -> 0; x > 2499.5 -> 1;
    # else ((x - 1999.5) / 1000 + 0.5)
    stored = ramp([1000, 1499, 1500, 2000, 2499, 2500])
    path = kit.write_dicom(
        tmp_path / "lin.dcm", stored, WindowCenter=2000, WindowWidth=1001, VOILUTFunction="LINEAR"
    )
    expected = [0.0, 0.0, 0.0005, 0.5005, 0.9995, 1.0]
    np.testing.assert_allclose(decode_dicom(path).image[0], expected, atol=1e-6)


def test_linear_exact_window(tmp_path: Path, kit) -> None:
    stored = ramp([1500, 1750, 2000, 2250])
    path = kit.write_dicom(
        tmp_path / "le.dcm",
        stored,
        WindowCenter=2000,
        WindowWidth=1000,
        VOILUTFunction="LINEAR_EXACT",
    )
    np.testing.assert_allclose(decode_dicom(path).image[0], [0.0, 0.25, 0.5, 0.75], atol=1e-6)


def test_sigmoid_window_and_first_of_several(tmp_path: Path, kit) -> None:
    stored = ramp([2048, 2298, 1798, 3048])
    path = kit.write_dicom(
        tmp_path / "sig.dcm",
        stored,
        WindowCenter=[2048, 100],
        WindowWidth=[1000, 50],
        VOILUTFunction="SIGMOID",
    )
    expected = [1 / (1 + math.exp(-4 * (x - 2048) / 1000)) for x in (2048, 2298, 1798, 3048)]
    assert expected[1] == pytest.approx(0.7310585786)
    np.testing.assert_allclose(decode_dicom(path).image[0], expected, rtol=1e-5)


def test_voi_lut_sequence_wins_over_window(tmp_path: Path, kit) -> None:
    table = np.arange(3096) * 2  # 16-bit LUT filled to 6190, first mapped value 1000
    stored = ramp([500, 1000, 2548, 4095])
    path = kit.write_dicom(
        tmp_path / "lut.dcm",
        stored,
        VOILUTSequence=kit.Sequence([kit.voi_lut_item(1000, table)]),
        WindowCenter=100,
        WindowWidth=10,
    )
    expected = [0.0, 0.0, 3096 / 6190, 1.0]  # below first -> entry 0; above -> last
    np.testing.assert_allclose(decode_dicom(path).image[0], expected, atol=1e-6)


def test_modality_lut_comes_before_the_window(tmp_path: Path, kit) -> None:
    # Rescale 2x - 100, then LINEAR_EXACT c=1900 w=1000 in rescaled units
    stored = ramp([1000, 1250])
    path = kit.write_dicom(
        tmp_path / "mod.dcm",
        stored,
        RescaleSlope=2,
        RescaleIntercept=-100,
        WindowCenter=1900,
        WindowWidth=1000,
        VOILUTFunction="LINEAR_EXACT",
    )
    # (1900 - 1900)/1000 + 0.5 = 0.5 ; (2400 - 1900)/1000 + 0.5 = 1.0
    np.testing.assert_allclose(decode_dicom(path).image[0], [0.5, 1.0], atol=1e-6)


def test_padding_is_excluded_and_stays_background(tmp_path: Path, kit) -> None:
    stored = ramp([0, 0, 1000, 3000])  # 0 = padding; MONOCHROME1 would turn it white
    path = kit.write_dicom(
        tmp_path / "pad.dcm", stored, photometric="MONOCHROME1", PixelPaddingValue=0
    )
    decoded = decode_dicom(path)
    np.testing.assert_allclose(decoded.image[0], [0.0, 0.0, 1.0, 0.0], atol=1e-6)
    assert decoded.valid is not None and decoded.valid[0].tolist() == [False, False, True, True]


def test_jpeg2000_decodes_like_the_uncompressed_file() -> None:
    j2k = get_testdata_file("MR_small_jp2klossless.dcm", download=False)
    raw = get_testdata_file("MR_small.dcm", download=False)
    if j2k is None or raw is None:
        pytest.skip("pydicom's JPEG 2000 test file is not on this machine")
    a, b = pydicom.dcmread(j2k).pixel_array, pydicom.dcmread(raw).pixel_array
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(decode_dicom(Path(j2k)).image, decode_dicom(Path(raw)).image)


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, RLELossless], ids=["j2k", "rle"])
def test_compressed_mammogram_round_trips(tmp_path: Path, kit, syntax: str) -> None:
    stored = kit.breast_pixels(bits=14)
    plain = decode_dicom(kit.write_dicom(tmp_path / "a.dcm", stored, bits=14))
    packed = decode_dicom(kit.write_dicom(tmp_path / "b.dcm", stored, bits=14, syntax=syntax))
    assert pydicom.dcmread(tmp_path / "b.dcm").file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(plain.image, packed.image)
    assert plain.pixel_sha256 == packed.pixel_sha256


def test_tags_give_laterality_and_view(tmp_path: Path, kit) -> None:
    path = kit.write_dicom(tmp_path / "t.dcm", kit.breast_pixels(), laterality=None, view="MLO")
    ds = pydicom.dcmread(path)
    ds.Laterality = "R"  # (0020,0060) only, as in CBIS-DDSM
    ds.save_as(path)
    decoded = decode_dicom(path)
    assert (decoded.laterality, decoded.view) == ("R", "MLO")


def test_raster_png_8_and_16_bit(tmp_path: Path) -> None:
    from PIL import Image

    a8 = np.array([[0, 128, 255]], dtype=np.uint8)
    Image.fromarray(a8).save(tmp_path / "a.png")
    a16 = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(a16).save(tmp_path / "b.png")
    np.testing.assert_allclose(decode_file(tmp_path / "a.png").image[0], [0, 128 / 255, 1])
    np.testing.assert_allclose(decode_file(tmp_path / "b.png").image[0], [0, 32768 / 65535, 1])


def test_bad_files_raise_the_right_reason(tmp_path: Path, kit) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom at all" * 10)
    good = kit.write_dicom(tmp_path / "good.dcm", kit.breast_pixels())
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = kit.write_dicom(tmp_path / "empty.dcm", kit.breast_pixels(), pixel_data=False)
    for path, reason in ((junk, "unreadable"), (cut, "unreadable"), (empty, "no_pixel_data")):
        with pytest.raises(DecodeProblem) as info:
            decode_dicom(path)
        assert info.value.reason == reason, path.name


def test_missing_decoder_names_the_package(tmp_path: Path, kit, monkeypatch) -> None:
    import pydicom.pixels

    path = kit.write_dicom(tmp_path / "j.dcm", kit.breast_pixels(), syntax=JPEG2000Lossless)

    class Unavailable:
        is_available = False

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: Unavailable())
    with pytest.raises(DecodeProblem) as info:
        decode_dicom(path)
    assert info.value.reason == "no_decoder"
    assert "pylibjpeg-openjpeg" in info.value.detail


def test_crop_removes_text_and_aligns_chest_wall_left(kit) -> None:
    stored = kit.breast_pixels(96, 72, side="R", text=True).astype(np.float32) / 4095
    out = preprocess(stored, 32)
    assert out.dtype == np.uint16 and out.shape == (32, 32)
    columns = out.astype(float).sum(axis=0)
    assert columns[:8].sum() > 3 * columns[-8:].sum()  # chest wall (bulk) on the left
    crop = crop_to_breast(stored)
    assert crop.shape[0] < 0.9 * 96  # the text rows (3..9) are not in the box
    # the marker pixels (1.0) are gone; tissue is clipped to 0.95 by construction
    assert (crop >= 0.999).sum() == 0


def test_uniform_image_has_no_breast() -> None:
    with pytest.raises(NoBreast):
        crop_to_breast(np.zeros((64, 64), np.float32))
    speck = np.zeros((200, 200), np.float32)
    speck[10:14, 10:14] = 1.0
    with pytest.raises(NoBreast):
        crop_to_breast(speck)


def test_fill_holes_matches_scipy() -> None:
    from scipy import ndimage

    from factory.ingest.preprocess import fill_holes

    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((40, 30)) < rng.uniform(0.3, 0.8)
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
