"""asset add | list | show | update | remove."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output
from rendercli.cli.options import ASSET_ARG, JSON_OPTION, PROJECT_ARG, noun_app
from rendercli.cli.upload_bar import upload_bar
from rendercli.media.info import stored_fields
from rendercli.render.timeline import DEFAULT_TRANSITION_SECONDS, MAX_VOLUME, MOTIONS, TRANSITIONS
from rendercli.services import assets
from rendercli.services.assets import Edits

if TYPE_CHECKING:
    from rendercli.services.assets import AssetView

app = noun_app(
    "Add media (and fonts) to a project's timeline, arrange it, and set transitions, "
    "fades, sound, motion and fit.\n\n"
    "Example: rendercli asset add holiday intro.mp4 beach.jpg song.mp3"
)
DURATION = typer.Option(
    None, "--duration", help="Images and titles: seconds shown (default 3).", min=0.0
)
TRIM_START = typer.Option(None, "--trim-start", help="Video/audio: start offset in the source, s.")
TRIM_END = typer.Option(None, "--trim-end", help="Video/audio: end time in the source, s.")
POSITION = typer.Option(None, "--position", help="1-based place in the timeline.", min=1)
TRANSITION = typer.Option(
    None, "--transition", metavar="KIND[:SECONDS]",
    help=f"Picture items: into the next picture item. KIND: {', '.join(TRANSITIONS)} "
    f"(none: a cut; crossfade = fade, a smooth blend; dissolve: a grainy pixel dissolve); "
    f"{DEFAULT_TRANSITION_SECONDS:g} s unless SECONDS is given (crossfade:0.5).",
)
FADE_IN = typer.Option(
    None, "--fade-in", metavar="S", min=0.0,
    help="Seconds of fade in: picture from black, sound from silence.",
)
FADE_OUT = typer.Option(
    None, "--fade-out", metavar="S", min=0.0,
    help="Seconds of fade out: picture to black, sound to silence.",
)
VOLUME = typer.Option(
    None, "--volume", metavar="GAIN|dB",
    help=f"Clips and music: a gain from 0 to {MAX_VOLUME:g} (1: as is), or decibels like -6dB.",
)
MUTE = typer.Option(None, "--mute/--no-mute", help="Clips and music: silence the sound.")
DUCK = typer.Option(
    None, "--duck/--no-duck", help="Music: lower it under clip sound (sidechain compression)."
)
MOTION = typer.Option(
    None, "--motion", metavar="MOTION",
    help=f"Stills: {', '.join(MOTIONS)} (a slow Ken Burns move, which always fills the "
    "frame), or none.",
)
FIT = typer.Option(
    None, "--fit", metavar="FIT",
    help="Clips and stills of another shape than the frame: contain (all of it, black "
    "bars), cover (fill the frame, crop the overflow), blur (bars filled with a blurred "
    "copy; contain-blur is the same), or default (the project's: project create --fit).",
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _size(asset: AssetView) -> str:
    return f"{asset.width}x{asset.height}" if asset.width and asset.height else "-"


def _trims(asset: AssetView) -> str:
    if asset.kind not in ("video", "audio"):
        return "-"
    if asset.trim_start is None and asset.trim_end is None:
        return "-"
    end = asset.trim_end if asset.trim_end is not None else asset.duration
    return f"{asset.trim_start or 0:g}-{end:g}"


def _transition(asset: AssetView) -> str:
    if asset.transition == "none":
        return "-"
    return f"{asset.transition} {asset.transition_seconds:g}s"


def _volume(asset: AssetView) -> str:

    if asset.volume_text:  # as written: "-3dB (gain 0.708)"
        return f"{asset.volume_text} (gain {asset.volume:.3g})"
    if asset.volume == 0:
        return "0 (-inf dB)"
    return f"{asset.volume:.3g} ({20 * math.log10(asset.volume):+.1f} dB)"


def _effects(asset: AssetView) -> str:
    """Fades, sound, motion and texts, in a few words ("-" when there are none)."""
    parts = []
    if asset.fade_in:
        parts.append(f"fade in {asset.fade_in:g}s")
    if asset.fade_out:
        parts.append(f"fade out {asset.fade_out:g}s")
    if asset.volume != 1:
        parts.append(f"volume {asset.volume_text or format(asset.volume, '.3g')}")
    if asset.mute:
        parts.append("muted")
    if asset.duck:
        parts.append("ducked")
    if asset.motion:
        parts.append(asset.motion)
    if asset.fit:
        parts.append(f"fit {asset.fit}")
    if asset.text_count:
        parts.append(f"{asset.text_count} text" + ("s" if asset.text_count > 1 else ""))
    return ", ".join(parts) or "-"


def _edits(  # type: ignore[no-untyped-def]
    duration: float | None,
    trim_start: float | None,
    trim_end: float | None,
    transition: str | None = None,
    fade_in: float | None = None,
    fade_out: float | None = None,
    volume: str | None = None,
    mute: bool | None = None,
    duck: bool | None = None,
    motion: str | None = None,
    fit: str | None = None,
):

    return Edits(duration=duration, trim_start=trim_start, trim_end=trim_end,
                 transition=transition, fade_in=fade_in, fade_out=fade_out, volume=volume,
                 mute=mute, duck=duck, motion=motion, fit=fit)


@app.command("add")
def add(
    project: str = PROJECT_ARG,
    files: list[str] = typer.Argument(..., metavar="FILE", help="Media or font files, in order."),
    duration: float | None = DURATION,
    trim_start: float | None = TRIM_START,
    trim_end: float | None = TRIM_END,
    position: int | None = POSITION,
    transition: str | None = TRANSITION,
    fade_in: float | None = FADE_IN,
    fade_out: float | None = FADE_OUT,
    volume: str | None = VOLUME,
    mute: bool | None = MUTE,
    duck: bool | None = DUCK,
    motion: str | None = MOTION,
    fit: str | None = FIT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add media files (video, images, audio) or TTF/OTF fonts to a project, all or nothing.

    Files are copied into storage and probed. Put `--` before names that start with `-`.
    Options apply to each file they fit (--duck to the music among them, and so on).
    Fonts are kept with the project for `title` and `text --font`; they are not on the
    timeline.

    Example: rendercli asset add holiday intro.mp4 beach.jpg --duration 4 --transition fade

    Example: rendercli asset add reel wide.mp4 photo.jpg --fit blur
    """
    user = context.require_user()
    added = assets.add(
        context.uow(),
        user.id,
        project,
        [Path(f) for f in files],
        _edits(duration, trim_start, trim_end, transition, fade_in, fade_out, volume, mute,
               duck, motion, fit),
        position=position,
        uploads=upload_bar(json_output=json_output),
    )
    if json_output:
        output.print_json(added)
        return
    for asset in added:
        if asset.kind == "font":
            output.say(f"Added font {asset.display_name} [{asset.id}]")
            continue
        output.say(
            f"Added {asset.display_name} as #{asset.position} ({asset.kind}, "
            f"{asset.timeline_duration:.2f}s) [{asset.id}]"
        )


