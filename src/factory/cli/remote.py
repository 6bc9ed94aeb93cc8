"""`factory remote push|pull`: DVC's transfer to the project's remote, with a hint on failure."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    remote = typer.Typer(
        help="Push or pull DVC-tracked data (e.g. a packaged set) to/from the DVC remote "
        "(S3 or any remote `dvc remote add` configured). DVC's own errors pass through, "
        "with a hint.",
        no_args_is_help=True,
    )

    def run(action: str, targets: list[str] | None, name: str | None, project: str) -> None:
        from factory.package.remote import dvc_sync

        out = dvc_sync(action, project, targets or [], name)
        typer.echo(out.strip() or f"dvc {action}: done")

    @remote.command("push")
    def push_cmd(
        targets: list[str] | None = typer.Argument(None, help="DVC targets (default: all)."),
        name: str | None = typer.Option(None, "--remote", "-r", help="DVC remote name."),
        project: str = typer.Option(".", help="Project folder (the git + DVC clone)."),
    ) -> None:
        """`dvc push` to the DVC remote."""
        run("push", targets, name, project)

    @remote.command("pull")
    def pull_cmd(
        targets: list[str] | None = typer.Argument(None, help="DVC targets (default: all)."),
        name: str | None = typer.Option(None, "--remote", "-r", help="DVC remote name."),
        project: str = typer.Option(".", help="Project folder (the git + DVC clone)."),
    ) -> None:
        """`dvc pull` from the DVC remote (set `verify true` on the remote to re-hash)."""
        run("pull", targets, name, project)

    app.add_typer(remote, name="remote")
