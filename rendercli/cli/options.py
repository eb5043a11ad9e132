"""Options and arguments that several commands share, defined once."""

from __future__ import annotations

import typer

JSON_OPTION = typer.Option(
    False, "--json", help="Print JSON instead of text."
)
PROJECT_ARG = typer.Argument(..., metavar="PROJECT", help="Project id or exact name.")
ASSET_ARG = typer.Argument(..., metavar="ASSET", help="Asset id (see `rendercli asset list`).")
JOB_ARG = typer.Argument(..., metavar="JOB", help="Job id (see `rendercli jobs list`).")
