"""The real training images as a lazy set: listed by manifest rows, read when asked for.

The gate never holds every training image at once (issue 16: 40,000 images at 512 px
are 42 GB as float32). A `RealSet` knows its rows (labels, image ids, sha256 of the
stored PNGs) and reads images [N, H, W] float32 in [0, 1] only for the indices asked:

- `chunks(size)` walks the whole set `size` images at a time (features, sanity statistics,
  the exhaustive copy search);
- `load(indices)` / `set[indices]` reads just those (MS-SSIM pairs, the CNN's capped
  subset, the copy-search shortlist, the report's pictures);
- `subset(indices)` is a view on some rows (e.g. the classes that have synthetic images),
  still lazy.

`RealSet.from_array` wraps images already in memory (tests, planted sets) so that every
consumer takes one type. Indexing returns images, as an array would; `np.asarray(set)` is
refused, so nothing materialises the whole set by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from factory.errors import FactoryError
from factory.io import read_png16

Reader = Callable[[int], np.ndarray]  # row -> image [H, W] float32 in [0, 1]


def to_unit(pixels: np.ndarray) -> np.ndarray:
    """16-bit pixels -> float32 in [0, 1] (as the gate always converted them)."""
    return pixels.astype(np.float32) / 65535.0


class RealSet:
    """Real images by row: `labels`, `ids`, `shas` in memory, pixels read on demand."""

    def __init__(
        self,
        labels: np.ndarray,
        ids: np.ndarray,
        shas: np.ndarray | None,
        read: Reader,
        shape: tuple[int, int],
        rows: np.ndarray | None = None,
        where: str = "real images",
    ) -> None:
        self.labels = np.asarray(labels)
        self.ids = np.asarray(ids)
        self.shas = None if shas is None else np.asarray(shas)
        self._read = read
        self._shape = tuple(shape)
        self._rows = np.arange(len(self.labels)) if rows is None else np.asarray(rows)
        self._where = where
        self._array: np.ndarray | None = None  # set by from_array: images in memory
        if not len(self.labels) == len(self.ids) == len(self._rows):
            raise ValueError("RealSet: labels, ids and rows differ in length")

    # --- construction ---------------------------------------------------------------

    @classmethod
    def from_manifest(
        cls, rows: pd.DataFrame, root: str | Path, labels: np.ndarray, where: str = ""
    ) -> RealSet:
        """The images of manifest `rows` (paths relative to `root`); reads the first one
        for the image size, the rest when asked."""
        root = Path(root)
        paths = [root / p for p in rows["path"]]
        where = where or str(root)
        if not paths:
            raise FactoryError(f"{where}: no images")

        def read(i: int) -> np.ndarray:
            return to_unit(read_png16(paths[i]))

        shape = read(0).shape
        shas = rows["sha256"].astype(str).to_numpy() if "sha256" in rows else None
        return cls(labels, rows["image_id"].astype(str).to_numpy(), shas, read, shape, None, where)

    @classmethod
    def from_array(
        cls, images: np.ndarray, labels: np.ndarray, ids: np.ndarray, shas: np.ndarray | None = None
    ) -> RealSet:
        """Images already in memory [N, H, W] (float in [0, 1]) behind the same interface."""
        images = np.asarray(images)
        if images.ndim != 3:
            raise ValueError(f"RealSet.from_array: expected [N, H, W], got {images.shape}")
        out = cls(labels, ids, shas, images.__getitem__, images.shape[1:], None, "in memory")
        out._array = images
        return out

    # --- what it is -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self._shape)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self._shape  # type: ignore[return-value]

    ndim = 3

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "a RealSet is read lazily: use chunks(size) or load(indices), not np.asarray"
        )

    def __repr__(self) -> str:
        return f"RealSet({len(self)} images of {self._shape}, {self._where})"

    # --- reading --------------------------------------------------------------------

    def _indices(self, index) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"boolean index of {index.shape} for {len(self)} images")
            return np.flatnonzero(index)
        return index.astype(np.int64)

    def load(self, indices) -> np.ndarray:
        """Images [len(indices), H, W] float32 of these positions (a slice, ints or a mask)."""
        idx = self._indices(indices)
        rows = self._rows[idx]
        if self._array is not None:
            return self._array[rows]
        out = np.empty((len(rows), *self._shape), dtype=np.float32)
        for k, r in enumerate(rows):
            image = self._read(int(r))
            if image.shape != self._shape:
                raise FactoryError(
                    f"{self._where}: image {self.ids[idx[k]]} is {image.shape} px, the others "
                    f"{self._shape}; stored images must all have one size"
                )
            out[k] = image
        return out

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, int | np.integer):
            return self.load([int(index)])[0]
        return self.load(index)

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions, images) of consecutive runs of at most `size` images, in order."""
        if size < 1:
            raise ValueError(f"chunk size {size} < 1")
        for start in range(0, len(self), size):
            idx = np.arange(start, min(start + size, len(self)))
            yield idx, self.load(idx)

    def subset(self, indices) -> RealSet:
        """A lazy view on these positions (labels, ids and shas follow)."""
        idx = self._indices(indices)
        out = RealSet(
            self.labels[idx],
            self.ids[idx],
            None if self.shas is None else self.shas[idx],
            self._read,
            self._shape,
            self._rows[idx],
            self._where,
        )
        out._array = self._array
        return out


def as_realset(
    images, labels: np.ndarray, ids: np.ndarray | None = None, shas: np.ndarray | None = None
) -> RealSet:
    """`images` as a RealSet (arrays are wrapped; a RealSet is returned as it is)."""
    if isinstance(images, RealSet):
        return images
    ids = np.arange(len(labels)).astype(str) if ids is None else ids
    return RealSet.from_array(images, labels, ids, shas)


def is_lazy(images) -> bool:
    return isinstance(images, RealSet)
