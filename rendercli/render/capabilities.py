"""What the ffmpeg in use can do, and proof that it renders: for `rendercli doctor`."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rendercli.media.ffmpeg_binary import (
    LIBASS_FILTERS,
    REQUIRED_ENCODERS,
    WEBM_ENCODERS,
    chosen,
)
from rendercli.render import pictures, runner
from rendercli.render.errors import RenderFailed
from rendercli.render.timeline import (
    RenderSettings,
    TitleCard,
    Transition,
    plan_timeline,
    title_item,
)

OPTIONAL_ENCODERS = WEBM_ENCODERS  # webm only
__all__ = ["OPTIONAL_ENCODERS", "REQUIRED_ENCODERS", "FfmpegInfo", "exercise", "ffmpeg_info"]


@dataclass(frozen=True)
class FfmpegInfo:
    path: str
    source: str  # RENDERCLI_FFMPEG, PATH or imageio-ffmpeg
    reason: str  # why this binary
    version: str
    encoders: dict[str, bool]  # the ones rendercli uses -> available
    features: dict[str, bool]  # libass, xfade, sidechaincompress, ebur128


def ffmpeg_info() -> FfmpegInfo:
    """The ffmpeg binary rendercli will run, why, and what it has (detected once per
    binary). Raises OperationFailed when there is no usable one."""
    choice = chosen()
    found = choice.features
    wanted = (*REQUIRED_ENCODERS, *WEBM_ENCODERS)
    features = {"xfade": "xfade" in found.filters,
                "sidechaincompress": "sidechaincompress" in found.filters,
                "ebur128": "ebur128" in found.filters,
                f"libass ({'/'.join(LIBASS_FILTERS)})": found.libass}
    return FfmpegInfo(path=choice.path, source=choice.source, reason=choice.reason,
                      version=found.version,
                      encoders={name: name in found.encoders for name in wanted},
                      features=features)


def exercise(timeout: float = 60.0) -> float:
    """Render one frame of a tiny timeline with the engine's own graph code -- two
    two-line title cards joined by a fade (libass, line layout, xfade, the colour
    pipeline) -- and return the seconds it took. Raises RenderFailed (with ffmpeg's
    line) or RenderTimedOut."""
    settings = RenderSettings(preset="480p", fps=10, quality="draft")
    items = [title_item(TitleCard("rendercli doctor\nline two", background="navy"), 0.5,
                        transition=Transition("fade", 0.3)),
             title_item(TitleCard("second card\nlast line"), 0.5)]
    plan = plan_timeline(items, settings.fps)
    segment = next(s for s in plan.segments if s.transition is not None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rendercli-doctor-") as folder:
        out = Path(folder) / "frame.png"
        runner.run(pictures.frame_command(segment, segment.frames // 2, settings, out,
                                          Path(folder)), timeout=timeout)
        if not out.is_file() or out.stat().st_size == 0:
            raise RenderFailed("the test render wrote no picture")
    return time.monotonic() - started
