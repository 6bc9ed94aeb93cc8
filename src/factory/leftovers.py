"""No leftovers after a kill: staging folders that the next run can tell are stale, and
worker processes that die with their parent.

A run holds an exclusive `flock` on each staging folder it creates (`held_staging`); the
kernel drops the lock when the process dies, however it dies (kill -9 included). The next
run's `sweep` removes every matching sibling whose lock it can take, and leaves alone the
ones a live run still holds. Files and folders from versions that took no lock are taken
as stale too. `die_with_parent` is a pool initializer: the worker gets SIGKILL when its
parent dies (Linux `prctl(PR_SET_PDEATHSIG)`; elsewhere a thread polling the parent id).

Hand-written because neither `tempfile` nor `concurrent.futures` offers either: stdlib
temporary folders are only removed by the process that made them, and pool workers
outlive a parent killed with -9.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on `path`, or None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def hold(path: str | Path) -> int:
    """Lock `path` (a file or folder) for the life of this process; returns the fd (close
    it to release early). Raises OSError when another process holds it."""
    fd = _lock(Path(path))
    if fd is None:
        raise OSError(f"{path}: held by another running process")
    return fd


@contextlib.contextmanager
def holding(path: str | Path) -> Iterator[None]:
    """`hold(path)` for the duration of a with-block."""
    fd = hold(path)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def held_staging(parent: str | Path, prefix: str, suffix: str = ".tmp") -> Iterator[Path]:
    """A new folder `parent/<prefix>XXXX<suffix>`, locked while in use, removed after."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    fd = hold(tmp)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(fd)


def sweep(parent: str | Path, patterns: Iterable[str]) -> list[Path]:
    """Remove the entries of `parent` matching any glob in `patterns` that no live process
    holds (leftovers of killed runs). Returns what was removed."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    removed = []
    for path in sorted({p for pattern in patterns for p in parent.glob(pattern)}):
        fd = _lock(path)
        if fd is None and path.exists():
            continue  # a running process holds it
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer (`initargs=(os.getpid(),)`): this worker dies when its parent does.

    Linux delivers SIGKILL on the death of the thread that started the worker, so start
    pools from a thread that lives as long as the pool (the main thread here).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            _poll_parent(parent_pid)
    else:
        _poll_parent(parent_pid)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _poll_parent(parent_pid: int, every: float = 1.0) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
