"""One view of one breast, start to finish: tissue, findings, film look, burned-in text.

`render_view` is a pure function of its `ViewSpec`: the generator is keyed by the spec's
`key`, so an image never depends on which worker made it or in which order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from factory.phantom.anatomy import draw_geometry, render_breast
from factory.phantom.cohort import Finding
from factory.phantom.findings import add_findings


@dataclass(frozen=True)
class ViewSpec:
    """Everything that decides the pixels of one image."""

    height: int
    width: int
    view: str  # "CC" or "MLO"
    laterality: str  # "L" or "R"
    density: int
    findings: tuple[Finding, ...]
    key: tuple[int, ...]
    breast_scale: float = 1.0
    text: str | None = None  # burned-in marker such as "L-CC"
    film: bool = False  # scanned-film look (CBIS-DDSM, MIAS)


@dataclass
class Rendered:
    image: np.ndarray  # float32 in [0, 1], dense tissue bright
    breast: np.ndarray  # bool, the breast (and pectoral) region
    findings: list[dict] = field(default_factory=list)
    text_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of burned-in text


def text_bitmap(text: str, height_px: int) -> np.ndarray:
    """`text` in Pillow's built-in bitmap font, scaled by pixel repetition to ~height_px."""
    font = ImageFont.load_default_imagefont()
    _, y0, x1, y1 = font.getbbox(text)
    canvas = Image.new("L", (x1 + 2, y1 + 2), 0)
    ImageDraw.Draw(canvas).text((1, 1), text, fill=255, font=font)
    glyphs = np.asarray(canvas, dtype=np.float32)[y0:, :] / 255
    factor = max(1, round(height_px / max(1, y1 - y0)))
    return np.kron(glyphs, np.ones((factor, factor), dtype=np.float32))


def burn_text(
    image: np.ndarray, breast: np.ndarray, text: str, chest_wall: str
) -> tuple[int, int, int, int] | None:
    """Burn `text` in a corner away from the chest wall ("left"/"right"), clear of the breast."""
    h, w = image.shape
    glyphs = text_bitmap(text, max(7, int(0.03 * h)))
    gh, gw = glyphs.shape
    margin = max(2, int(0.02 * h))
    if gh + 2 * margin > h or gw + 2 * margin > w:
        return None
    x0 = w - margin - gw if chest_wall == "left" else margin
    for y0 in (margin, h - margin - gh):
        box = (
            slice(y0 - margin // 2, y0 + gh + margin // 2),
            slice(x0 - margin // 2, x0 + gw + margin // 2),
        )
        if not breast[box].any():
            region = image[y0 : y0 + gh, x0 : x0 + gw]
            np.maximum(region, glyphs * np.float32(0.97), out=region)
            return (x0, y0, x0 + gw, y0 + gh)
    return None


def film_look(image: np.ndarray, breast: np.ndarray, rng: np.random.Generator) -> None:
    """Scanned film: grey film base with scanner streaks, and a bright edge strip."""
    h, w = image.shape
    base = np.float32(rng.uniform(0.06, 0.1))
    streaks = rng.normal(0, 0.012, w).astype(np.float32)[None, :]
    grain = rng.normal(0, 0.01, (h, w)).astype(np.float32)
    background = ~breast
    image[background] = (base + streaks + grain)[background]
    if rng.random() < 0.6:  # the unexposed film edge caught by the scanner
        x0 = int(w * rng.uniform(0.9, 0.97))
        image[:, x0 : x0 + max(1, w // 200)] = np.float32(0.95)


def render_view(spec: ViewSpec) -> Rendered:
    """Render one mammogram in presentation values, laterality applied (R is mirrored)."""
    rng = np.random.default_rng(list(spec.key))
    geom = draw_geometry(spec.view, spec.height, spec.width, spec.breast_scale, rng)
    image, alpha = render_breast(geom, spec.density, rng)
    findings = add_findings(image, alpha, geom, spec.findings, rng)
    image += rng.normal(0, 0.006, image.shape).astype(np.float32)  # quantum noise
    breast = alpha > 0.5
    if spec.film:
        film_look(image, breast, rng)
    np.clip(image, 0, 1, out=image)
    chest_wall = "left"
    if spec.laterality == "R":  # chest wall on the right, as right breasts are displayed
        image, breast = image[:, ::-1].copy(), breast[:, ::-1].copy()
        for f in findings:
            f["x"] = round(spec.width - 1 - f["x"], 1)
        chest_wall = "right"
    text_box = burn_text(image, breast, spec.text, chest_wall) if spec.text else None
    return Rendered(image, breast, findings, text_box)
