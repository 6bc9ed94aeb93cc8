"""The per-image job run in worker processes: decode, preprocess, write one PNG.

Each job returns only hashes and a few tags, never pixels, so the main process holds
O(number of images) small records and memory is bounded by the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory.io import sha256_file, write_png16
from factory.leftovers import die_with_parent


@dataclass(frozen=True)
class Job:
    index: int
    file: Path
    out: Path  # where the PNG goes
    size: int
    min_breast_fraction: float
    crop_margin: float


@dataclass(frozen=True)
class Outcome:
    index: int
    reason: str | None = None  # a quarantine reason, or None when the image is stored
    detail: str = ""
    sha256: str = ""  # of the stored PNG
    source_sha256: str = ""
    pixel_sha256: str = ""  # of the decoded stored values (duplicate detection)
    tag_laterality: str | None = None
    tag_view: str | None = None
    chest_wall_right: bool = False


def run_job(job: Job) -> Outcome:
    """Decode and store one image; bad files come back as an Outcome with a reason."""
    from factory.ingest.decode import DecodeProblem, decode_file
    from factory.ingest.preprocess import (
        NoBreast,
        chest_wall_on_right,
        crop_to_breast,
        pad_square,
        resize,
        to_uint16,
    )

    try:
        decoded = decode_file(job.file)
    except DecodeProblem as exc:
        return Outcome(job.index, exc.reason, exc.detail)
    except MemoryError:
        raise
    except Exception as exc:  # a malformed file can trip any decoder error: keep going
        return Outcome(job.index, "unreadable", f"{type(exc).__name__}: {exc}")
    try:
        crop = crop_to_breast(decoded.image, job.min_breast_fraction, job.crop_margin)
    except NoBreast as exc:
        return Outcome(job.index, "no_breast", str(exc))
    del decoded.image
    right = chest_wall_on_right(crop)
    stored = to_uint16(resize(pad_square(crop[:, ::-1] if right else crop), job.size))
    return Outcome(
        job.index,
        sha256=write_png16(job.out, stored),
        source_sha256=sha256_file(job.file),
        pixel_sha256=decoded.pixel_sha256,
        tag_laterality=decoded.laterality,
        tag_view=decoded.view,
        chest_wall_right=right,
    )


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds and the parent holds no threads or GPU state
    # here; elsewhere (macOS, Windows) spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_jobs(
    jobs: Sequence[Job], workers: int, on_done: Callable[[], None] | None = None
) -> Iterator[Outcome]:
    """Run `jobs` over `workers` processes, at most 2 per worker in flight (bounded
    memory); yields outcomes as they finish. One worker runs in this process."""
    if workers <= 1:
        for job in jobs:
            yield run_job(job)
            if on_done:
                on_done()
        return
    pending = iter(jobs)
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=die_with_parent,  # a parent killed with -9 takes its workers along
        initargs=(os.getpid(),),
    )
    with pool:
        running = set()
        for job in pending:
            running.add(pool.submit(run_job, job))
            if len(running) >= 2 * workers:
                break
        while running:
            done, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                yield future.result()
                if on_done:
                    on_done()
                nxt = next(pending, None)
                if nxt is not None:
                    running.add(pool.submit(run_job, nxt))
