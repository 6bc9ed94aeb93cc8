"""Provenance facts recorded in every output: git commit, library versions, machine."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_LIBRARIES = (
    "factory",
    "torch",
    "torchvision",
    "diffusers",
    "accelerate",
    "timm",
    "torchmetrics",
    "datasets",
    "huggingface-hub",
    "pydicom",
    "numpy",
    "scikit-learn",
    "dvc",
)


def git_commit(cwd: str | Path = ".") -> str | None:
    """The HEAD commit of the repository at `cwd`, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def git_dirty(cwd: str | Path = ".") -> bool | None:
    """True when tracked files have uncommitted changes; None outside git."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(out.stdout.strip())


def library_versions(names: tuple[str, ...] = TRACKED_LIBRARIES) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def environment() -> dict[str, object]:
    """Where the work ran: enough to interpret times and reproduce numerics."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libraries": library_versions(),
    }
