"""`dvc push` / `dvc pull` to the project's DVC remote, with DVC's own message and a hint.

DVC does the transfer (S3, S3-compatible stores, SSH, local folders: whatever `dvc remote
add` configured); this wrapper only runs it and, when it fails, passes DVC's error lines
through unchanged and adds what to check: the credentials, the endpoint, or objects
that no longer match their recorded hashes. Calling DVC's CLI rather than its Python API
keeps the exact behaviour and messages users see when they run `dvc pull` themselves.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from factory.errors import FactoryError

ACTIONS = ("push", "pull")

# (substrings of DVC's error output, the hint); the first match wins.
HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "Forbidden",
            "(403)",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "Unable to locate credentials",
            "NoCredentialsError",
            "AccessDenied",
        ),
        "the remote refused the credentials: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or `dvc remote modify --local <remote> access_key_id ...`), "
        "and check that this key may read/write the bucket",
    ),
    (
        ("Could not connect", "EndpointConnectionError", "Connection refused", "timed out"),
        "cannot reach the remote: check its endpointurl (`dvc remote list`, "
        "`dvc config -l`), the network and any proxy",
    ),
    (
        ("NoSuchBucket", "bucket does not exist"),
        "the bucket does not exist: create it, or fix the remote's URL (`dvc remote list`)",
    ),
    (
        ("Checkout failed", "missing-files", "failed to download", "not in cache"),
        "objects are missing on the remote, or (with `verify true`) differ from the hashes "
        "recorded in git: ask the producer to `dvc push` again from a clean clone; for a "
        "packaged set, `factory verify <set>` checks every shard against lineage.json",
    ),
)
GENERIC_HINT = "see `dvc remote list` and docs/publish.md (DVC remotes on S3)"


def hint_for(output: str) -> str:
    """Our hint for DVC's error output."""
    for needles, hint in HINTS:
        if any(n in output for n in needles):
            return hint
    return GENERIC_HINT


def dvc_error_lines(output: str) -> list[str]:
    """DVC's own ERROR lines (all of its output when it printed none)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return errors or lines[-3:]


def dvc_sync(
    action: str,
    project_dir: str | Path = ".",
    targets: Sequence[str] = (),
    remote: str | None = None,
) -> str:
    """Run `dvc push|pull [-r remote] [targets]` in `project_dir`; DVC's output on success."""
    if action not in ACTIONS:
        raise FactoryError(f"action {action!r}: expected one of {ACTIONS}")
    cmd = [sys.executable, "-m", "dvc", action, *(["-r", remote] if remote else []), *targets]
    run = subprocess.run(cmd, cwd=project_dir, capture_output=True, text=True)
    if run.returncode != 0:
        output = run.stdout + "\n" + run.stderr
        dvc_says = "\n  ".join(dvc_error_lines(output))
        raise FactoryError(
            f"`dvc {action}` failed in {project_dir}:\n  {dvc_says}\nhint: {hint_for(output)}"
        )
    return run.stdout
