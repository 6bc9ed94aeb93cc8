"""Whole-pipeline figures: wall time and peak memory per stage, and the no-op repro.

Copies the tracked files of this checkout into a fresh folder (as a clean clone would
hold them), runs every stage of dvc.yaml one at a time with `dvc repro --single-item`,
then a second full `dvc repro` that must do nothing. Prints a Markdown table.

    .venv/bin/python benchmarks/pipeline.py [--params PARAMS_YAML] [--keep DIR]

Peak memory is the largest resident set of any process a stage ran (Linux
`RUSAGE_CHILDREN`), measured in a separate Python process per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("phantom", "ingest", "train", "sample", "gate", "package", "benchmark")

_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
print(json.dumps({"rc": rc, "wall_s": wall, "peak_mib": peak}), file=sys.stderr)
"""


def clean_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-qm",
            "benchmark copy",
        ],
        cwd=dest,
        check=True,
    )


def measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = proc.stderr.strip().splitlines()
    result = json.loads(lines[-1])
    if result["rc"] != 0:
        print("\n".join(lines[-30:-1]), file=sys.stderr)
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {result['rc']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, help="params file to use instead of the demo")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="factory-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    clean_copy(work)
    if args.params:
        shutil.copy2(args.params, work / "params.yaml")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    dvc = str(Path(sys.executable).parent / "dvc")

    rows = []
    total = time.perf_counter()
    for stage in STAGES:
        r = measured([dvc, "repro", "--single-item", stage], work, env)
        rows.append((stage, r["wall_s"], r["peak_mib"]))
        print(f"{stage:10s} {r['wall_s']:8.1f} s  {r['peak_mib']:8.0f} MiB", flush=True)
    total = time.perf_counter() - total
    noop = measured([dvc, "repro"], work, env)

    print(
        f"\nMachine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}\n"
    )
    print("| stage | wall time (s) | peak RSS (MiB) |\n| --- | ---: | ---: |")
    for stage, wall, peak in rows:
        print(f"| {stage} | {wall:.1f} | {peak:.0f} |")
    print(f"| **all stages** | **{total:.1f}** | **{max(p for *_, p in rows):.0f}** |")
    print(f"| no-op `dvc repro` | {noop['wall_s']:.1f} | {noop['peak_mib']:.0f} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
