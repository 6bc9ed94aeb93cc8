"""The `factory` command line: one sub-command per library entry point.

Each concern registers its commands from its own module (`factory.cli.<name>`), over the
same library functions that the DVC stage scripts call.
"""

from __future__ import annotations

import importlib
import sys

import typer

from factory import __version__
from factory.errors import FactoryError, is_main_rank

# Modules that add commands, in the order they appear in `factory --help`.
COMMAND_MODULES = (
    "phantom",
    "ingest",
    "train",
    "sample",
    "gate",
    "package",
    "benchmark",
    "report",
    "remote",
    "profile",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"factory {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="factory",
        help="Synthetic mammography datasets with data versioning: ingest, train, sample, "
        "gate, package, publish and benchmark.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version."
        ),
        debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    ) -> None:
        """Synthetic mammography datasets with data versioning."""

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"factory.cli.{name}")
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `factory` console script; returns the exit code.

    Usage errors are typer's (exit 2); a FactoryError is printed as one line (exit 2, or
    1 for a failed gate) unless `--debug` asks for the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        build_app()(args=args, prog_name="factory")
    except SystemExit as exc:  # typer exits after every command, successful or not
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except FactoryError as exc:
        if "--debug" in args:
            raise
        if is_main_rank():  # under torchrun every worker meets the same error: one line
            typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
