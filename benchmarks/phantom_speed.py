"""How fast the phantom writes: N images at a given height, wall time and images/s.

    python benchmarks/phantom_speed.py [--images 240] [--height 512] [--workers 2]

The issue's target: 240 images at height 512 in under 30 s on 2 cores. The machine's
load average is printed beside the figure, since a shared machine slows everything.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from factory.phantom import read_truth, write_layout
from factory.phantom.cohort import draw_cohort


def patients_for(images: int, seed: int) -> int:
    """The smallest patient count whose cohort has at least `images` views."""
    cohort = draw_cohort(seed, images)  # never more patients than images
    total = 0
    for n, patient in enumerate(cohort, start=1):
        total += sum(len(b.views) for b in patient.breasts)
        if total >= images:
            return n
    return len(cohort)


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240, help="images to write (about)")
    parser.add_argument("--height", type=int, default=512, help="image height in pixels")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--layout", default="inbreast", help="layout kind")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args()

    patients = patients_for(args.images, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cpu_start = _cpu_seconds()
        out = write_layout(
            args.layout,
            Path(tmp) / "set",
            patients=patients,
            seed=args.seed,
            height=args.height,
            workers=args.workers,
            progress=False,
        )
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
        n = len(read_truth(out))
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"phantom {args.layout}: {n} images at height {args.height} with {args.workers} "
        f"worker(s) in {seconds:.1f} s ({n / seconds:.1f} images/s, {size / 2**20:.0f} MiB); "
        f"cpu count {os.cpu_count()}, load average {load}"
    )
    print(
        f"CPU time {cpu:.1f} s in all processes: on {args.workers} otherwise idle core(s) "
        f"that is about {cpu / args.workers:.1f} s of wall time"
    )


if __name__ == "__main__":
    main()