@app.command("list")
def list_(
    project: str = PROJECT_ARG,
    json_output: bool = JSON_OPTION,
) -> None:
    """List a project's items in timeline order (then its fonts), with the total duration.

    Titles are listed like any other item (KIND title). TRANSITION is the one into the
    next picture item; EFFECTS sums up fades, volume, mute, ducking, motion, fit and
    texts.

    Example: rendercli asset list holiday
    """
    user = context.require_user()
    timeline = assets.list_assets(context.uow(), user.id, project)
    if json_output:
        output.print_json(timeline)
        return
    output.print_table(
        ["#", "ID", "KIND", "NAME", "DURATION", "SIZE", "TRIM", "AUDIO", "TRANSITION",
         "EFFECTS"],
        [
            (
                a.position,
                a.id,
                a.kind,
                a.display_name,
                _seconds(a.timeline_duration) if a.kind != "font" else "-",
                _size(a),
                _trims(a),
                a.has_audio,
                _transition(a),
                _effects(a),
            )
            for a in timeline.assets
        ],
        empty=f"No assets in {timeline.project_name}: rendercli asset add PROJECT FILE...",
        optional=["AUDIO", "SIZE", "TRIM", "EFFECTS"],
    )
    if output.stdout_is_tty():
        output.say(
            f"Timeline: {timeline.total_duration:.2f}s"
            + (
                f" (audio under it: {timeline.audio_duration:.2f}s)"
                if timeline.audio_duration
                else ""
            )
        )


# Probed facts `_show` prints in its first lines, or (audio codec) with "audio".
_SHOWN_ABOVE = frozenset({"kind", "duration", "width", "height", "audio_codec"})


