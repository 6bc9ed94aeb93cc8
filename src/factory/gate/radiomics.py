"""Radiomics (FRD v1) features once per image: a cache keyed by the image's sha256.

Radiomics are the gate's slowest part (seconds per image at 512 px) and a pure function
of the 16-bit pixels, so each image is measured once and kept under the gate's outputs
(`<gate out>/radiomics`): a rerun with new thresholds, or a new synthetic set against the
same training images, computes only the images it has not seen.

Layout: `<root>/<version key>/<sha[:2]>/<sha>.npy`, one float64 row per image, plus
`<root>/<version key>/features.json` (the feature names). The version key names the
frd-score and pyradiomics versions and the FRD version; entries of another key are never
read and `RadiomicsCache.finish` deletes them. One small immutable file per image, rather
than shard files appended to, because:

- every write is one atomic rename (`factory.io.atomic_write_bytes`): a killed run leaves
  complete entries and at most a hidden `.*.tmp`, which `finish` removes;
- DVC tracks a directory output file by file: an entry never changes once written, so a
  rerun adds only the new images' files to DVC's cache, where rewritten shards would be
  stored again whole on every run;
- a damaged entry costs one image's recomputation, not a shard's;
- 40,000 images make ~40,000 files of ~3.5 kB in 256 subfolders (~160 files each): small
  for the filesystem and for DVC; opening them on a rerun takes seconds, the features
  they replace a day.

Keys: the manifest's and the sample metadata's `sha256` column (of the PNG). Both stages
write their PNGs with `factory.io.write_png16`, so `image_sha` gives the same key for an
image held in memory.
"""

from __future__ import annotations

import collections
import functools
import io
import json
import logging
import multiprocessing as mp
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from factory.errors import FactoryError
from factory.io import atomic_write_bytes, atomic_write_json, png16_bytes, sha256_bytes

FRD_VERSION = "v1"
MAPPER_CHUNK = 256  # items per mapper call: what a killed sharded run loses at most
_SHA = re.compile(r"^[0-9a-f]{64}$")


def version_key(frd_version: str = FRD_VERSION) -> str:
    """The cache subfolder of this environment: frd-score and pyradiomics versions, FRD version."""

    def v(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "none"

    key = f"frd-score-{v('frd-score')}_pyradiomics-{v('pyradiomics')}_frd-{frd_version}"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", key)


def quantize(image: np.ndarray) -> np.ndarray:
    """The 16-bit pixels radiomics are computed from (what `metrics.frd_features` writes)."""
    return np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16)


def image_sha(image: np.ndarray) -> str:
    """sha256 of the image's 16-bit PNG: the manifest/sample key of an image in memory."""
    return sha256_bytes(png16_bytes(quantize(image)))


