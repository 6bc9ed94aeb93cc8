"""One job = one rendered view written to one or more files; run in worker processes.

A job is plain frozen data (picklable), and `produce` is a pure function of it plus the
output root, so the bytes are the same with 1 or N workers, in any order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from factory.leftovers import die_with_parent
from factory.phantom.encode import (
    Encoding,
    Header,
    build_dataset,
    dataset_bytes,
    image_bytes,
    to_stored,
)
from factory.phantom.render import ViewSpec, render_view


@dataclass(frozen=True)
class Output:
    path: str  # relative to the layout root, POSIX separators
    format: str  # dicom, png8, png16, tiff16, pgm8


@dataclass(frozen=True)
class Job:
    spec: ViewSpec
    outputs: tuple[Output, ...]
    encoding: Encoding | None = None
    header: Header | None = None
    truth: dict = field(default_factory=dict)  # what the layout knows (patient, label...)


def produce(job: Job, root: str) -> dict:
    """Render the job's view, write its files under `root`, return its truth record."""
    rendered = render_view(job.spec)
    record = {
        **job.truth,
        "files": {},
        "height": job.spec.height,
        "width": job.spec.width,
        "laterality": job.spec.laterality,
        "view": job.spec.view,
        "density": job.spec.density,
        "burned_in_text": job.spec.text if rendered.text_box else None,
        "findings": rendered.findings,
    }
    for out in job.outputs:
        if out.format == "dicom":
            assert job.encoding is not None and job.header is not None
            pixels, pad = to_stored(rendered.image, rendered.breast, job.encoding)
            header = job.header
            if rendered.text_box and not header.burned_in:
                header = replace(header, burned_in=True)
            ds, voi = build_dataset(pixels, pad, rendered.breast, job.encoding, header)
            data = dataset_bytes(ds)
            record["encoding"] = {**job.encoding.as_dict(), "padding_value": pad, **voi}
            record["phi"] = {
                "PatientName": str(ds.PatientName),
                "PatientID": ds.PatientID,
                "PatientBirthDate": ds.PatientBirthDate,
                "StudyDate": ds.StudyDate,
                "AccessionNumber": ds.AccessionNumber,
                "InstitutionName": ds.InstitutionName,
                "InstitutionAddress": ds.InstitutionAddress,
                "ReferringPhysicianName": str(ds.ReferringPhysicianName),
                "OperatorsName": str(ds.OperatorsName),
            }
        else:
            data = image_bytes(rendered.image, out.format)
        target = Path(root, out.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)  # inside the atomic_dir staging folder
        record["files"][out.path] = out.format
    record["file"] = job.outputs[0].path
    return record


def run_jobs(jobs: list[Job], root: Path, *, workers: int, progress: bool, desc: str) -> list[dict]:
    """Produce every job (in worker processes when workers > 1); records in job order."""
    work = partial(produce, root=str(root))
    bar = tqdm(total=len(jobs), desc=desc, unit="img", disable=not progress, mininterval=1.0)
    records: list[dict] = []
    with bar:
        for record in _map(work, jobs, workers):
            records.append(record)
            bar.update()
    return records


def _map(work, jobs: Iterable[Job], workers: int) -> Iterator[dict]:
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        yield from map(work, jobs)
        return
    # "spawn": workers start clean (no inherited threads or locks from the parent).
    # die_with_parent: a parent killed with -9 takes its workers along.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        yield from pool.map(work, jobs, chunksize=1)
