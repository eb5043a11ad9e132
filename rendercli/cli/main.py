"""The root `rendercli` command. Each command's module loads only when that command runs;
heavy libraries (database, queue, media) load inside the functions that need them."""

from __future__ import annotations

import typer

from rendercli import __version__
from rendercli.cli.app_group import RenderCliGroup

# name -> (`module:attribute`, help): a Typer app (a noun) or a function (a command).
# The help is the command's own first paragraph (tests/test_cli_lazy.py checks it), so
# `rendercli --help` lists every command without importing one.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("rendercli.cli.demo:demo", "Render a 10-second demo video showing off the "
             "engine, with a live progress bar."),
    "doctor": ("rendercli.cli.doctor:doctor", "Check configuration, database, Redis and "
               "workers, storage, ffmpeg, keyring and login."),
    "register": ("rendercli.cli.accounts:register",
                 "Create an account (8+ characters, at most 72 bytes of password)."),
    "login": ("rendercli.cli.accounts:login",
              "Log in and keep a session token in the OS keyring (30 days)."),
    "logout": ("rendercli.cli.accounts:logout",
               "Log out: revoke the session token and remove it from this machine."),
    "passwd": ("rendercli.cli.accounts:passwd", "Change your password."),
    "whoami": ("rendercli.cli.accounts:whoami",
               "Show the account commands run as and where its token is kept."),
    "apply": ("rendercli.cli.apply:apply", "Make a project match a spec file: create it if "
              "missing, then add, update, move and remove its items."),
    "stats": ("rendercli.cli.stats:stats", "Show your renders by status, success rate, render "
              "times, output minutes and busiest projects."),
    "worker": ("rendercli.cli.worker:worker",
               "Run a render worker: takes jobs from the `render-video` queue until stopped."),
    "token": ("rendercli.cli.tokens:app", "Create, list and revoke API tokens for CI."),
    "project": ("rendercli.cli.projects:app", "Create and manage projects."),
    "asset": ("rendercli.cli.assets:app", "Add media (and fonts) to a project's timeline, "
              "arrange it, and set transitions, fades, sound, motion and fit."),
    "title": ("rendercli.cli.titles:app",
              "Title cards: centred text on a plain background, as a timeline item."),
    "text": ("rendercli.cli.texts:app",
             "Text over clips, stills and titles: a name in the lower third, a caption."),
    "render": ("rendercli.cli.renders:app", "Render projects to video."),
    "jobs": ("rendercli.cli.jobs:app", "Follow and manage render jobs."),
    "spec": ("rendercli.cli.specs:app",
             "Timelines as files: check a spec file, or print its JSON Schema."),
    "db": ("rendercli.cli.database:app", "Database schema migrations."),
}


class RootGroup(RenderCliGroup):
    table = COMMANDS


app = typer.Typer(
    cls=RootGroup,
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


def run() -> None:
    """Console-script entry point."""
    app()
