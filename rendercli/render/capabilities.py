"""What the ffmpeg in use can do: its version and the encoders the render engine needs."""

from __future__ import annotations

from dataclasses import dataclass

from rendercli.media.ffmpeg_binary import ffmpeg_path, ffmpeg_source
from rendercli.render.runner import capture

REQUIRED_ENCODERS = ("libx264", "aac")  # mp4, the default format
OPTIONAL_ENCODERS = ("libvpx-vp9", "libopus")  # webm only


@dataclass(frozen=True)
class FfmpegInfo:
    path: str
    source: str  # RENDERCLI_FFMPEG, PATH or imageio-ffmpeg
    version: str
    encoders: dict[str, bool]  # the ones rendercli uses -> available


def ffmpeg_info() -> FfmpegInfo:
    """Probe the ffmpeg binary rendercli will run."""
    path = ffmpeg_path()
    first_line = capture([path, "-hide_banner", "-version"]).splitlines()[0]
    version = first_line.removeprefix("ffmpeg version ").split(" ")[0]
    listed = capture([path, "-hide_banner", "-encoders"])
    names = {parts[1] for line in listed.splitlines() if len(parts := line.split()) > 1}
    wanted = (*REQUIRED_ENCODERS, *OPTIONAL_ENCODERS)
    return FfmpegInfo(path=path, source=ffmpeg_source(), version=version,
                      encoders={name: name in names for name in wanted})
