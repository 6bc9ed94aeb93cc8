"""What every `stages/<name>.py` shares: argv parsing, params loading, error reporting."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from factory.config import Params, load_params
from factory.errors import reported_errors


def run_stage(
    description: str,
    paths: dict[str, str],
    body: Callable[[Params, argparse.Namespace], None],
    argv: list[str] | None = None,
) -> None:
    """Parse `--<path>` arguments (all required) plus --params/--debug, then run `body`.

    Paths come from dvc.yaml only (never hard-coded in a script); a FactoryError is
    printed as one line and exits non-zero.
    """
    parser = argparse.ArgumentParser(description=description)
    for name, help_text in paths.items():
        parser.add_argument(f"--{name}", required=True, help=help_text)
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    with reported_errors(args.debug):
        body(load_params(args.params), args)
