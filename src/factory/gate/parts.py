"""Wall time, CPU time and peak memory of the named parts of one gate run.

    parts = Parts()
    with parts.part("features"):
        ...
    parts.as_dict()  # {"features": {"wall_s": ..., "cpu_s": ..., "peak_rss_mb": ..., ...}}

- **wall_s**: `time.perf_counter` seconds.
- **cpu_s**: user + system seconds of this process (every thread) plus those of its
  children that finished and were waited for during the part (a process pool that is
  joined inside the part counts there; one that outlives the part counts where it is
  joined).
- **peak_rss_mb**: the highest resident set of this process during the part. On Linux the
  kernel's high-water mark (VmHWM) is reset on entry by writing "5" to
  /proc/self/clear_refs and read from /proc/self/status on exit (`peak_method`
  "vmhwm"); where that write is refused, a thread samples VmRSS every 20 ms ("sampled",
  may miss short spikes); without /proc, the process's lifetime peak from getrusage
  ("lifetime", an upper bound for the part).
- **children_peak_rss_mb**: the peak RSS of the largest child waited for so far, when it
  rose during the part (a child of this part was the largest yet), else null.
- **rss_start_mb**: the resident set on entry, so that growth during a part shows.

A name entered more than once adds up its times and keeps the highest peak (`calls`
counts the entries). Parts may nest: an inner part's reset of the high-water mark is
folded into the enclosing parts first, so their peaks stay right.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_SAMPLE_S = 0.02


def _status_kb(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None without /proc."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _maxrss_mb(who: int) -> float:
    """getrusage's ru_maxrss in MB (kB on Linux, bytes on macOS)."""
    value = resource.getrusage(who).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def _children_cpu_s() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def _reset_hwm() -> bool:
    """Reset this process's VmHWM to its current RSS; False where not permitted."""
    try:
        with _CLEAR_REFS.open("w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def choose_method() -> str:
    """How peaks can be measured here: "vmhwm", "sampled" or "lifetime" (see the module)."""
    if _status_kb("VmHWM") is not None and _reset_hwm():
        return "vmhwm"
    if _status_kb("VmRSS") is not None:
        return "sampled"
    return "lifetime"


class _Sampler:
    """A daemon thread keeping the highest VmRSS seen since start (or the last `take`)."""

    def __init__(self) -> None:
        self.peak_kb = _status_kb("VmRSS") or 0
        self._lock = threading.Lock()  # `take` must not lose a reset to a sample in flight
        self._generation = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parts-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            generation = self._generation
            rss = _status_kb("VmRSS") or 0
            with self._lock:
                if generation == self._generation:  # not read before a `take` reset
                    self.peak_kb = max(self.peak_kb, rss)

    def take(self) -> int:
        """The peak so far, then restart from the current RSS."""
        now = _status_kb("VmRSS") or 0
        with self._lock:
            peak, self.peak_kb = max(self.peak_kb, now), now
            self._generation += 1
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _Open:
    """A part in progress: its start readings and the highest peak folded in so far."""

    def __init__(self, name: str, rss_kb: int) -> None:
        self.name = name
        self.peak_kb = rss_kb
        self.rss_start_kb = rss_kb
        self.kids_maxrss_mb = _maxrss_mb(resource.RUSAGE_CHILDREN)
        self.kids_cpu = _children_cpu_s()
        self.cpu = time.process_time()
        self.wall = time.perf_counter()


class Parts:
    """Named parts of one run, timed and measured; see the module docstring."""

    def __init__(self, method: str | None = None) -> None:
        self.method = method or choose_method()
        if self.method not in ("vmhwm", "sampled", "lifetime"):
            raise ValueError(f"Parts method {self.method!r}: vmhwm, sampled or lifetime")
        self._open: list[_Open] = []
        self._done: dict[str, dict] = {}
        self._sampler: _Sampler | None = None

    def _peak_kb(self) -> int:
        """The peak since the last reset, and reset it (so every open part folds it in)."""
        if self.method == "vmhwm":
            peak = _status_kb("VmHWM") or 0
            _reset_hwm()
            return peak
        if self.method == "sampled":
            assert self._sampler is not None
            return self._sampler.take()
        return int(_maxrss_mb(resource.RUSAGE_SELF) * 1024)

    def _fold(self) -> None:
        peak = self._peak_kb()
        for p in self._open:
            p.peak_kb = max(p.peak_kb, peak)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Measure the body as part `name` (added to an earlier part of that name)."""
        if self.method == "sampled" and self._sampler is None:
            self._sampler = _Sampler()
        self._fold()
        rss = _status_kb("VmRSS") or int(_maxrss_mb(resource.RUSAGE_SELF) * 1024)
        opened = _Open(name, rss)
        self._open.append(opened)
        try:
            yield
        finally:
            self._fold()
            self._open.remove(opened)
            self._record(opened)
            if not self._open and self._sampler is not None:
                self._sampler.stop()
                self._sampler = None

    def _record(self, p: _Open) -> None:
        kids_mb = _maxrss_mb(resource.RUSAGE_CHILDREN)
        row = {
            "wall_s": time.perf_counter() - p.wall,
            "cpu_s": (time.process_time() - p.cpu) + (_children_cpu_s() - p.kids_cpu),
            "peak_rss_mb": p.peak_kb / 1024,
            "rss_start_mb": p.rss_start_kb / 1024,
            "children_peak_rss_mb": kids_mb if kids_mb > p.kids_maxrss_mb else None,
            "peak_method": self.method,
            "calls": 1,
        }
        old = self._done.get(p.name)
        if old is not None:
            kids = [v for v in (old["children_peak_rss_mb"], row["children_peak_rss_mb"]) if v]
            row = {
                **row,
                "wall_s": old["wall_s"] + row["wall_s"],
                "cpu_s": old["cpu_s"] + row["cpu_s"],
                "peak_rss_mb": max(old["peak_rss_mb"], row["peak_rss_mb"]),
                "rss_start_mb": old["rss_start_mb"],
                "children_peak_rss_mb": max(kids) if kids else None,
                "calls": old["calls"] + 1,
            }
        self._done[p.name] = row

    def as_dict(self) -> dict[str, dict]:
        """{part name: {wall_s, cpu_s, peak_rss_mb, rss_start_mb, children_peak_rss_mb,
        peak_method, calls}} in the order the parts first finished (JSON-ready)."""
        return {name: dict(row) for name, row in self._done.items()}
