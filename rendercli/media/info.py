"""What probing a media file tells us. Shared by ingest (assets) and the render engine.

`MediaInfo` is the one list of probed facts: the asset rows store each of them in a
column of the same name (`columns()`), and the asset views and `asset show` are derived
from it.
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any, Literal

# "font": a TTF/OTF file (media/fonts.py), which only titles and texts use.
MediaKind = Literal["video", "image", "audio", "font"]


@dataclass(frozen=True)
class MediaInfo:
    # Each field with a "label" (how people read it) is stored with the asset.
    kind: MediaKind = field(metadata={"label": "kind"})
    # Seconds; None for still images and fonts.
    duration: float | None = field(metadata={"label": "source duration"})
    # As displayed: rotation applied (a portrait phone clip is portrait).
    width: int | None = field(metadata={"label": "width"})
    height: int | None = field(metadata={"label": "height"})
    # None for stills and audio.
    frame_rate: float | None = field(metadata={"label": "frame rate"})
    # Degrees clockwise the picture must be turned for display: 0/90/180/270.
    rotation: int = field(metadata={"label": "rotation"})
    # A short name from the allow-list: mp4, mov, matroska, webm, png, ..., ttf, otf
    container: str = field(metadata={"label": "container"})
    video_codec: str | None = field(metadata={"label": "video codec"})
    pix_fmt: str | None = field(metadata={"label": "pixel format"})
    has_audio: bool = field(metadata={"label": "audio"})
    audio_codec: str | None = field(metadata={"label": "audio codec"})
    sample_rate: int | None = field(metadata={"label": "sample rate"})
    channels: int | None = field(metadata={"label": "channels"})
    # The allow-listed FFmpeg demuxer that read it (``-f`` value for renders: see
    # formats.ffmpeg_input_args). Not stored with the asset. Defaulted so other code
    # may build MediaInfo without it.
    demuxer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def columns(self) -> dict[str, Any]:
        """The stored facts, by column name."""
        return {f.name: getattr(self, f.name) for f in stored_fields()}


def stored_fields() -> tuple[Field[Any], ...]:
    """The facts kept with an asset, in display order (each has a "label")."""
    return tuple(f for f in fields(MediaInfo) if "label" in f.metadata)
