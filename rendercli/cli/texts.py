"""text add | update | list | remove: text over a picture item, for a time range within it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output
from rendercli.cli.options import ASSET_ARG, JSON_OPTION, noun_app
from rendercli.render.timeline import (
    MAX_FONT_FACE,
    MAX_TEXT_FADE_SECONDS,
    PLACEMENTS,
    TEXT_SIZES,
    TEXT_STYLES,
)
from rendercli.services import texts
from rendercli.services.items import one_line

if TYPE_CHECKING:
    from rendercli.services.texts import TextView

app = noun_app(
    "Text over clips, stills and titles: a name in the lower third, a caption.\n\n"
    "Example: rendercli text add k2x9c0c0p1q8r7s6t5u4v3w2 'Ana Lima, director' --at 1 --for 3"
)


def _when(text: TextView) -> str:
    end = "end" if text.duration is None else f"{text.start + text.duration:g}s"
    return f"{text.start:g}s-{end}"


@app.command("add")
def add(
    asset: str = ASSET_ARG,
    text: str = typer.Argument(..., metavar="TEXT", help="The text (any Unicode)."),
    at: float = typer.Option(0.0, "--at", metavar="START", min=0.0,
                             help="Seconds into the item when it appears."),
    for_: float | None = typer.Option(None, "--for", metavar="SECONDS", min=0.0,
                                      help="Seconds it stays (default: to the item's end)."),
    placement: str = typer.Option("lower-third", "--placement", metavar="PLACEMENT",
                                  help=", ".join(PLACEMENTS) + "."),
    size: str = typer.Option("medium", "--size", metavar="SIZE",
                             help=", ".join(TEXT_SIZES) + "."),
    color: str = typer.Option("white", "--color", metavar="COLOR",
                              help="A colour name (white, gold, ...) or #RRGGBB."),
    box: bool = typer.Option(True, "--box/--no-box",
                             help="A translucent dark box behind the text."),
    font: str | None = typer.Option(None, "--font", metavar="ASSET",
                                    help="A font added to the project (asset id or file name)."),
    face: int = typer.Option(0, "--face", metavar="N", min=0, max=MAX_FONT_FACE,
                             help="The face of a .ttc/.otc font collection (0 = first)."),
    style: str | None = typer.Option(None, "--style", metavar="STYLE",
                                     help=", ".join(TEXT_STYLES) + " (default: box)."),
    fade_in: float = typer.Option(0.0, "--fade-in", metavar="SECONDS", min=0.0,
                                  max=MAX_TEXT_FADE_SECONDS, help="Seconds to fade in."),
    fade_out: float = typer.Option(0.0, "--fade-out", metavar="SECONDS", min=0.0,
                                   max=MAX_TEXT_FADE_SECONDS, help="Seconds to fade out."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Put text over a picture item (clip, still or title). Several per item.

    The text is data: quotes, %, :, backslashes, braces and newlines are drawn as typed,
    in any script (Arabic and Hebrew right to left, CJK, emoji as monochrome glyphs)
    with fonts from the system for characters the font lacks; a character no font has
    is refused. Long text is wrapped to the frame; texts shown together at one placement
    are stacked. Put `--` before a text that starts with `-`.

    Example: rendercli text add k2x9c0c0p1q8r7s6t5u4v3w2 'Ana Lima, director' --at 1 --for 3
    """
    user = context.require_user()
    added = texts.add(context.uow(), user.id, asset, text, texts.TextEdits(
        start=at, duration=for_, placement=placement, size=size, color=color, box=box,
        font=font, font_face=face, style=style, fade_in=fade_in, fade_out=fade_out))
    output.result(added, json_output, f"Added text #{added.position} ({_when(added)}, "
                                      f"{added.placement}) [{added.id}]")


@app.command("update")
def update(
    text_id: str = typer.Argument(..., metavar="TEXT_ID", help="The text's id (see `text list`)."),
    text: str | None = typer.Argument(None, metavar="[TEXT]", help="New text."),
    at: float | None = typer.Option(None, "--at", metavar="START", min=0.0,
                                    help="Seconds into the item when it appears."),
    for_: float | None = typer.Option(None, "--for", metavar="SECONDS", min=0.0,
                                      help="Seconds it stays."),
    placement: str | None = typer.Option(None, "--placement", metavar="PLACEMENT",
                                         help=", ".join(PLACEMENTS) + "."),
    size: str | None = typer.Option(None, "--size", metavar="SIZE",
                                    help=", ".join(TEXT_SIZES) + "."),
    color: str | None = typer.Option(None, "--color", metavar="COLOR",
                                     help="A colour name or #RRGGBB."),
    box: bool | None = typer.Option(None, "--box/--no-box",
                                    help="A translucent dark box behind the text."),
    font: str | None = typer.Option(None, "--font", metavar="ASSET",
                                    help="A font added to the project, or default."),
    face: int | None = typer.Option(None, "--face", metavar="N", min=0, max=MAX_FONT_FACE,
                                    help="The face of a .ttc/.otc font collection."),
    style: str | None = typer.Option(None, "--style", metavar="STYLE",
                                     help=", ".join(TEXT_STYLES) + "."),
    fade_in: float | None = typer.Option(None, "--fade-in", metavar="SECONDS", min=0.0,
                                         max=MAX_TEXT_FADE_SECONDS, help="Seconds to fade in."),
    fade_out: float | None = typer.Option(None, "--fade-out", metavar="SECONDS", min=0.0,
                                          max=MAX_TEXT_FADE_SECONDS,
                                          help="Seconds to fade out."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Change a text: its words, time, placement, look, font or fades.

    Only what is given changes; the result is checked like a new text.

    Example: rendercli text update m1n2b3v4c5x6z7l8k9j0h1g2 --style outline --fade-in 0.5
    """
    user = context.require_user()
    updated = texts.update(context.uow(), user.id, text_id, text, texts.TextChanges(
        start=at, duration=for_, placement=placement, size=size, color=color, box=box,
        font=font, font_face=face, style=style, fade_in=fade_in, fade_out=fade_out))
    output.result(updated, json_output, f"Updated text #{updated.position} "
                                        f"({_when(updated)}, {updated.placement}) "
                                        f"[{updated.id}]")


@app.command("list")
def list_(asset: str = ASSET_ARG, json_output: bool = JSON_OPTION) -> None:
    """List the texts over an item, in drawing order.

    Example: rendercli text list k2x9c0c0p1q8r7s6t5u4v3w2
    """
    user = context.require_user()
    found = texts.list_texts(context.uow(), user.id, asset)
    if json_output:
        output.print_json(found)
        return
    output.print_table(
        ["#", "ID", "WHEN", "PLACEMENT", "SIZE", "COLOR", "TEXT"],
        [(t.position, t.id, _when(t), t.placement, t.size, t.color, one_line(t.text, 60))
         for t in found],
        empty="No texts on this item: rendercli text add ASSET TEXT",
        optional=["SIZE", "COLOR", "PLACEMENT"],
    )


@app.command("remove")
def remove(
    text_id: str = typer.Argument(..., metavar="TEXT_ID", help="The text's id (see `text list`)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove a text from its item.

    Example: rendercli text remove m1n2b3v4c5x6z7l8k9j0h1g2
    """
    user = context.require_user()
    removed = texts.remove(context.uow(), user.id, text_id)
    output.result(removed, json_output, f"Removed text #{removed.position} [{removed.id}].")
