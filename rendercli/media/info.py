"""What probing a media file tells us. Shared by ingest (assets) and the render engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

MediaKind = Literal["video", "image", "audio"]


@dataclass(frozen=True)
class MediaInfo:
    kind: MediaKind
    container: str  # a short name from the allow-list: mp4, mov, matroska, webm, png, ...
    duration: float | None  # seconds; None for still images
    width: int | None  # as displayed: rotation applied (a portrait phone clip is portrait)
    height: int | None
    frame_rate: float | None  # frames per second; None for stills and audio
    rotation: int  # degrees clockwise the picture must be turned for display: 0/90/180/270
    video_codec: str | None
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    # The allow-listed FFmpeg demuxer that read it (``-f`` value for renders: see
    # formats.ffmpeg_input_args). Defaulted so other code may build MediaInfo without it.
    demuxer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
