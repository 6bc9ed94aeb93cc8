"""factory.gate.parts: wall, CPU and peak memory of named parts, reset between parts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from factory.gate.parts import Parts, choose_method

MB = 1024 * 1024
# the sampling fallback always; the kernel's high-water mark where this machine allows it
METHODS = ["sampled", *(["vmhwm"] if choose_method() == "vmhwm" else [])]


def _touch(mb: int, hold_s: float = 0.3) -> None:
    """Allocate and write `mb` MB, hold it (so the 20 ms sampler sees it), free it."""
    block = np.ones(mb * MB, dtype=np.uint8)
    time.sleep(hold_s)
    del block


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.mark.parametrize("method", METHODS)
def test_peak_is_per_part_not_lifetime(method) -> None:
    parts = Parts(method=method)
    with parts.part("big"):
        _touch(200)
    with parts.part("small"):
        _touch(10)
    d = parts.as_dict()
    assert list(d) == ["big", "small"]
    big, small = d["big"], d["small"]
    assert big["peak_method"] == method
    assert big["peak_rss_mb"] - big["rss_start_mb"] >= 180
    # the second part does not inherit the first one's high-water mark
    assert small["peak_rss_mb"] - small["rss_start_mb"] < 100
    assert small["peak_rss_mb"] < big["peak_rss_mb"] - 100


@pytest.mark.parametrize("method", METHODS)
def test_nested_part_keeps_the_outer_peak(method) -> None:
    parts = Parts(method=method)
    with parts.part("outer"):
        _touch(150)
        with parts.part("inner"):
            _touch(10)
    d = parts.as_dict()
    assert d["outer"]["peak_rss_mb"] - d["outer"]["rss_start_mb"] >= 130
    assert d["inner"]["peak_rss_mb"] - d["inner"]["rss_start_mb"] < 100


def test_wall_cpu_and_repeated_names_add_up() -> None:
    parts = Parts()
    with parts.part("work"):
        _spin(0.2)
    with parts.part("sleep"):
        time.sleep(0.2)
    with parts.part("work"):
        _spin(0.1)
    d = parts.as_dict()
    assert d["work"]["calls"] == 2
    assert d["work"]["cpu_s"] >= 0.28
    assert d["work"]["wall_s"] >= d["work"]["cpu_s"] * 0.9
    assert d["sleep"]["wall_s"] >= 0.19 and d["sleep"]["cpu_s"] < 0.1
    json.dumps(d)  # metrics.json-ready


def test_finished_children_count_in_cpu() -> None:
    parts = Parts()
    with parts.part("pool"):
        spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
        subprocess.run([sys.executable, "-c", spin], check=True)
    assert parts.as_dict()["pool"]["cpu_s"] >= 0.25


def test_an_exception_still_records_the_part() -> None:
    parts = Parts()
    with pytest.raises(RuntimeError), parts.part("fails"):
        raise RuntimeError("boom")
    assert parts.as_dict()["fails"]["calls"] == 1


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="vmhwm"):
        Parts(method="guess")
