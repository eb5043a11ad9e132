"""Looking before rendering: one frame of a project's render, and a storyboard sheet.

Both draw with the render engine's own graph code and settings, so what they show is
what `render submit` will produce. They write a PNG to a path the caller gives (the CLI
publishes it to the user's file); nothing is recorded in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.errors import InvalidInput
from rendercli.render.timeline import RenderSettings, plan_timeline, validate_settings
from rendercli.services.items import read_items
from rendercli.services.projects import owned_project
from rendercli.services.renders.inputs import localized_inputs

if TYPE_CHECKING:
    from rendercli.render.timeline import TimelineItem
    from rendercli.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class FrameView:
    project_name: str
    seconds: float  # what was asked for
    frame: int  # the output frame shown then
    frame_seconds: float  # when that frame starts
    width: int
    height: int
    preset: str


@dataclass(frozen=True)
class StoryboardItem:
    position: int
    kind: str
    name: str
    start: float  # seconds into the output
    duration: float


@dataclass(frozen=True)
class StoryboardView:
    project_name: str
    preset: str
    width: int
    height: int
    columns: int
    rows: int
    items: list[StoryboardItem]


def _settings(preset: str, fps: int) -> RenderSettings:
    settings = RenderSettings(preset=preset, fmt="mp4", fps=fps)
    validate_settings(settings)
    return settings


def _timeline(uow: UnitOfWork, user_id: str,
              project_ref: str) -> tuple[str, list[TimelineItem], list[tuple[int, str]]]:
    """The project's name, its engine timeline, and each item's (position, name), read
    over plain SQL like `asset list` (no ORM)."""
    from rendercli.services.renders.timeline import project_fit, timeline_items

    with uow:
        project_id, name = owned_project(uow.rows, user_id, project_ref)
        rows = read_items(uow.rows, project_id)
        if not any(a.kind in ("video", "image", "title") for a in rows):
            raise InvalidInput(
                f"project {name!r} has nothing to show yet: add media with "
                "`rendercli asset add`"
            )
        items = timeline_items(rows, uow.settings,
                               project_fit(uow.rows, project_id))
        on_timeline = [a for a in rows if a.kind != "font"]  # read_items: timeline order
        return name, items, [(a.position, a.display_name) for a in on_timeline]


def frame(uow: UnitOfWork, user_id: str, project_ref: str, seconds: float, out: Path, *,
          preset: str = "720p", fps: int = 30) -> FrameView:
    """Draw the frame of the project's render shown at ``seconds`` into ``out`` (PNG).

    Raises NotFound (not the user's project), InvalidInput (bad settings, an empty
    timeline, a time outside it) or RenderFailed.
    """
    from rendercli.render.engine import render_frame

    settings = _settings(preset, fps)
    name, items, _rows = _timeline(uow, user_id, project_ref)
    with localized_inputs(uow.settings, items):  # from the bucket, if there is one
        shown = render_frame(items, settings, seconds, out, storage_dir=uow.settings.storage_dir)
    w, h = settings.size
    return FrameView(name, seconds, shown, round(shown / fps, 6), w, h, preset)


def storyboard(uow: UnitOfWork, user_id: str, project_ref: str, out: Path, *,
               preset: str = "720p", fps: int = 30) -> StoryboardView:
    """Draw the project's contact sheet into ``out`` (PNG): one captioned thumbnail per
    timeline item, in order (music as a plain tile)."""
    from rendercli.render.engine import SheetTile, render_storyboard

    settings = _settings(preset, fps)
    name, items, rows = _timeline(uow, user_id, project_ref)
    plan = plan_timeline(items, fps)
    starts = iter(p.start_frame / fps for p in plan.visual)
    listed: list[StoryboardItem] = []
    tiles = []
    for (position, display_name), item in zip(rows, items, strict=True):
        start = 0.0 if item.kind == "audio" else next(starts)
        entry = StoryboardItem(position, item.kind, display_name, round(start, 6),
                               round(item.duration, 6))
        listed.append(entry)
        tiles.append(SheetTile(item, caption(entry), display_name))
    with localized_inputs(uow.settings, items):  # from the bucket, if there is one
        layout = render_storyboard(tiles, settings, out,
                                   storage_dir=uow.settings.storage_dir)
    width, height = layout.size
    return StoryboardView(name, preset, width, height, layout.columns, layout.rows, listed)


def clock(seconds: float) -> str:
    """``m:ss.s``: a place on the timeline."""
    tenths = round(seconds * 10)
    return f"{tenths // 600}:{tenths % 600 / 10:04.1f}"


def caption(entry: StoryboardItem) -> str:
    """The first caption line of a storyboard tile: number, place and length."""
    where = "music from 0:00.0" if entry.kind == "audio" else f"at {clock(entry.start)}"
    return f"#{entry.position}  {where}  {entry.duration:.1f} s"