def _settings(asset: AssetView) -> list[tuple[str, object]]:
    """The timeline settings that apply to the item's kind."""
    kind = asset.kind
    lines: list[tuple[str, object]] = []
    if kind == "title" and asset.title is not None:
        card = asset.title
        lines += [("text", card.text), ("background", card.background),
                  ("color", card.color), ("text size", card.size),
                  ("font", card.font_id or "default")]
    if kind in ("video", "image", "title"):
        lines.append(("transition", _transition(asset)))
    if kind != "font":
        lines += [("fade in", _seconds(asset.fade_in)), ("fade out", _seconds(asset.fade_out))]
    if kind in ("video", "audio"):
        lines += [("volume", _volume(asset)), ("mute", asset.mute)]
    if kind == "audio":
        lines.append(("duck", asset.duck))
    if kind == "image":
        lines.append(("motion", asset.motion or "none"))
    if kind in ("video", "image"):
        lines.append(("fit", asset.fit or "default (the project's)"))
    if kind in ("video", "image", "title"):
        lines.append(("texts", asset.text_count))
    return lines


def _show(asset: AssetView) -> None:

    probed = []
    if asset.kind != "title":
        for fact in stored_fields():
            if fact.name in _SHOWN_ABOVE:
                continue
            value = getattr(asset, fact.name)
            if fact.name == "has_audio":
                value = asset.audio_codec if value else None
            probed.append((fact.metadata["label"], value))
    stored = [] if asset.kind == "title" else [("bytes", asset.size_bytes),
                                                 ("sha256", asset.sha256)]
    output.print_fields(
        [
            ("id", asset.id),
            ("position", asset.position),
            ("kind", asset.kind),
            ("name", asset.display_name),
            ("timeline duration", _seconds(asset.timeline_duration)),
            ("source duration", _seconds(asset.duration)),
            ("trim", _trims(asset)),
            ("size", _size(asset)),
            *_settings(asset),
            *probed,
            *stored,
            ("added", asset.created_at),
        ]
    )


@app.command("show")
def show(asset: str = ASSET_ARG, json_output: bool = JSON_OPTION) -> None:
    """Show one item: its timeline settings and everything probing found.

    Example: rendercli asset show k2x9c0c0p1q8r7s6t5u4v3w2 --json
    """
    user = context.require_user()
    found = assets.get(context.uow(), user.id, asset)
    if json_output:
        output.print_json(found)
    else:
        _show(found)


@app.command("update")
def update(
    asset: str = ASSET_ARG,
    position: int | None = POSITION,
    trim_start: float | None = TRIM_START,
    trim_end: float | None = TRIM_END,
    duration: float | None = DURATION,
    transition: str | None = TRANSITION,
    fade_in: float | None = FADE_IN,
    fade_out: float | None = FADE_OUT,
    volume: str | None = VOLUME,
    mute: bool | None = MUTE,
    duck: bool | None = DUCK,
    motion: str | None = MOTION,
    fit: str | None = FIT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Move an item or change its settings; works on titles too.

    Trims are for video and audio, --duration for images and titles. The changed
    timeline is checked first: a transition must fit both items it joins.

    Example: rendercli asset update k2x9c0c0p1q8r7s6t5u4v3w2 --transition fade:0.5 --volume -6dB

    Example: rendercli asset update k2x9c0c0p1q8r7s6t5u4v3w2 --fit cover
    """
    user = context.require_user()
    updated = assets.update_asset(
        context.uow(), user.id, asset,
        _edits(duration, trim_start, trim_end, transition, fade_in, fade_out, volume, mute,
               duck, motion, fit),
        position=position,
    )
    if json_output:
        output.print_json(updated)
    else:
        output.say(
            f"Updated {updated.display_name}: #{updated.position}, "
            f"{updated.timeline_duration:.2f}s."
        )


@app.command("remove")
def remove(asset: str = ASSET_ARG, json_output: bool = JSON_OPTION) -> None:
    """Remove an item (media, title or font) from its project (the rest move up).

    A font that titles or texts use is kept until they use another one (exit 5).

    Example: rendercli asset remove k2x9c0c0p1q8r7s6t5u4v3w2
    """
    user = context.require_user_recovering()
    removed = assets.remove(context.uow(), user.id, asset)
    where = "" if removed.position is None else f" (was #{removed.position})"
    output.result(removed, json_output, f"Removed {removed.display_name}{where}.")
