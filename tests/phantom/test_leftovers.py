"""No leftovers after kill -9 (issue 15 §5): workers die with their parent, and the next
run removes the staging folders a killed run left (but not those of a live run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from factory.leftovers import hold, sweep
from factory.phantom import write_layout

pytestmark = pytest.mark.multiprocess


def _wait(predicate, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _kill_and_check_workers(proc: subprocess.Popen, workers: int) -> None:
    """kill -9 `proc` once its `workers` pool processes run; they must exit too."""
    parent = psutil.Process(proc.pid)
    children = _wait(
        lambda: (
            [c for c in parent.children() if c.is_running()][:workers]
            if len(parent.children()) >= workers
            else None
        ),
        120,
        "the worker pool",
    )
    time.sleep(1.0)  # the workers are past their initializer and busy
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    try:
        _, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, f"orphan workers still running: {[p.pid for p in alive]}"
    finally:
        for p in children:  # the test's own children only, never by name
            if p.is_running():
                p.kill()


def test_killed_phantom_takes_its_workers_and_leaves_a_temp_the_next_run_removes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "datasets" / "phantom"
    script = textwrap.dedent(
        f"""
        from factory.phantom import write_layout
        write_layout("inbreast", {str(out)!r}, patients=400, seed=0, height=256,
                     workers=2, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        _kill_and_check_workers(proc, 2)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = list(out.parent.glob(".phantom.*.tmp"))
    assert left, "expected the killed run's staging folder"
    write_layout("inbreast", out, patients=1, seed=0, height=64, progress=False)
    assert not list(out.parent.glob(".phantom.*")), "leftovers of the killed run remain"


def test_killed_ingest_takes_its_forked_workers(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import time
        from pathlib import Path
        from factory.ingest import worker

        def slow(job):
            time.sleep(600)

        worker.run_job = slow  # forked workers run this (picklable: __main__.slow)
        jobs = [worker.Job(i, Path("x"), Path("y"), 8, 0.1, 0.0) for i in range(8)]
        list(worker.run_jobs(jobs, 2))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        _kill_and_check_workers(proc, 2)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sweep_removes_stale_and_keeps_held(tmp_path: Path) -> None:
    stale = tmp_path / ".phantom.abcd.tmp"
    (stale / "AllDICOMs").mkdir(parents=True)
    (stale / "AllDICOMs" / "a.dcm").write_bytes(b"x" * 100)
    old = tmp_path / ".phantom.old-4242"
    old.mkdir()
    stale_file = tmp_path / ".metrics.json.x1.tmp"
    stale_file.write_text("{")
    live = tmp_path / ".phantom.live.tmp"
    live.mkdir()
    mine = tmp_path / "phantom"
    mine.mkdir()
    fd = hold(live)  # a run still working on it
    try:
        removed = sweep(tmp_path, (".phantom.*.tmp", ".phantom.old-*", ".*.tmp"))
    finally:
        os.close(fd)
    assert sorted(p.name for p in removed) == sorted([stale.name, old.name, stale_file.name])
    assert live.is_dir() and mine.is_dir()
    assert sweep(tmp_path, (".phantom.*.tmp",)) == [live]  # released: stale now
