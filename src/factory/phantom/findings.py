"""Lesions drawn onto a rendered breast: masses (round to spiculated) and calcifications.

Each lesion touches only a patch around its centre, so full-size images stay fast. The
functions add to the image in place and return where they drew (for the ground truth).
"""

from __future__ import annotations

import math

import numpy as np

from factory.phantom.anatomy import Geometry, breast_point, in_pectoral
from factory.phantom.cohort import Finding


def _patch(image: np.ndarray, cx: float, cy: float, radius: float):
    """Slices and local coordinates (dx, dy) of a square patch around (cx, cy)."""
    h, w = image.shape
    x0, x1 = max(0, int(cx - radius)), min(w, int(cx + radius) + 2)
    y0, y1 = max(0, int(cy - radius)), min(h, int(cy + radius) + 2)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    return (slice(y0, y1), slice(x0, x1)), dx, dy


def place(finding: Finding, geom: Geometry) -> tuple[float, float]:
    """Pixel centre of a finding in this view, kept out of the pectoral muscle."""
    depth = finding.depth
    x, y = breast_point(geom, depth, finding.across)
    while in_pectoral(geom, x, y) and depth < 0.85:
        depth += 0.05
        x, y = breast_point(geom, depth, finding.across)
    return (
        float(np.clip(x, 0.05 * geom.width, 0.95 * geom.width)),
        float(np.clip(y, 0.05 * geom.height, 0.95 * geom.height)),
    )


def add_mass(
    image: np.ndarray,
    alpha: np.ndarray,
    finding: Finding,
    cx: float,
    cy: float,
    rng: np.random.Generator,
) -> float:
    """Add a mass: circumscribed round/oval/lobulated, or irregular, or spiculated.

    Returns the radius drawn, in pixels.
    """
    height = image.shape[0]
    radius = max(1.5, finding.size * height)
    spiculated = finding.shape == "spiculated"
    reach = radius * (3.2 if spiculated else 1.6)
    where, dx, dy = _patch(image, cx, cy, reach)
    r = np.sqrt(dx * dx + dy * dy) + np.float32(1e-6)
    cos1, sin1 = dx / r, dy / r

    elongation = {"oval": rng.uniform(1.25, 1.6), "lobulated": rng.uniform(1.0, 1.3)}.get(
        finding.shape, rng.uniform(1.0, 1.15)
    )
    turn = rng.uniform(0, math.pi)
    # Outline R(theta): an ellipse, then lobes/irregularity as harmonics.
    ct, st = math.cos(turn), math.sin(turn)
    along = cos1 * np.float32(ct) + sin1 * np.float32(st)
    across = sin1 * np.float32(ct) - cos1 * np.float32(st)
    outline = 1 / np.sqrt(
        (along / np.float32(elongation)) ** 2 + (across * np.float32(elongation)) ** 2
    )
    roughness = {
        "round": 0.0,
        "oval": 0.0,
        "lobulated": 0.12,
        "irregular": 0.2,
        "spiculated": 0.12,
    }[finding.shape]
    ck, sk = cos1, sin1
    for _k in range(2, 9):
        ck, sk = ck * cos1 - sk * sin1, sk * cos1 + ck * sin1
        amp = (
            roughness
            * rng.uniform(0.3, 1.0)
            * (3 / (_k + 1) if finding.shape == "lobulated" else 1)
            / 2
        )
        phase = rng.uniform(0, 2 * math.pi)
        outline = outline + np.float32(amp) * (
            ck * np.float32(math.cos(phase)) - sk * np.float32(math.sin(phase))
        )
    edge = 0.1 if finding.shape in ("round", "oval", "lobulated") else 0.25
    t = (1 - r / (np.float32(radius) * outline)) / np.float32(edge) + 0.5
    body = np.clip(t, 0, 1) * np.sqrt(
        np.clip(1 - (r / (np.float32(radius) * outline)) ** 2, 0, 1) * 0.7 + 0.3
    )

    if spiculated:
        spikes = np.zeros_like(body)
        for _ in range(int(rng.integers(10, 22))):
            angle = rng.uniform(0, 2 * math.pi)
            length = radius * rng.uniform(1.4, 3.0)
            width = max(0.6, radius * rng.uniform(0.05, 0.1))
            along_s = dx * np.float32(math.cos(angle)) + dy * np.float32(math.sin(angle))
            perp = np.abs(dy * np.float32(math.cos(angle)) - dx * np.float32(math.sin(angle)))
            frac = np.clip(along_s / np.float32(length), 0, 1)
            line = np.exp(-((perp / (np.float32(width) * (1 - frac) + 0.5)) ** 2)) * (1 - frac)
            line[along_s < 0] = 0
            np.maximum(spikes, line, out=spikes)
        body = np.maximum(body, np.float32(0.7) * spikes)

    image[where] += np.float32(finding.contrast) * body * alpha[where]
    return radius


