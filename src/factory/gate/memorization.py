"""Copy detection: is a synthetic image (nearly) one of the generator's training images?

Two nearest-neighbour searches against the real TRAINING images:

- pixels: normalized cross-correlation (NCC), the best over small shifts (+-`max_shift` px),
  so intensity scaling, additive noise and small translations do not hide a copy;
  distance = 1 - NCC;
- features: Euclidean distance in the gate's feature space.

A threshold for each distance is calibrated on real held-out (val) images: how close
does an honest new image of the same population come to the training set? A synthetic
image closer than the `percentile`-th percentile of those distances is flagged.

The NCC search at scale (gate.copy_search). `exhaustive` compares every query with every
training image at every shift (`nearest_ncc`; N_query x N_train x (2s+1)^2 dot products),
reading the training set one chunk at a time. `shortlist` first ranks the training
images cheaply and runs the shifted NCC only on each query's top k of two rankings
(`shortlist_ncc`):

- extractor features (`shortlist`: the Euclidean distance the feature copy flag uses);
- thumbnails (`thumbnail_shortlist`): each image average-pooled to 32 x 32 and compared
  as the NCC compares images, at low resolution: the best NCC over the thumbnail shifts
  that cover +-max_shift image pixels (at 512 px: +-1 thumbnail pixel, 9 shifts of 900
  values instead of 25 of 258,064).

Why a copy is in the shortlist: for a copy (exact, plus noise, intensity scaled or
offset, shifted by up to max_shift px) of training image t, t's thumbnail NCC is about 1:
normalising removes the scale and offset exactly, as in the NCC; averaging blocks of
side/32 px cancels pixel noise; the thumbnail shifts cover the image shifts (to a
fraction of a block). An honest image's thumbnail correlation with any training image
is clearly lower (different anatomy), so t ranks first or near it, and k (32 by default)
leaves room for training images nearly identical to t (other views of one breast). The
feature ranking adds what the features see and the thumbnails do not; alone it is not
enough: the random CNN's features move with the intensity scale more than the distance
between two honest images (a x0.9 copy was missed at k = 32 of 72 images in testing).
The same shortlist computes the val images' nearest NCC, so the threshold is calibrated
on the estimator it judges.

What it can miss: a copy whose source falls outside both top-k lists, i.e. when more
than k training images look more like it in thumbnail and in features than its source:
transformations the blurred centre does not survive (flips, rotations, crops, zooms,
shifts beyond max_shift: the exhaustive NCC misses those too) or heavy local edits. For
an honest image, a true nearest outside the shortlist makes its NCC look lower (farther
from the training set); that error falls the same way on the val calibration. The test
(tests/gate/test_copy_search.py) checks both searches flag the same images.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from factory.errors import FactoryError
from factory.gate.metrics import one_thread


def _normalised_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows minus their mean, divided by their norm (a constant row stays all zero)."""
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _centres(queries: np.ndarray, s: int) -> torch.Tensor:
    """Normalised query centres (a border of `s` px cut off), [N, (H-2s)(W-2s)]."""
    h, w = queries.shape[1:]
    q = torch.from_numpy(np.ascontiguousarray(queries[:, s : h - s, s : w - s])).float()
    return _normalised_rows(q.flatten(1))


def _shifts(s: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]


def _window(ref: torch.Tensor, s: int, dy: int, dx: int) -> torch.Tensor:
    """Normalised reference windows at shift (dy, dx), [N, (H-2s)(W-2s)]."""
    h, w = ref.shape[1:]
    return _normalised_rows(ref[:, s + dy : h - s + dy, s + dx : w - s + dx].flatten(1))


def _check(queries, references, max_shift: int) -> None:
    if tuple(queries.shape[1:]) != tuple(references.shape[1:]):
        raise FactoryError(
            f"copy search: image sizes differ, {tuple(queries.shape[1:])} vs "
            f"{tuple(references.shape[1:])}"
        )
    h, w = queries.shape[1:]
    if min(h, w) <= 2 * max_shift + 1:
        raise FactoryError(f"copy search: images of {h}x{w} px are too small for +-{max_shift} px")