class RadiomicsCache:
    """Per-image radiomics rows under `root/<version key>/`; `root=None`: in memory only.

    `hits`: rows served without extraction; `misses`: extractions run (both add up over
    the calls of `radiomics_features`). `version`: the key of the subfolder (default
    `version_key()`; tests give another to stand for an upgrade). `write=False` reads the
    files but keeps what it computes in memory: the ranks other than the main one of a
    sharded stage (every rank gets every row; rank 0 alone writes).
    """

    def __init__(
        self, root: Path | str | None, version: str | None = None, write: bool = True
    ) -> None:
        self.root = None if root is None else Path(root)
        self.version = version or version_key()
        self.write = write
        self.hits = 0
        self.misses = 0
        self._memory: dict[str, np.ndarray] = {}
        self._names: list[str] | None = None
        self._names_read = False
        self._folder = None if self.root is None else self.root / self.version
        self._header = b""  # the .npy header of a row of len(names) float64 values

    @property
    def folder(self) -> Path | None:
        return self._folder

    def path(self, sha: str) -> Path:
        if self._folder is None:
            raise ValueError("an in-memory RadiomicsCache has no files")
        if not _SHA.match(sha):
            raise FactoryError(f"radiomics cache: {sha!r} is not a sha256 (64 hex digits)")
        return self._folder / sha[:2] / f"{sha}.npy"

    def names(self) -> list[str] | None:
        """Feature names of this version (None until one row has been computed)."""
        if not self._names_read and self._folder is not None:
            self._names_read = True
            meta = self._folder / "features.json"
            if meta.is_file():
                try:
                    self._set_names(json.loads(meta.read_text())["names"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    warnings.warn(f"{meta}: unreadable ({exc}); rewritten", stacklevel=2)
        return self._names

    def _set_names(self, names: Sequence[str]) -> None:
        self._names = list(names)
        self._header = _npy(np.zeros(len(self._names)))[: -8 * len(self._names)]

    def get(self, sha: str) -> np.ndarray | None:
        """The stored row, or None (absent, or damaged: warned about, recomputed)."""
        if self._folder is None or sha in self._memory:
            return self._memory.get(sha)
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            warnings.warn(f"{path}: unreadable radiomics entry ({exc}); recomputing", stacklevel=2)
            return None
        names = self.names()
        size = None if names is None else len(self._header) + 8 * len(names)
        if len(data) == size and data.startswith(self._header):  # no header to parse
            return np.frombuffer(data, dtype=np.float64, offset=len(self._header))
        try:
            row = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            warnings.warn(f"{path}: unreadable radiomics entry ({exc}); recomputing", stacklevel=2)
            return None
        expected = "1-D float64" + ("" if names is None else f" of {len(names)} values")
        if (
            row.ndim != 1
            or row.dtype != np.float64
            or not len(row)
            or (names is not None and len(row) != len(names))
        ):
            warnings.warn(
                f"{path}: radiomics entry is {row.dtype} {row.shape}, expected {expected}; "
                "recomputing",
                stacklevel=2,
            )
            return None
        return row

    def put(self, sha: str, row: np.ndarray, names: list[str] | None = None) -> None:
        """Store one image's row (atomic: a killed write leaves no entry)."""
        row = np.asarray(row, dtype=np.float64)
        if self._folder is None or not self.write:
            # a reading rank keeps its rows: its view stays the main rank's (files + rows
            # computed in this run), whenever the main rank's writes land
            self._memory[sha] = row
            return
        if names is not None and self.names() != list(names):
            atomic_write_json(self._folder / "features.json", {"names": list(names)})
            self._set_names(names)
        atomic_write_bytes(self.path(sha), _npy(row))

    def finish(self) -> None:
        """Drop other versions' entries and killed writes' temporary files (write mode).

        Only while no other process writes here (its temporary files would go too): the
        gate calls it on its main rank after the radiomics.
        """
        if self.root is None or not self.write or not self.root.is_dir():
            return
        for other in self.root.iterdir():
            if other.name == self.version:
                continue
            if other.is_dir() and not other.is_symlink():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)
        if self._folder is not None and self._folder.is_dir():
            for tmp in self._folder.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def as_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "version": self.version}


def _npy(row: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, row, allow_pickle=False)
    return buf.getvalue()


@functools.cache
def _extractor():
    """frd-score's v1 extractor for 2-D images, built once per process."""
    from frd_score import frd as frd_lib

    frd_lib._ensure_radiomics()
    frd_lib.setVerbosity(60)  # pyradiomics logs every image otherwise
    logging.getLogger("radiomics").setLevel(logging.ERROR)  # and through the root logger
    return frd_lib.get_feature_extractor(frd_version=FRD_VERSION, image_dim=2)


