"""What probing a media file tells us. Shared by ingest (assets) and the render engine.

`MediaInfo` is the one list of probed facts: the asset rows store each of them in a
column of the same name (`columns()`), and the asset views and `asset show` are derived
from it.
"""

from __future__ import annotations

import re
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any, Literal

from rendercli.media.colour import SourceColour

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
    # Picture sources: the colour tags of the first frame (allow-listed names). Not
    # stored with the asset: the render engine reads them from the file it renders.
    colour: SourceColour | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def columns(self) -> dict[str, Any]:
        """The stored facts, by column name."""
        return {f.name: getattr(self, f.name) for f in stored_fields()}


def stored_fields() -> tuple[Field[Any], ...]:
    """The facts kept with an asset, in display order (each has a "label")."""
    return tuple(f for f in fields(MediaInfo) if "label" in f.metadata)


_KINDS = frozenset({"video", "image", "audio", "font"})
_NAME = re.compile(r"[a-z0-9_]{1,32}")  # codec and pixel format names, as FFmpeg writes them
_INTEGERS = {"width": 65536, "height": 65536, "sample_rate": 10**7, "channels": 1024}


def remembered(data: object) -> MediaInfo | None:
    """A MediaInfo rebuilt from a stored probe answer (JSON that left this process and
    came back), or None unless every field has the shape a probe gives it."""
    from rendercli.media.formats import DEMUXER_CONTAINERS

    names = {f.name for f in fields(MediaInfo)}
    if not isinstance(data, dict) or set(data) != names:
        return None
    colour = None if data["colour"] is None else SourceColour.from_dict(data["colour"])
    if data["colour"] is not None and colour is None:
        return None
    number = (int, float)
    checks = [
        data["kind"] in _KINDS,
        data["duration"] is None or (type(data["duration"]) in number
                                     and 0 <= data["duration"] < 10**9),
        data["frame_rate"] is None or (type(data["frame_rate"]) in number
                                       and 0 < data["frame_rate"] <= 1000),
        data["rotation"] in (0, 90, 180, 270) and type(data["rotation"]) is int,
        data["container"] in {*DEMUXER_CONTAINERS.values(), "ttf", "otf"},
        type(data["has_audio"]) is bool,
        data["demuxer"] is None or data["demuxer"] in DEMUXER_CONTAINERS,
        *(data[key] is None or (type(data[key]) is int and 0 < data[key] <= high)
          for key, high in _INTEGERS.items()),
        *(data[key] is None or (isinstance(data[key], str) and _NAME.fullmatch(data[key]))
          for key in ("video_codec", "pix_fmt", "audio_codec")),
    ]
    return MediaInfo(**{**data, "colour": colour}) if all(checks) else None
