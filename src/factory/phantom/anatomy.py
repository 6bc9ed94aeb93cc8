"""The breast itself: outline, skin line, fat, fibroglandular tissue, pectoral muscle.

Images are rendered as float32 "presentation" values in [0, 1] (dense tissue bright), with
the chest wall on the left; the caller flips right breasts. All randomness comes from the
generator passed in. Units: pixels of the image being rendered, so one code path serves
64 px thumbnails and 4084 px full-field images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from PIL import Image

# Presentation values (0 = air, 1 = calcium); fat/gland contrast as on a processed FFDM.
AIR = 0.03
FAT = 0.30
GLAND = 0.66
MUSCLE = 0.58
SKIN = 0.05

# Fraction of the breast that is fibroglandular, per ACR density class.
GLAND_FRACTION = {1: 0.12, 2: 0.3, 3: 0.52, 4: 0.78}


@dataclass(frozen=True)
class Geometry:
    """The breast outline of one view (pixels; chest wall at x = 0)."""

    height: int
    width: int
    view: str
    cy: float  # where the breast's axis meets the chest wall
    ax: float  # semi-axis along the breast (chest wall to nipple)
    ay: float  # semi-axis across
    tilt: float  # radians; MLO breasts droop
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) for k = 2, 3, ...
    nipple: float
    pectoral: tuple[float, float, float] | None  # (width, height, bulge) on MLO


def draw_geometry(
    view: str, height: int, width: int, scale: float, rng: np.random.Generator
) -> Geometry:
    """A plausible outline for a CC or MLO view; `scale` < 1 gives a small breast."""
    harmonics = tuple(
        (float(rng.uniform(0, 0.03)), float(rng.uniform(0, 2 * math.pi))) for _ in range(3)
    )
    if view == "CC":
        return Geometry(
            height,
            width,
            view,
            cy=height * rng.uniform(0.46, 0.54),
            ax=width * scale * rng.uniform(0.5, 0.7),
            ay=height * scale * rng.uniform(0.36, 0.45),
            tilt=float(rng.uniform(-0.06, 0.06)),
            harmonics=harmonics,
            nipple=float(rng.uniform(0.0, 0.03)),
            pectoral=None,
        )
    pectoral = (
        width * scale * rng.uniform(0.22, 0.42),
        height * scale * rng.uniform(0.35, 0.6),
        float(rng.uniform(-0.4, 0.4)),
    )
    ay = height * scale * rng.uniform(0.42, 0.5)
    return Geometry(
        height,
        width,
        view,
        cy=ay * rng.uniform(0.8, 0.95),  # the axillary tail reaches the top edge
        ax=width * scale * rng.uniform(0.62, 0.85),
        ay=ay,
        tilt=float(rng.uniform(0.22, 0.42)),
        harmonics=harmonics,
        nipple=float(rng.uniform(0.0, 0.03)),
        pectoral=pectoral,
    )


def breast_point(geom: Geometry, depth: float, across: float) -> tuple[float, float]:
    """Pixel (x, y) of a point given in breast-relative units (depth 0..1, across -1..1)."""
    u = depth * geom.ax
    v = across * geom.ay * math.sqrt(max(1 - depth**2, 0.05))
    c, s = math.cos(geom.tilt), math.sin(geom.tilt)
    return u * c - v * s, geom.cy + u * s + v * c


def in_pectoral(geom: Geometry, x: float, y: float, margin: float = 0.15) -> bool:
    if geom.pectoral is None:
        return False
    pw, ph, bulge = geom.pectoral
    a, b = x / pw, y / ph
    return a + b + bulge * a * b < 1 + margin


def radial_coordinates(geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(rho, x): rho = 0 at the chest-wall centre, 1 on the skin; x = column index."""
    h, w = geom.height, geom.width
    y = np.arange(h, dtype=np.float32)[:, None] - np.float32(geom.cy)
    x = np.arange(w, dtype=np.float32)[None, :] + np.float32(0.5)
    c, s = np.float32(math.cos(geom.tilt)), np.float32(math.sin(geom.tilt))
    un = (x * c + y * s) / np.float32(geom.ax)
    vn = (y * c - x * s) / np.float32(geom.ay)
    r = np.sqrt(un * un + vn * vn) + np.float32(1e-6)
    cos1, sin1 = un / r, vn / r
    outline = np.ones_like(r)
    ck, sk = cos1, sin1
    for amp, phase in geom.harmonics:  # cos(k*theta + phase) for k = 2, 3, 4 by recurrence
        ck, sk = ck * cos1 - sk * sin1, sk * cos1 + ck * sin1
        outline += np.float32(amp) * (
            ck * np.float32(math.cos(phase)) - sk * np.float32(math.sin(phase))
        )
    if geom.nipple > 0:
        outline += np.float32(geom.nipple) * np.exp((cos1 - 1) / np.float32(0.004))
    return r / outline, np.broadcast_to(x, r.shape)


