"""asset add | list | show | update | remove."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output
from rendercli.cli.options import ASSET_ARG, JSON_OPTION, PROJECT_ARG

if TYPE_CHECKING:
    from rendercli.services.assets import AssetView

app = typer.Typer(
    help=(
        "Add media to a project's timeline and arrange it.\n\n"
        "Example: rendercli asset add holiday intro.mp4 beach.jpg song.mp3"
    ),
    no_args_is_help=True,
)
DURATION = typer.Option(None, "--duration", help="Images: seconds shown (default 3).", min=0.0)
TRIM_START = typer.Option(None, "--trim-start", help="Video/audio: start offset in the source, s.")
TRIM_END = typer.Option(None, "--trim-end", help="Video/audio: end time in the source, s.")
POSITION = typer.Option(None, "--position", help="1-based place in the timeline.", min=1)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _size(asset: AssetView) -> str:
    return f"{asset.width}x{asset.height}" if asset.width and asset.height else "-"


def _trims(asset: AssetView) -> str:
    if asset.kind == "image":
        return "-"
    if asset.trim_start is None and asset.trim_end is None:
        return "-"
    end = asset.trim_end if asset.trim_end is not None else asset.duration
    return f"{asset.trim_start or 0:g}-{end:g}"


def _edits(duration: float | None, trim_start: float | None, trim_end: float | None):  # type: ignore[no-untyped-def]
    from rendercli.services.assets import Edits

    return Edits(duration=duration, trim_start=trim_start, trim_end=trim_end)


@app.command("add")
def add(
    project: str = PROJECT_ARG,
    files: list[str] = typer.Argument(..., metavar="FILE", help="Media files, in order."),
    duration: float | None = DURATION,
    trim_start: float | None = TRIM_START,
    trim_end: float | None = TRIM_END,
    position: int | None = POSITION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add media files (video, images, audio) to a project, all or nothing.

    Files are copied into storage and probed. Put `--` before names that start with `-`.

    Example: rendercli asset add holiday intro.mp4 beach.jpg --duration 4
    """
    from rendercli.services import assets

    user = context.require_user()
    added = assets.add(
        context.uow(),
        user.id,
        project,
        [Path(f) for f in files],
        _edits(duration, trim_start, trim_end),
        position=position,
    )
    if json_output:
        output.print_json(added)
        return
    for asset in added:
        output.say(
            f"Added {asset.display_name} as #{asset.position} ({asset.kind}, "
            f"{asset.timeline_duration:.2f}s) [{asset.id}]"
        )


@app.command("list")
def list_(
    project: str = PROJECT_ARG,
    json_output: bool = JSON_OPTION,
) -> None:
    """List a project's assets in timeline order, with the total duration.

    Example: rendercli asset list holiday
    """
    from rendercli.services import assets

    user = context.require_user()
    timeline = assets.list_assets(context.uow(), user.id, project)
    if json_output:
        output.print_json(timeline)
        return
    output.print_table(
        ["#", "ID", "KIND", "NAME", "DURATION", "SIZE", "TRIM", "AUDIO"],
        [
            (
                a.position,
                a.id,
                a.kind,
                a.display_name,
                _seconds(a.timeline_duration),
                _size(a),
                _trims(a),
                a.has_audio,
            )
            for a in timeline.assets
        ],
        empty=f"No assets in {timeline.project_name}: rendercli asset add PROJECT FILE...",
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


def _show(asset: AssetView) -> None:
    from rendercli.media.info import stored_fields

    probed = []
    for fact in stored_fields():
        if fact.name in _SHOWN_ABOVE:
            continue
        value = getattr(asset, fact.name)
        if fact.name == "has_audio":
            value = asset.audio_codec if value else None
        probed.append((fact.metadata["label"], value))
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
            *probed,
            ("bytes", asset.size_bytes),
            ("sha256", asset.sha256),
            ("added", asset.created_at),
        ]
    )


@app.command("show")
def show(asset: str = ASSET_ARG, json_output: bool = JSON_OPTION) -> None:
    """Show one asset with everything probing found.

    Example: rendercli asset show k2x9c0c0p1q8r7s6t5u4v3w2 --json
    """
    from rendercli.services import assets

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
    json_output: bool = JSON_OPTION,
) -> None:
    """Move an asset, or change its trims (video, audio) or duration (images).

    Example: rendercli asset update k2x9c0c0p1q8r7s6t5u4v3w2 --position 1 --trim-start 2.5
    """
    from rendercli.services import assets

    user = context.require_user()
    updated = assets.update_asset(
        context.uow(), user.id, asset, _edits(duration, trim_start, trim_end), position=position
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
    """Remove an asset from its project (the rest move up).

    Example: rendercli asset remove k2x9c0c0p1q8r7s6t5u4v3w2
    """
    from rendercli.services import assets

    user = context.require_user_recovering()
    removed = assets.remove(context.uow(), user.id, asset)
    output.result(
        removed, json_output, f"Removed {removed.display_name} (was #{removed.position})."
    )
