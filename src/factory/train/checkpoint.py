"""Training checkpoints on disk: naming, completeness, integrity, config match, pruning.

A checkpoint is a folder `step-<8 digits>/` holding accelerate's `save_state` files plus
`factory_checkpoint.json` (step, model signature, sha256 of every file), written last in a
temporary folder that is then renamed: a folder with a valid marker is complete.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.io import atomic_write_json, sha256_file

MARKER = "factory_checkpoint.json"
_NAME = re.compile(r"^step-(\d{8})$")

log = logging.getLogger(__name__)


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def temporary_dir(root: Path, step: int) -> Path:
    """Where a checkpoint is built before the rename (same name on every process)."""
    return root / f".{checkpoint_name(step)}.tmp"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint-named folder, newest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)


def write_marker(folder: Path, step: int, signature: dict[str, Any]) -> None:
    """Seal a built checkpoint: its step, model signature and file hashes."""
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }
    atomic_write_json(folder / MARKER, {"step": step, "model": signature, "files": files})


def problem(folder: Path) -> str | None:
    """Why `folder` is not a usable checkpoint, or None when it is complete and intact."""
    marker = folder / MARKER
    if not marker.is_file():
        return f"no {MARKER} (incomplete write)"
    try:
        meta = json.loads(marker.read_text())
        files = meta["files"]
    except (ValueError, KeyError) as exc:
        return f"unreadable {MARKER} ({exc})"
    for rel, digest in files.items():
        path = folder / rel
        if not path.is_file():
            return f"missing {rel}"
        if sha256_file(path) != digest:
            return f"{rel} does not match its recorded sha256"
    return None


def read_marker(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MARKER).read_text())


def check_signature(folder: Path, current: dict[str, Any]) -> None:
    """A checkpoint of another network or noise schedule cannot be resumed: say what differs."""
    saved = read_marker(folder)["model"]
    diffs = [
        f"{key} {saved.get(key)!r} in the checkpoint vs {current.get(key)!r} in params"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if diffs:
        raise FactoryError(
            f"{folder}: checkpoint from a different model config: {'; '.join(diffs)}; "
            f"delete {folder.parent} (or set train.resume: false) to train from scratch, "
            "or restore those params to resume"
        )


def intact_checkpoints(root: Path) -> Iterator[tuple[int, Path]]:
    """Complete, intact checkpoints, newest first, checked lazily; a damaged one is skipped
    with a warning that names it."""
    for step, folder in list_checkpoints(root):
        why = problem(folder)
        if why is None:
            yield step, folder
        else:
            log.warning(
                "checkpoint %s is unusable: %s; falling back to the previous one", folder, why
            )


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints; returns the deleted folders."""
    doomed = [folder for _, folder in list_checkpoints(root)[keep:]]
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return doomed


def clear_temporaries(root: Path) -> None:
    """Remove half-built checkpoint folders a crash left behind."""
    if root.is_dir():
        for p in root.glob(".step-*.tmp"):
            shutil.rmtree(p, ignore_errors=True)