def extract(pixels: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """One image's radiomics row and names from its 16-bit pixels; None when frd-score fails.

    The same path as `metrics.frd_features`: the pixels go through a 16-bit PNG into
    frd-score's `process_image_mask_pair` (it reads files), so the values are the same.
    """
    from frd_score import frd as frd_lib

    from factory.io import write_png16

    with tempfile.TemporaryDirectory(prefix="frd-") as tmp:
        path = Path(tmp) / "image.png"
        write_png16(path, pixels)
        out = frd_lib.process_image_mask_pair(
            (path, None), feature_extractor=_extractor(), frd_version=FRD_VERSION
        )
    if out is None:
        return None
    return np.asarray(out[0], dtype=np.float64), list(out[1])


def radiomics_features(
    shas: Sequence[str],
    load: Callable[[int], np.ndarray],
    cache: RadiomicsCache | None,
    workers: int,
    mapper: Callable | None = None,
) -> np.ndarray:
    """Radiomics rows [N, R] of N images, from the cache where it has them.

    `load(i)`: image i, float [H, W] in [0, 1], called only for images the cache lacks,
    one at a time (at most 2 x workers images are held while a pool computes). Misses are
    computed by a pool of `workers` processes, or by `mapper` (`factory.shard.map_shards`:
    every rank deals out rank 0's misses and takes from rank 0 the rows its own folder
    lacks, so ranks on several machines need not share a disk),
    stored as they arrive (a killed run keeps what it computed) and counted in
    `cache.misses`; the same sha twice is computed once. Rows may hold NaN (see
    `metrics.frd_from_features`). `shard.map_shards` in a single process would be a
    serial loop: the pool is used then (when workers > 1).
    """
    cache = cache if cache is not None else RadiomicsCache(None)
    if mapper is not None and workers > 1:
        from factory import shard

        if mapper is shard.map_shards and shard.world()[1] == 1:
            mapper = None
    rows: dict[str, np.ndarray] = {}
    first: dict[str, int] = {}
    for i, sha in enumerate(shas):
        if sha in first:
            continue
        first[sha] = i
        row = cache.get(sha)
        if row is not None:
            rows[sha] = row
    todo = [i for sha, i in first.items() if sha not in rows]
    if mapper is not None:
        todo = _agree(todo, rows, shas, first)
    cache.misses += len(todo)
    cache.hits += len(shas) - len(todo)
    if todo:
        for i, row in _compute(todo, shas, load, cache, workers, mapper):
            rows[shas[i]] = row
    if not len(shas):
        return np.zeros((0, len(cache.names() or ())), dtype=np.float64)
    widths = {len(r) for r in rows.values()}
    if len(widths) > 1:  # entries of one version cannot differ: a damaged cache
        raise FactoryError(
            f"radiomics cache {cache.folder}: rows of {sorted(widths)} values in one version; "
            "delete the folder (it is rebuilt)"
        )
    return np.stack([rows[sha] for sha in shas])


def _agree(
    todo: list[int], rows: dict[str, np.ndarray], shas: Sequence[str], first: dict[str, int]
) -> list[int]:
    """Rank 0's misses on every rank (a collective), and rank 0's rows for the rest.

    Ranks on other machines may see another cache folder (or none): they all compute what
    rank 0 lacks, and take from rank 0 the rows it has and they lack (`rows` is filled).
    """
    from factory import shard

    rank, size = shard.world()
    if size == 1:
        return todo
    todo = shard.share(todo)
    computed = {shas[i] for i in todo}
    lacking = [sha for sha in first if sha not in rows and sha not in computed]
    asked = shard.map_shards(lambda _: lacking, list(range(size)), progress=False)  # r on r
    needed = sorted({sha for ask in asked for sha in ask})
    if needed:
        rows.update(shard.share({sha: rows[sha] for sha in needed} if rank == 0 else None))
    return todo


def _compute(
    todo: list[int],
    shas: Sequence[str],
    load: Callable[[int], np.ndarray],
    cache: RadiomicsCache,
    workers: int,
    mapper: Callable | None,
):
    """(index, row) of every image in `todo`, each stored in the cache as it arrives."""

    def done(i: int, out: tuple[np.ndarray, list[str]] | BaseException | None):
        if isinstance(out, BaseException) or out is None:
            why = "empty or constant image?" if out is None else f"{type(out).__name__}: {out}"
            raise FactoryError(
                f"radiomics: feature extraction failed for image {i} (sha256 {shas[i]}): {why}"
            ) from (out if isinstance(out, BaseException) else None)
        cache.put(shas[i], out[0], out[1])
        return i, out[0]

    bar = tqdm(total=len(todo), desc="radiomics", unit="img", leave=False)
    try:
        if mapper is not None:
            names: list[str] = []

            def one(i: int) -> np.ndarray:
                pixels = quantize(load(i))
                try:
                    out = extract(pixels)
                except Exception as exc:
                    out = exc
                if isinstance(out, BaseException) or out is None:
                    done(i, out)  # a FactoryError naming the image, re-raised on every rank
                names[:] = out[1]
                return out[0]  # only the row travels

            for start in range(0, len(todo), MAPPER_CHUNK):
                part = todo[start : start + MAPPER_CHUNK]
                for i, row in zip(
                    part, mapper(one, part, desc="radiomics (this rank)"), strict=True
                ):
                    # rank 0 computes the first item of every part: it knows the names
                    bar.update(1)
                    yield done(i, (row, names or None))
        elif workers <= 1:
            for i in todo:
                pixels = quantize(load(i))
                try:
                    out = extract(pixels)
                except Exception as exc:
                    out = exc
                bar.update(1)
                yield done(i, out)
        else:
            with mp.Pool(processes=workers) as pool:
                pending: collections.deque = collections.deque()
                for i in todo:
                    pending.append((i, pool.apply_async(extract, (quantize(load(i)),))))
                    if len(pending) >= 2 * workers:
                        yield _wait(*pending.popleft(), done, bar)
                while pending:
                    yield _wait(*pending.popleft(), done, bar)
    finally:
        bar.close()


def _wait(i: int, result, done, bar):
    try:
        out = result.get()
    except Exception as exc:
        out = exc
    bar.update(1)
    return done(i, out)
