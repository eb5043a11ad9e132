"""The root `rendercli` command. Sub-apps are small modules; heavy libraries load per command."""

from __future__ import annotations

import typer

from rendercli import __version__
from rendercli.cli import (
    accounts,
    apply,
    assets,
    database,
    demo,
    doctor,
    jobs,
    projects,
    renders,
    specs,
    stats,
    texts,
    titles,
    tokens,
    worker,
)
from rendercli.cli.app_group import RenderCliGroup

app = typer.Typer(
    cls=RenderCliGroup,
    name="rendercli",
    help=(
        "Render manager for video projects: accounts, projects, media assets and ffmpeg "
        "renders, on an embedded SQLite default or a PostgreSQL + Redis render farm.\n\n"
        "Example: rendercli register --email ana@example.com"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain Click help, inherited by every sub-app and command: Typer's rich help
    # imports rich, markdown-it and pygments (~100 ms, most of `rendercli --help`).
    rich_markup_mode=None,
    # Help uses the terminal's width up to 100 columns (Click's default stops at 80);
    # sub-commands inherit it from the root context.
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rendercli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Render manager for video projects."""


app.command("demo")(demo.demo)
app.command("doctor")(doctor.doctor)
app.command("register")(accounts.register)
app.command("login")(accounts.login)
app.command("logout")(accounts.logout)
app.command("passwd")(accounts.passwd)
app.command("whoami")(accounts.whoami)
app.add_typer(tokens.app, name="token")
app.add_typer(projects.app, name="project")
app.add_typer(assets.app, name="asset")
app.add_typer(titles.app, name="title")
app.add_typer(texts.app, name="text")
app.add_typer(renders.app, name="render")
app.add_typer(jobs.app, name="jobs")
app.add_typer(specs.app, name="spec")
app.command("apply")(apply.apply)
app.command("stats")(stats.stats)
app.command("worker")(worker.worker)
app.add_typer(database.app, name="db")


def run() -> None:
    """Console-script entry point."""
    app()
