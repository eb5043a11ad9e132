"""title add | update: generated title cards on the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION, PROJECT_ARG, noun_app
from rendercli.render.timeline import (
    DEFAULT_TITLE_SECONDS,
    MAX_FONT_FACE,
    MAX_TEXT_FADE_SECONDS,
    TEXT_SIZES,
    TEXT_STYLES,
)
from rendercli.services import titles
from rendercli.services.titles import TitleEdits

if TYPE_CHECKING:
    from rendercli.services.items import AssetView

app = noun_app(
    "Title cards: centred text on a plain background, as a timeline item.\n\n"
    "Example: rendercli title add holiday 'Summer 2025' --duration 2 --position 1"
)
DURATION = typer.Option(None, "--duration", metavar="S",
                        help=f"Seconds shown (default {DEFAULT_TITLE_SECONDS:g}).", min=0.0)
POSITION = typer.Option(None, "--position", metavar="N", help="1-based place in the timeline.",
                        min=1)
BACKGROUND = typer.Option(None, "--background", metavar="COLOR",
                          help="Background colour: a name (black, navy, ...) or #RRGGBB "
                          "(default black).")
COLOR = typer.Option(None, "--color", metavar="COLOR", help="Text colour (default white).")
SIZE = typer.Option(None, "--size", metavar="SIZE",
                    help=f"Text size: {', '.join(TEXT_SIZES)} (default large).")
FONT = typer.Option(None, "--font", metavar="ASSET",
                    help="A font added to the project (asset id or file name), or default.")
FACE = typer.Option(None, "--face", metavar="N", min=0, max=MAX_FONT_FACE,
                    help="The face of a .ttc/.otc font collection (default 0).")
STYLE = typer.Option(None, "--style", metavar="STYLE",
                     help=", ".join(TEXT_STYLES) + " (default none).")
FADE_IN = typer.Option(None, "--fade-in", metavar="S", min=0.0, max=MAX_TEXT_FADE_SECONDS,
                       help="Seconds the text fades in over the card (default 0).")
FADE_OUT = typer.Option(None, "--fade-out", metavar="S", min=0.0, max=MAX_TEXT_FADE_SECONDS,
                        help="Seconds the text fades out (default 0).")


def _edits(duration: float | None, background: str | None, color: str | None,  # type: ignore[no-untyped-def]
           size: str | None, font: str | None, *styles: object):
    face, style, fade_in, fade_out = styles
    return TitleEdits(duration=duration, background=background, color=color, size=size,
                      font=font, font_face=face, style=style, fade_in=fade_in,
                      fade_out=fade_out)


def _done(verb: str, title: AssetView) -> str:
    return (f"{verb} title {title.display_name!r} as #{title.position} "
            f"({title.timeline_duration:.2f}s) [{title.id}]")


@app.command("add")
def add(
    project: str = PROJECT_ARG,
    text: str = typer.Argument(..., metavar="TEXT", help="The card's text (any Unicode)."),
    duration: float | None = DURATION,
    position: int | None = POSITION,
    background: str | None = BACKGROUND,
    color: str | None = COLOR,
    size: str | None = SIZE,
    font: str | None = FONT,
    face: int | None = FACE,
    style: str | None = STYLE,
    fade_in: float | None = FADE_IN,
    fade_out: float | None = FADE_OUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a title card to a project's timeline (last, or at --position).

    The text is data: quotes, %, :, backslashes, braces and newlines are drawn as typed,
    in any script (system fonts stand in for characters the font lacks; a character no
    font has is refused), and long text is wrapped to the frame. Put `--` before a text
    that starts with `-`. --fade-in/--fade-out fade the text over the card; transitions
    and fades of the whole card are set like on any item, with `rendercli asset update`.

    Example: rendercli title add holiday 'Summer 2025' --duration 2 --position 1 --background navy
    """
    user = context.require_user()
    added = titles.add(context.uow(), user.id, project, text,
                       _edits(duration, background, color, size, font, face, style,
                              fade_in, fade_out), position=position)
    output.result(added, json_output, _done("Added", added))


@app.command("update")
def update(
    item: str = typer.Argument(..., metavar="ITEM",
                               help="The title's id, or PROJECT:N (its position; see "
                               "`asset list`)."),
    text: str | None = typer.Argument(None, metavar="[TEXT]", help="New text for the card."),
    duration: float | None = DURATION,
    position: int | None = POSITION,
    background: str | None = BACKGROUND,
    color: str | None = COLOR,
    size: str | None = SIZE,
    font: str | None = FONT,
    face: int | None = FACE,
    style: str | None = STYLE,
    fade_in: float | None = FADE_IN,
    fade_out: float | None = FADE_OUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Change a title card: its text, duration, place, colours, size or font.

    Only the segment of this card is re-encoded at the next render.

    Example: rendercli title update k2x9c0c0p1q8r7s6t5u4v3w2 'Summer 2026' --color gold
    """
    user = context.require_user()
    updated = titles.update(context.uow(), user.id, item, text,
                            _edits(duration, background, color, size, font, face, style,
                              fade_in, fade_out), position=position)
    output.result(updated, json_output, _done("Updated", updated))