def _ref_chunks(references, chunk: int):
    """(first position, images) of consecutive reference chunks (arrays or a RealSet)."""
    for start in range(0, len(references), chunk):
        yield start, references[start : start + chunk]


def _mapper(mapper):
    return mapper or (lambda fn, items, desc="": [fn(x) for x in items])


def nearest_ncc(
    queries: np.ndarray,
    references,
    max_shift: int = 2,
    chunk: int = 256,
    ref_chunk: int | None = None,
    mapper=None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the highest NCC with any reference image over all shifts.

    The query's centre (its border of `max_shift` px cut off) is compared with every
    reference window shifted by dy, dx in [-max_shift, max_shift]. Returns (best NCC [Nq],
    index of that reference [Nq]). Images are [N, H, W] floats; `references` may be a
    `factory.gate.realset.RealSet`: it is read `ref_chunk` images at a time (default: all
    at once for an array, `chunk` for a RealSet), so only one chunk of training images is
    in memory. The exhaustive search: every query against every reference.

    `mapper` (`factory.shard.map_shards`) deals the reference chunks out over processes;
    the per-chunk bests are combined in chunk order (an equal NCC keeps the earlier
    reference), so the result does not depend on how many processes ran.
    """
    _check(queries, references, max_shift)
    s = max_shift
    q_all = _centres(queries, s)
    n_ref = len(references)
    if ref_chunk is None:
        ref_chunk = n_ref if isinstance(references, np.ndarray) else chunk
    ref_chunk = max(1, min(ref_chunk, max(n_ref, 1)))

    def one(start: int) -> tuple[np.ndarray, np.ndarray]:
        ref = torch.from_numpy(np.ascontiguousarray(references[start : start + ref_chunk]))
        ref = ref.float()
        best = torch.full((len(q_all),), -2.0)
        best_idx = torch.zeros(len(q_all), dtype=torch.long)
        for dy, dx in _shifts(s):
            window = _window(ref, s, dy, dx)
            for q0 in range(0, len(q_all), chunk):
                ncc = q_all[q0 : q0 + chunk] @ window.T
                value, idx = ncc.max(dim=1)
                part = slice(q0, q0 + len(value))
                better = value > best[part]
                best[part] = torch.where(better, value, best[part])
                best_idx[part] = torch.where(better, idx, best_idx[part])
        return best.numpy(), best_idx.numpy() + start

    starts = list(range(0, n_ref, ref_chunk))
    parts = _mapper(mapper)(one, starts, "copy search (NCC, exhaustive)")
    best = np.full(len(q_all), -2.0, dtype=np.float32)
    best_idx = np.zeros(len(q_all), dtype=np.int64)
    for value, idx in parts:  # chunk order: an equal value keeps the earlier reference
        better = value > best
        best = np.where(better, value, best)
        best_idx = np.where(better, idx, best_idx)
    return np.clip(best, -1, 1).astype(np.float64), best_idx  # float round-off


THUMBNAIL = 32  # side of the shortlist's thumbnails (pixels)


def shortlist(
    query_feats: np.ndarray, reference_feats: np.ndarray, k: int, chunk: int = 256
) -> np.ndarray:
    """Indices [Nq, min(k, N)] of each query's k nearest references by feature distance
    (Euclidean, float64; torch.topk on cdist, `chunk` queries at a time), nearest first."""
    k = min(k, len(reference_feats))
    ref = torch.from_numpy(np.asarray(reference_feats)).double()
    out = []
    with one_thread():
        for q0 in range(0, len(query_feats), chunk):
            q = torch.from_numpy(np.asarray(query_feats[q0 : q0 + chunk])).double()
            out.append(torch.cdist(q, ref).topk(k, dim=1, largest=False).indices)
    if not out:
        return np.zeros((0, k), dtype=np.int64)
    return torch.cat(out).numpy()


def thumbnails(images, chunk: int = 256, size: int = THUMBNAIL) -> np.ndarray:
    """Thumbnails [N, size, size] float32: each image average-pooled (array or RealSet,
    read `chunk` images at a time)."""
    from torch.nn import functional as F

    out = []
    for start in range(0, len(images), chunk):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + chunk])).float()
        out.append(F.adaptive_avg_pool2d(batch[:, None], size)[:, 0])
    if not out:
        return np.zeros((0, size, size), dtype=np.float32)
    return torch.cat(out).numpy()


def thumbnail_shift(image_side: int, max_shift: int, size: int = THUMBNAIL) -> int:
    """The shift in thumbnail pixels that covers +-max_shift image pixels."""
    return int(np.ceil(max_shift * size / image_side)) if max_shift else 0


def thumbnail_shortlist(
    query_thumbs: np.ndarray, reference_thumbs: np.ndarray, k: int, shift: int, chunk: int = 256
) -> np.ndarray:
    """Indices [Nq, min(k, N)] of each query's k references of highest thumbnail NCC
    (best over +-`shift` thumbnail pixels, as `nearest_ncc` at low resolution;
    torch.topk, `chunk` queries at a time), highest first."""
    k = min(k, len(reference_thumbs))
    q_all = _centres(query_thumbs, shift)
    ref = torch.from_numpy(reference_thumbs)
    windows = [_window(ref, shift, dy, dx) for dy, dx in _shifts(shift)]
    out = []
    with one_thread():
        for q0 in range(0, len(q_all), chunk):
            q = q_all[q0 : q0 + chunk]
            best = torch.stack([q @ w.T for w in windows]).amax(dim=0)
            out.append(best.topk(k, dim=1).indices)
    return torch.cat(out).numpy() if out else np.zeros((0, k), dtype=np.int64)


def _window_norms(ref: torch.Tensor, s: int) -> torch.Tensor:
    """||window - its mean|| of every reference window, [R, 2s+1, 2s+1] (float64 sums;
    a constant window gets 1e-12, as `_normalised_rows` clamps it)."""
    h, w = ref.shape[1:]
    n = (h - 2 * s) * (w - 2 * s)
    out = torch.empty(len(ref), 2 * s + 1, 2 * s + 1, dtype=torch.float64)
    for dy, dx in _shifts(s):
        win = ref[:, s + dy : h - s + dy, s + dx : w - s + dx].double()
        s1, s2 = win.sum(dim=(1, 2)), (win * win).sum(dim=(1, 2))
        out[:, dy + s, dx + s] = (s2 - s1 * s1 / n).clamp_min(0).sqrt().clamp_min(1e-12)
    return out.float()


def _pair_correlations(refs: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """sum(centre * window) of each pair (refs[i], centres[i]) at every shift, [B, 2s+1,
    2s+1]: one grouped convolution (pair i = group i) instead of cutting 25 window copies
    per pair (measured on 1 thread: 16x faster at 64 px, 35x at 256 px). A centre has
    zero mean, so the window's mean need not be subtracted: the NCC is this over the
    window norm (`_window_norms`)."""
    from torch.nn import functional as F

    return F.conv2d(refs[None], centres[:, None], groups=len(refs))[0]


def shortlist_ncc(
    queries: np.ndarray,
    references,
    candidates: np.ndarray,
    max_shift: int = 2,
    chunk: int = 256,
    mapper=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The highest NCC of each query over its `candidates` [Nq, k] only (all shifts).

    `candidates` may list a reference twice for a query (the union of two rankings): each
    pair is compared once. The candidates are visited by reference position, `chunk`
    references at a time: each candidate image is read once however many queries list
    it, and only the listed ones of a chunk are read. Returns (best NCC [Nq], reference
    index [Nq]); an equal NCC keeps the lower reference index. `mapper` deals the
    reference chunks out over processes.
    """
    _check(queries, references, max_shift)
    s = max_shift
    nq = len(candidates)
    q_all = _centres(queries, s)
    # each (query, reference) pair once, in reference order
    codes = np.unique(candidates.astype(np.int64) * nq + np.arange(nq)[:, None])
    pair_t, pair_q = np.divmod(codes, max(nq, 1))
    bounds = np.searchsorted(pair_t, np.arange(0, len(references) + chunk, chunk))
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    h, w = queries.shape[1:]
    q_img = q_all.view(nq, h - 2 * s, w - 2 * s)
    batch = max(1, min(4096, (1 << 24) // (h * w)))  # pairs per conv (~64 MB of images)

    def one(span: tuple[int, int]) -> np.ndarray:
        a, b = span
        needed, local = np.unique(pair_t[a:b], return_inverse=True)
        ref = torch.from_numpy(np.ascontiguousarray(references[needed])).float()
        norms = _window_norms(ref, s)  # [R, 2s+1, 2s+1]
        qs = torch.from_numpy(pair_q[a:b])
        li = torch.from_numpy(local.astype(np.int64))
        best = torch.full((b - a,), -2.0)
        with one_thread():
            for p0 in range(0, b - a, batch):
                p = slice(p0, p0 + batch)
                value = _pair_correlations(ref[li[p]], q_img[qs[p]]) / norms[li[p]]
                best[p] = value.flatten(1).amax(dim=1)
        return best.numpy()

    values = np.concatenate(
        [np.zeros(0, np.float32), *_mapper(mapper)(one, spans, "copy search (NCC, shortlist)")]
    )
    best = np.full(nq, -2.0, dtype=np.float32)
    best_idx = np.zeros(nq, dtype=np.int64)
    if len(values):
        # per query: the highest value first, an equal value by the lower reference index
        rank = np.lexsort((pair_t, -values, pair_q))
        first = rank[np.r_[True, pair_q[rank][1:] != pair_q[rank][:-1]]]
        best[pair_q[first]], best_idx[pair_q[first]] = values[first], pair_t[first]
    return np.clip(best, -1, 1).astype(np.float64), best_idx


def nearest_feature(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query feature vector, the Euclidean distance to and index of the nearest."""
    with one_thread():
        d = torch.cdist(torch.from_numpy(queries).double(), torch.from_numpy(references).double())
        value, idx = d.min(dim=1)
    return value.numpy(), idx.numpy()


@dataclass(frozen=True)
class Threshold:
    """A calibrated distance threshold: smaller distances are flagged as copies."""

    value: float
    percentile: float
    method: str  # "empirical" or "weibull fit"
    n_calibration: int


def calibrate(
    distances: np.ndarray, percentile: float, min_images: int = 5, what: str = "distance"
) -> Threshold:
    """The `percentile`-th percentile of real held-out images' nearest-training distances.

    With n calibration images the empirical percentile is only resolved down to about
    100/n %: below that it collapses onto the smallest distance, and a new real image
    falls under it with probability ~1/(n+1), far above `percentile`. So when
    n * percentile / 100 < 1 the percentile comes from a Weibull distribution (location 0)
    fitted to the distances: a nearest-neighbour distance is the minimum of non-negative
    distances over the training set, and the Weibull is the extreme-value law of such
    minima; it stays above 0 (a Gumbel or normal fit can put the 1st percentile below 0
    and then flags nothing, not even exact copies). The fitted value is capped at the
    empirical one, so a poor fit can only make the test more lenient towards borderline
    images, never flag more. With n >= 100 / percentile the empirical percentile (linear
    interpolation) is used as it is.
    """
    d = np.asarray(distances, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < min_images:
        raise FactoryError(
            f"memorization calibration ({what}) needs at least {min_images} real val "
            f"images, got {len(d)}; give the val split more images or lower "
            "gate.min_calibration_images"
        )
    empirical = float(np.percentile(d, percentile))
    if percentile <= 0 or len(d) * percentile / 100 >= 1:
        return Threshold(empirical, percentile, "empirical", len(d))
    shape, _, scale = stats.weibull_min.fit(np.clip(d, 1e-9, None), floc=0)
    fitted = float(stats.weibull_min.ppf(percentile / 100, shape, 0, scale))
    if not np.isfinite(fitted):
        fitted = empirical
    return Threshold(min(fitted, empirical), percentile, "weibull fit", len(d))
