"""argv builders for the joining steps (concat, mux, gif, poster), built with
ffmpeg-python; segments are built in ``pictures.py`` and sound in ``soundtrack.py``.
Nothing here runs ffmpeg.

User media is always opened with ``-protocol_whitelist file`` and the input format
allow-list; our own intermediates (segments, concat lists, audio track, palette) get
narrow allow-lists of exactly the demuxers that read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.inputs import INPUT_FORMAT_WHITELIST
from rendercli.render.presets import FORMAT_SPECS, gif_palette_options, reorder_delay
from rendercli.render.timeline import RenderSettings

GLOBAL_ARGS = ("-nostdin", "-y", "-hide_banner", "-loglevel", "warning", "-nostats",
               "-progress", "pipe:1")
USER_INPUT: dict[str, Any] = {"protocol_whitelist": "file",
                              "format_whitelist": INPUT_FORMAT_WHITELIST}


def _ffmpeg():  # type: ignore[no-untyped-def]
    import ffmpeg

    return ffmpeg


def _compile(stream: Any) -> list[str]:
    return list(stream.compile(cmd=[ffmpeg_path(), *GLOBAL_ARGS]))


def _own_input(path: Path, demuxer: str, **kwargs: Any) -> Any:
    return _ffmpeg().input(str(path), protocol_whitelist="file", format_whitelist=demuxer,
                           **kwargs)


# Our segments are BT.709 limited range (render/colour.py): read them as exactly that.
_WORKING_IN = {"in_range": "tv", "in_color_matrix": "bt709"}


def _rgb(video: Any) -> Any:
    return video.filter("scale", **_WORKING_IN, out_range="pc").filter("format", "rgb24")


def write_concat_list(path: Path, segments: list[Path]) -> None:
    """An ffconcat list naming segments relative to the list (so the safe mode accepts it)."""
    lines = ["ffconcat version 1.0"]
    for seg in segments:
        rel = seg.name if seg.parent == path.parent else str(seg)
        lines.append(f"file '{rel}'")
    path.write_text("\n".join(lines) + "\n")


def _segments_input(concat_list: Path, settings: RenderSettings) -> Any:
    demuxer = FORMAT_SPECS[settings.fmt].segment_demuxer
    return _own_input(concat_list, f"concat,{demuxer}", f="concat")


def mux_command(concat_list: Path, audio: Path, settings: RenderSettings, out: Path) -> list[str]:
    """Join the segments by stream copy and add the audio track (also copied)."""
    spec = FORMAT_SPECS[settings.fmt]
    video = _segments_input(concat_list, settings)["v:0"]
    sound = _own_input(audio, FORMAT_SPECS[settings.fmt].segment_demuxer)["a:0"]
    extra: dict[str, object] = {"movflags": "+faststart"} if settings.fmt == "mp4" else {}
    delay = reorder_delay(settings.fmt, settings.quality)
    if delay:
        # Decode times renumbered: packet N at (N - delay) frames. Taken as they come, a
        # short first segment (no B-frames: no delay) made later segments' decode times
        # collide with it; the muxer bumped them by a tick, and the video track came out
        # shorter than its frames by the delay.
        extra["bsf:v"] = f"setts=pts=PTS:dts=(N-{delay})/({settings.fps}*TB)"
    stream = _ffmpeg().output(video, sound, str(out), c="copy", f=spec.output_muxer, **extra)
    return _compile(stream)


def palette_command(concat_list: Path, settings: RenderSettings, out: Path) -> list[str]:
    """gif pass 1: one optimised 256-colour palette for the whole animation."""
    gen, _ = gif_palette_options(settings.quality)
    video = _rgb(_segments_input(concat_list, settings)["v:0"]).filter("palettegen", **gen)
    return _compile(video.output(str(out), f="image2", update=1, **{"frames:v": 1}))


def gif_command(concat_list: Path, palette: Path, settings: RenderSettings,
                out: Path) -> list[str]:
    """gif pass 2: map every frame onto the palette."""
    _, use = gif_palette_options(settings.quality)
    video = _rgb(_segments_input(concat_list, settings)["v:0"])
    pal = _own_input(palette, "png_pipe", f="png_pipe")["v:0"]
    stream = _ffmpeg().filter([video, pal], "paletteuse", **use)
    return _compile(stream.output(str(out), f="gif", loop=0))


def poster_command(segment: Path, at: float, settings: RenderSettings, out: Path) -> list[str]:
    """A JPEG still of the frame ``at`` seconds into one of our segments."""
    demuxer = FORMAT_SPECS[settings.fmt].segment_demuxer
    video = _own_input(segment, demuxer, ss=f"{at:.6f}")["v:0"]
    # JPEG's own colour space: full range BT.601 (what every viewer assumes).
    video = video.filter("scale", **_WORKING_IN, out_range="pc",
                         out_color_matrix="bt601").filter("format", "yuv420p")
    video = video.filter("setparams", range="pc", colorspace="bt470bg")
    return _compile(video.output(str(out), f="mjpeg", **{"frames:v": 1, "q:v": 3}))
