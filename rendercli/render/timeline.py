"""What the engine renders: timeline items, settings, validation and the frame plan.

Frame arithmetic is defined once, here: an item of ``duration`` seconds occupies
``frames_for(duration, fps) = floor(duration * fps + 0.5)`` frames (at least one), the
timeline is the sum of those, and every time boundary (segment cuts, audio placement,
the output duration) is a whole number of frames. Audio boundaries are the sample
nearest each frame boundary, so clip sound and picture stay locked item by item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rendercli.errors import InvalidInput
from rendercli.render.presets import (
    AUDIO_RATE,
    FORMATS,
    MAX_FPS,
    MAX_GIF_FPS,
    MIN_FPS,
    PRESETS,
    QUALITIES,
)

ItemKind = Literal["video", "image", "audio"]


@dataclass(frozen=True)
class TimelineItem:
    """One entry of a timeline, as loaded from the database (paths are read-only)."""

    path: Path  # the stored media file (content-addressed; read-only)
    sha256: str  # content hash of the source
    kind: ItemKind
    duration: float  # seconds on the timeline: trimmed length, or display time for images
    trim_start: float  # seconds into the source (video/audio); 0 for images
    has_audio: bool
    width: int | None  # as displayed (rotation applied)
    height: int | None
    rotation: int  # 0/90/180/270, from probing


@dataclass(frozen=True)
class RenderSettings:
    """Output settings of a render."""

    preset: str = "720p"  # 2160p 1080p 720p 480p square vertical
    fmt: str = "mp4"  # mp4 | webm | gif
    fps: int = 30
    quality: str = "standard"  # draft | standard | high
    use_cache: bool = True

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the output picture."""
        return PRESETS[self.preset]


def validate_settings(settings: RenderSettings) -> None:
    """Raise InvalidInput unless the settings name a known preset, format and quality."""
    if settings.preset not in PRESETS:
        raise InvalidInput(
            f"unknown preset {settings.preset!r}; choose one of {', '.join(PRESETS)}"
        )
    if settings.fmt not in FORMATS:
        raise InvalidInput(f"unknown format {settings.fmt!r}; choose one of {', '.join(FORMATS)}")
    if settings.quality not in QUALITIES:
        raise InvalidInput(
            f"unknown quality {settings.quality!r}; choose one of {', '.join(QUALITIES)}"
        )
    if isinstance(settings.fps, bool) or not isinstance(settings.fps, int) or not (
        MIN_FPS <= settings.fps <= MAX_FPS
    ):
        raise InvalidInput(f"fps must be a whole number from {MIN_FPS} to {MAX_FPS}, "
                           f"got {settings.fps!r}")
    if settings.fmt == "gif" and settings.fps > MAX_GIF_FPS:
        # GIF frame delays are whole 1/100 s and players slow delays under 2/100 s to 1/10 s
        raise InvalidInput(f"gif supports at most {MAX_GIF_FPS} fps, got {settings.fps}")


def validate_timeline(items: Sequence[TimelineItem]) -> None:
    """Raise InvalidInput unless the timeline has a picture and every item is well formed."""
    if not any(item.kind in ("video", "image") for item in items):
        raise InvalidInput("the timeline has no video or image items: nothing to render")
    for n, item in enumerate(items, 1):
        where = f"timeline item {n} ({Path(item.path).name})"
        if item.kind not in ("video", "image", "audio"):
            raise InvalidInput(f"{where}: unknown kind {item.kind!r}")
        if not (isinstance(item.duration, int | float) and math.isfinite(item.duration)
                and item.duration > 0):
            raise InvalidInput(f"{where}: duration must be a positive number of seconds")
        if not (isinstance(item.trim_start, int | float) and math.isfinite(item.trim_start)
                and item.trim_start >= 0):
            raise InvalidInput(f"{where}: trim start must be zero or more seconds")
        if item.rotation not in (0, 90, 180, 270):
            raise InvalidInput(f"{where}: rotation must be 0, 90, 180 or 270")
        if not item.sha256:
            raise InvalidInput(f"{where}: missing content hash")


def frames_for(duration: float, fps: int) -> int:
    """Frames an item of ``duration`` seconds occupies: nearest whole frame, at least one."""
    return max(1, math.floor(duration * fps + 0.5))


@dataclass(frozen=True)
class PlannedItem:
    """A picture item placed on the frame grid."""

    index: int  # position among the picture items
    item: TimelineItem
    frames: int
    start_frame: int


@dataclass(frozen=True)
class TimelinePlan:
    """Picture items on the frame grid, plus the background audio items."""

    visual: tuple[PlannedItem, ...]
    background: tuple[TimelineItem, ...]
    fps: int
    total_frames: int

    @property
    def duration(self) -> float:
        """Output duration in seconds: a whole number of frames."""
        return self.total_frames / self.fps

    def sample_at(self, frame: int) -> int:
        """The audio sample (at AUDIO_RATE) nearest a frame boundary."""
        return math.floor(frame * AUDIO_RATE / self.fps + 0.5)

    @property
    def total_samples(self) -> int:
        return self.sample_at(self.total_frames)


def plan_timeline(items: Sequence[TimelineItem], fps: int) -> TimelinePlan:
    """Place picture items back to back on the frame grid; audio items become background."""
    visual: list[PlannedItem] = []
    start = 0
    for item in items:
        if item.kind == "audio":
            continue
        frames = frames_for(item.duration, fps)
        visual.append(PlannedItem(len(visual), item, frames, start))
        start += frames
    background = tuple(item for item in items if item.kind == "audio")
    return TimelinePlan(tuple(visual), background, fps, start)