def _spot(
    image: np.ndarray, x: float, y: float, sigma: float, amp: float, stretch: float, angle: float
) -> None:
    where, dx, dy = _patch(image, x, y, 3 * sigma * stretch + 1)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    a = (dx * c + dy * s) / np.float32(stretch)
    b = dy * c - dx * s
    # Integrated over the pixel: a spot below a pixel keeps its total signal, not its peak.
    eff = max(sigma, 0.5)
    peak = amp * (sigma / eff) ** 2
    image[where] += np.float32(peak) * np.exp(-(a * a + b * b) / np.float32(2 * eff * eff))


def add_calcifications(
    image: np.ndarray,
    alpha: np.ndarray,
    finding: Finding,
    cx: float,
    cy: float,
    rng: np.random.Generator,
    *,
    with_density: bool = False,
) -> tuple[float, int]:
    """Coarse benign calcifications (few, large) or a cluster of fine ones (many, tiny).

    Returns (region radius in pixels, number of calcifications).
    """
    height = image.shape[0]
    spread = finding.size * height
    if finding.shape == "coarse":
        count = int(rng.integers(2, 7))
        sizes = rng.uniform(0.004, 0.009, count) * height
    else:
        count = int(rng.integers(12, 30) if with_density else rng.integers(6, 20))
        sizes = rng.uniform(0.0012, 0.003, count) * height
    if with_density:  # the faint focal density that often comes with a suspicious cluster
        blob = Finding("mass", "irregular", finding.size * 1.3, 0.12, 0, 0, False)
        add_mass(image, alpha, blob, cx, cy, rng)
    for k in range(count):
        ang, dist = rng.uniform(0, 2 * math.pi), spread * math.sqrt(rng.uniform(0, 1))
        x, y = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
        xi, yi = int(np.clip(x, 0, image.shape[1] - 1)), int(np.clip(y, 0, height - 1))
        if alpha[yi, xi] < 0.5:
            continue
        stretch = rng.uniform(1.0, 2.5) if finding.shape == "coarse" else rng.uniform(1.0, 1.8)
        _spot(image, x, y, float(sizes[k]), finding.contrast, stretch, rng.uniform(0, math.pi))
    return spread, count


def add_findings(
    image: np.ndarray,
    alpha: np.ndarray,
    geom: Geometry,
    findings: tuple[Finding, ...],
    rng: np.random.Generator,
) -> list[dict]:
    """Draw every finding of a breast into this view; return their truth records."""
    has_mass = any(f.kind == "mass" for f in findings)
    drawn = []
    for finding in findings:
        cx, cy = place(finding, geom)
        if finding.kind == "mass":
            radius = add_mass(image, alpha, finding, cx, cy, rng)
            count = 1
        else:
            with_density = finding.shape == "fine" and not has_mass
            radius, count = add_calcifications(
                image, alpha, finding, cx, cy, rng, with_density=with_density
            )
        drawn.append(
            {
                "kind": finding.kind,
                "shape": finding.shape,
                "x": round(cx, 1),
                "y": round(cy, 1),
                "radius": round(radius, 1),
                "count": count,
                "malignant": finding.malignant,
            }
        )
    return drawn
