"""Options and arguments that several commands share, declared once.

Shell completion finds its values by metavar and option name (see completion.py), so a
parameter declared here completes the same way in every command that uses it.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rendercli.render.presets import PRESETS, QUALITIES

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document.")
PROJECT_ARG = typer.Argument(..., metavar="PROJECT", help="Project id or exact name.")
JOB_ARG = typer.Argument(..., metavar="JOB", help="Job id.")
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


__all__ = [
    "FORCE_OPTION",
    "FORMAT_OPTION",
    "JOB_ARG",
    "JSON_OPTION",
    "OPEN_OPTION",
    "PRESET_OPTION",
    "PROJECT_ARG",
    "QUALITY_OPTION",
    "output_option",
]
