"""The `factory` command line: one sub-command per library entry point.

Each concern registers its commands from its own module (`factory.cli.<name>`), over the
same library functions that the DVC stage scripts call.
"""

from __future__ import annotations

import importlib
import sys

import click
import typer

from factory import __version__
from factory.errors import FactoryError

# Modules that add commands, in the order they appear in `factory --help`.
COMMAND_MODULES = ("phantom", "ingest", "train", "sample", "gate", "package", "benchmark")


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
    """Entry point of the `factory` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(build_app())
    try:
        command.main(args=args, prog_name="factory", standalone_mode=False)
    except FactoryError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
