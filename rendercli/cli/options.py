"""Options and arguments that several commands share, defined once.

Shell completion finds its values by metavar and option name (see completion.py), so a
parameter declared here completes the same way in every command that uses it.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rendercli.render.presets import PRESETS, QUALITIES


def noun_app(help: str) -> typer.Typer:
    """A noun's Typer app (`rendercli NOUN ...`): plain Click help, as on the root
    (main.py), and its help when run without a command."""
    return typer.Typer(add_completion=False, rich_markup_mode=None, help=help,
                       no_args_is_help=True)


JSON_FLAG = "--json"  # also how the root group tells that errors should be JSON
JSON_OPTION = typer.Option(False, JSON_FLAG, help="Print JSON instead of text.")
PROJECT_ARG = typer.Argument(..., metavar="PROJECT", help="Project id or exact name.")
ASSET_ARG = typer.Argument(
    ..., metavar="ASSET",
    help="Asset id, or PROJECT:N for the N-th item of PROJECT's timeline (see `rendercli asset "
    "list`).")
JOB_ARG = typer.Argument(..., metavar="JOB", help="Job id (see `rendercli jobs list`).")
PRESET_OPTION = typer.Option(
    "720p", "--preset", metavar="PRESET", help=f"{', '.join(PRESETS)}."
)
FORMAT_OPTION = typer.Option(
    "mp4", "--format", metavar="FORMAT", help="mp4 (H.264/AAC), webm (VP9/Opus) or gif."
)
QUALITY_OPTION = typer.Option(
    "standard", "--quality", metavar="QUALITY", help=f"{', '.join(QUALITIES)}."
)
FORCE_OPTION = typer.Option(
    False, "--force", "-f", help="Replace the --output file if it exists (else exit 5)."
)
OPEN_OPTION = typer.Option(
    False, "--open", help="Then open the file with the desktop's viewer, if there is one."
)


def output_option(what: str) -> Path | None:
    """``--output/-o FILE``: where to write `what` (the default name is in the help)."""
    return typer.Option(None, "--output", "-o", metavar="FILE", help=what)  # type: ignore[no-any-return]


BATCH_OPTION = typer.Option(
    None, "--batch", metavar="ID", help="Only the jobs of this `render batch`.")
SET_OPTION = typer.Option(
    None, "--set", metavar="FIELD=VALUE",
    help="Give the spec's placeholder FIELD a value (repeat for each field), as a data "
    "row of `render batch` does.")
TIMEOUT_OPTION = typer.Option(
    None, "--timeout", metavar="SECONDS", min=0, max=7 * 86400,
    help="Give up after this many seconds (exit 124).")
