"""User-facing errors: one clear line that names the file, the field and the fix.

Library code raises these; the CLI and the stage scripts print the message (no traceback
unless `--debug`) and exit non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

# How long a worker of rank > 0 that met a FactoryError waits before it exits (rank 0 meets
# the same error at the same point: its report and exit code must reach the launcher first).
_OTHER_RANKS_WAIT_S = 10.0


class FactoryError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class ConfigError(FactoryError):
    """params.yaml (or another config file) is malformed or fails validation."""


class GateFailed(FactoryError):
    """A quality, privacy or acceptance gate did not pass; the message is a table."""

    exit_code = 1


class OfflineError(FactoryError):
    """Something must be downloaded (weights, a dataset) and the network is not there."""


def is_main_rank() -> bool:
    """True unless this is a worker of rank > 0 (torchrun / accelerate set RANK)."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def reported_errors(debug: bool = False) -> Iterator[None]:
    """Turn a FactoryError into a short message on stderr and its exit code.

    Among several worker processes only rank 0 prints (they all meet the same error:
    the same params, the same inputs); `debug` prints the traceback on every rank.
    """
    try:
        yield
    except FactoryError as exc:
        if debug:
            traceback.print_exc()
        if debug or is_main_rank():
            print(f"error: {exc}", file=sys.stderr)
        elif "TORCHELASTIC_RUN_ID" in os.environ:
            # Let rank 0 report and exit first: the launcher stops the other workers as
            # soon as one exits, and judged a rank 0 it stopped (SIGTERM) as unexplained.
            time.sleep(_OTHER_RANKS_WAIT_S)
        raise SystemExit(exc.exit_code) from None
