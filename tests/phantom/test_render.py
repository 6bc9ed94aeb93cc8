"""The pixels: power-law texture, density, and findings that survive downsizing to 64 px."""

from __future__ import annotations

import numpy as np
from PIL import Image

from factory.phantom.anatomy import power_law_noise
from factory.phantom.cohort import Finding
from factory.phantom.render import ViewSpec, render_view


def _radial_slope(field: np.ndarray) -> float:
    power = np.abs(np.fft.fft2(field)) ** 2
    fy, fx = np.meshgrid(
        np.fft.fftfreq(field.shape[0]), np.fft.fftfreq(field.shape[1]), indexing="ij"
    )
    f = np.hypot(fy, fx)
    band = (f > 0.02) & (f < 0.25)
    return float(np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0])


def test_power_law_noise_has_the_asked_slope() -> None:
    field = power_law_noise((128, 128), 3.0, np.random.default_rng(0))
    assert abs(field.mean()) < 1e-4 and abs(field.std() - 1) < 1e-3
    assert -3.4 < _radial_slope(field) < -2.6


def _spec(findings: tuple, density: int = 2, view: str = "CC") -> ViewSpec:
    return ViewSpec(512, 418, view, "L", density, findings, key=(0, 9, 1))


def _at64(image: np.ndarray) -> np.ndarray:
    small = Image.fromarray(image).resize((52, 64), Image.BOX)
    return np.asarray(small)


def test_masses_stay_visible_at_64_px() -> None:
    """The same breast with and without its mass differs clearly at the mass after 64 px."""
    for density in (1, 3):
        for shape in ("round", "spiculated"):
            mass = Finding("mass", shape, 0.05, 0.3, 0.45, 0.1, shape == "spiculated")
            with_mass = render_view(_spec((mass,), density))
            without = render_view(_spec((), density))
            f = with_mass.findings[0]
            y, x = round(f["y"] / 8), round(f["x"] / 8)
            diff = _at64(with_mass.image)[y, x] - _at64(without.image)[y, x]
            assert diff > 0.12, (density, shape, diff)


def test_density_raises_mean_brightness() -> None:
    means = [render_view(_spec((), d)).image.mean() for d in (1, 2, 3, 4)]
    assert means == sorted(means)


def test_mlo_has_a_bright_pectoral_corner_and_cc_does_not() -> None:
    mlo = render_view(_spec((), 1, "MLO"))
    cc = render_view(_spec((), 1, "CC"))
    assert mlo.image[5:40, 5:40].mean() > 0.45
    assert cc.image[5:40, 5:40].mean() < mlo.image[5:40, 5:40].mean()


def test_right_breasts_are_mirrored_and_text_avoids_the_breast() -> None:
    spec = ViewSpec(256, 208, "CC", "R", 2, (), key=(1, 2, 3), text="R-CC")
    out = render_view(spec)
    assert out.breast[:, -5:].mean() > out.breast[:, :5].mean()  # chest wall on the right
    x0, y0, x1, y1 = out.text_box
    assert x1 < 104 and not out.breast[y0:y1, x0:x1].any()
    assert out.image[y0:y1, x0:x1].max() > 0.9