def power_law_noise(
    shape: tuple[int, int],
    beta: float,
    rng: np.random.Generator,
    *,
    stretch: float = 1.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Gaussian noise with power spectrum 1/f^beta, zero mean, unit std (float32).

    Shaped in the Fourier domain (the standard way to make 1/f^beta fields; no library
    offers it). `stretch` > 1 elongates structures along `angle`, like ducts running to
    the nipple.
    """
    h, w = shape
    fh, fw = scipy.fft.next_fast_len(h, real=True), scipy.fft.next_fast_len(w, real=True)
    fy = np.fft.fftfreq(fh).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(fw).astype(np.float32)[None, :]
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    fu = (fx * c + fy * s) * np.float32(stretch)
    fv = fy * c - fx * s
    f2 = fu * fu + fv * fv
    f2[0, 0] = np.inf
    amp = f2 ** np.float32(-beta / 4)
    spec = rng.standard_normal((fh, fw // 2 + 1, 2), dtype=np.float32).view(np.complex64)[..., 0]
    spec *= amp
    field = scipy.fft.irfft2(spec, s=(fh, fw), workers=1)[:h, :w]
    field -= field.mean()
    field /= field.std() + 1e-12
    return field.astype(np.float32, copy=False)


WORK_HEIGHT = 1024  # texture is made at most this tall, then resized (see `texture`)


def texture(
    shape: tuple[int, int],
    beta: float,
    rng: np.random.Generator,
    *,
    stretch: float = 1.0,
    angle: float = 0.0,
) -> np.ndarray:
    """`power_law_noise` made at <= WORK_HEIGHT rows and resized bilinearly to `shape`.

    Tissue structures have a physical size: made at full resolution, ridges of a 4084 px
    image would be a pixel wide and vanish when viewed; made at a working size they keep
    the look of the 512 px image, and full-size rendering stays fast.
    """
    h, w = shape
    if h <= WORK_HEIGHT:
        return power_law_noise(shape, beta, rng, stretch=stretch, angle=angle)
    small = (WORK_HEIGHT, max(2, round(w * WORK_HEIGHT / h)))
    field = power_law_noise(small, beta, rng, stretch=stretch, angle=angle)
    resized = Image.fromarray(field).resize((w, h), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def render_breast(
    geom: Geometry, density: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Render the tissue of one view: (image in [0, 1], breast alpha in [0, 1])."""
    h, w = geom.height, geom.width
    rho, x = radial_coordinates(geom)
    small = min(geom.ax, geom.ay)
    alpha = np.clip((1 - rho) * np.float32(small) + 0.5, 0, 1)  # anti-aliased outline
    thickness = _smoothstep((1 - rho) / np.float32(0.16))
    thickness = np.sqrt(thickness)

    # Fibroglandular tissue: thresholded 1/f^3 noise, denser centrally, with a fat band
    # behind it at the chest wall and subcutaneous fat under the skin.
    glands = texture((h, w), 3.0, rng, stretch=1.8, angle=geom.tilt)
    envelope = np.clip(1 - rho / np.float32(0.86), 0, 1) ** np.float32(0.6)
    envelope *= 1 - np.float32(0.55) * np.exp(-((x / np.float32(0.14 * geom.ax)) ** 2))
    score = glands + np.float32(2.2) * envelope
    inside = rho[::4, ::4] < 0.95
    sample = score[::4, ::4][inside] if inside.any() else score.ravel()
    threshold = np.quantile(sample, 1 - GLAND_FRACTION[density])
    gland = 1 / (1 + np.exp(-(score - np.float32(threshold)) / np.float32(0.4)))
    del glands, score

    # Curvilinear structures (Cooper's ligaments, ducts) and fat-lobule mottling.
    strands = texture((h, w), 3.6, rng, stretch=2.5, angle=geom.tilt)
    ridge = np.exp(-((strands / np.float32(0.07)) ** 2))
    del strands
    mottle = texture((h, w), 2.0, rng)

    tissue = FAT + (GLAND - FAT) * gland * (np.float32(0.9) + np.float32(0.1) * mottle)
    tissue += np.float32(0.12) * ridge * (0.3 + 0.7 * envelope)
    tissue += np.float32(0.02) * mottle
    del ridge, gland

    if geom.pectoral is not None:
        pw, ph, bulge = geom.pectoral
        ya = np.arange(h, dtype=np.float32)[:, None] / np.float32(ph)
        xa = x / np.float32(pw)
        edge = 1 - (xa + ya + np.float32(bulge) * xa * ya)
        p_alpha = np.clip(edge * np.float32(min(pw, ph) / 2) + 0.5, 0, 1)
        # Brighter toward the axilla, mottled, with fibres along the muscle.
        fibres = texture((h, w), 3.0, rng, stretch=4.0, angle=math.atan2(ph, -pw))
        muscle = (
            MUSCLE
            + np.float32(0.12) * np.clip(edge, 0, 1) ** 0.5
            + np.float32(0.04) * mottle
            + np.float32(0.03) * fibres
        )
        tissue = p_alpha * muscle + (1 - p_alpha) * tissue
        thickness = np.maximum(thickness, p_alpha)
        alpha = np.maximum(alpha, p_alpha)
    del mottle

    skin_w = max(1.0, 0.006 * h) / small
    skin = np.exp(-(((rho - np.float32(1 - skin_w)) / np.float32(skin_w)) ** 2))
    image = AIR + alpha * (thickness * (tissue - AIR) + SKIN * skin)
    return image.astype(np.float32, copy=False), alpha.astype(np.float32, copy=False)
