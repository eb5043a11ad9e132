"""argv builders for every ffmpeg step, built with ffmpeg-python (nothing here runs ffmpeg).

User media is always opened with ``-protocol_whitelist file`` and the input format
allow-list; our own intermediates (segments, concat lists, audio track, palette) get
narrow allow-lists of exactly the demuxers that read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rendercli.render.inputs import INPUT_FORMAT_WHITELIST, image_demuxer
from rendercli.render.presets import (
    AUDIO_CHANNELS,
    AUDIO_RATE,
    BACKGROUND_GAIN,
    FORMAT_SPECS,
    audio_encoder_options,
    gif_palette_options,
    segment_pix_fmt,
    video_encoder_options,
)
from rendercli.render.timeline import PlannedItem, RenderSettings, TimelinePlan

GLOBAL_ARGS = ("-nostdin", "-y", "-hide_banner", "-loglevel", "warning", "-nostats",
               "-progress", "pipe:1")
USER_INPUT: dict[str, Any] = {"protocol_whitelist": "file",
                              "format_whitelist": INPUT_FORMAT_WHITELIST}
_STEREO = "stereo" if AUDIO_CHANNELS == 2 else "mono"


def _ffmpeg():  # type: ignore[no-untyped-def]
    import ffmpeg

    return ffmpeg


def _compile(stream: Any) -> list[str]:
    from rendercli.media.ffmpeg_binary import ffmpeg_path

    return list(stream.compile(cmd=[ffmpeg_path(), *GLOBAL_ARGS]))


def _own_input(path: Path, demuxer: str, **kwargs: Any) -> Any:
    return _ffmpeg().input(str(path), protocol_whitelist="file", format_whitelist=demuxer,
                           **kwargs)


def _fit(stream: Any, settings: RenderSettings) -> Any:
    """Scale to fit the preset keeping aspect ratio, pad with black, square pixels."""
    w, h = settings.size
    return (
        stream.filter("scale", w, h, force_original_aspect_ratio="decrease",
                      force_divisible_by=2)
        .filter("pad", w, h, "(ow-iw)/2", "(oh-ih)/2", color="black")
        .filter("setsar", 1)
        .filter("format", segment_pix_fmt(settings.fmt))
    )


def segment_command(planned: PlannedItem, settings: RenderSettings, out: Path) -> list[str]:
    """Encode one picture item into a video-only segment of exactly ``planned.frames`` frames."""
    item, fps, frames = planned.item, settings.fps, planned.frames
    if item.kind == "video":
        # Read one frame beyond the slot so the fps filter has a frame to round towards;
        # a source that ends early holds its last frame (tpad) instead of cutting short.
        inp = _ffmpeg().input(str(item.path), ss=f"{item.trim_start:.6f}",
                              t=f"{(frames + 1) / fps:.6f}", **USER_INPUT)
        video = inp["v:0"].filter("setpts", "PTS-STARTPTS").filter("fps", fps)
        video = _fit(video, settings).filter("tpad", stop=-1, stop_mode="clone")
    else:
        # Decode the still once: composite on black (premultiplying by alpha is exactly
        # "over black"), fit it, then repeat that single frame.
        demuxer = image_demuxer(item.path)
        forced = {"f": demuxer} if demuxer else {}
        inp = _ffmpeg().input(str(item.path), **forced, **USER_INPUT)
        video = (inp["v:0"].filter("trim", end_frame=1)
                 .filter("format", "rgba").filter("premultiply", inplace=1))
        video = (_fit(video, settings).filter("loop", loop=-1, size=1, start=0)
                 .filter("settb", f"1/{fps}").filter("setpts", "N").filter("fps", fps))
    video = video.filter("trim", end_frame=frames)
    spec = FORMAT_SPECS[settings.fmt]
    options = video_encoder_options(settings.fmt, settings.quality, fps)
    out_stream = video.output(str(out), f=spec.segment_ext, an=None, **{"frames:v": frames},
                              **options)
    return _compile(out_stream)


def _normalise_audio(stream: Any, samples: int) -> Any:
    """48 kHz stereo float, starting at 0, exactly ``samples`` long (padded with silence)."""
    return (
        stream.filter("aresample", AUDIO_RATE, first_pts=0, **{"async": 1})
        .filter("aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE, channel_layouts=_STEREO)
        .filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
    )


class _AudioPieces:
    """Builds each distinct audio piece once and hands out copies via ``asplit``.

    ffmpeg-python merges nodes with identical arguments into one, so the same clip (or a
    silence of the same length) used twice must be one input split in two, not two inputs.
    """

    def __init__(self, specs: list[tuple[Any, ...]]) -> None:
        self._counts: dict[tuple[Any, ...], int] = {}
        for spec in specs:
            self._counts[spec] = self._counts.get(spec, 0) + 1
        self._outputs: dict[tuple[Any, ...], list[Any]] = {}

    def get(self, spec: tuple[Any, ...]) -> Any:
        if spec not in self._outputs:
            stream = self._build(spec)
            count = self._counts[spec]
            if count == 1:
                self._outputs[spec] = [stream]
            else:
                split = stream.filter_multi_output("asplit", count)
                self._outputs[spec] = [split.stream(i) for i in range(count)]
        return self._outputs[spec].pop(0)

    @staticmethod
    def _build(spec: tuple[Any, ...]) -> Any:
        ffmpeg = _ffmpeg()
        if spec[0] == "silence":
            samples = spec[1]
            inp = ffmpeg.input(f"anullsrc=r={AUDIO_RATE}:cl={_STEREO}", f="lavfi",
                               t=f"{samples / AUDIO_RATE + 0.1:.6f}")
        else:
            _kind, path, start, seconds, samples = spec
            inp = ffmpeg.input(path, ss=f"{start:.6f}", t=f"{seconds:.6f}", **USER_INPUT)
        return _normalise_audio(inp["a:0"], samples)


def _join(pieces: list[Any]) -> Any:
    return pieces[0] if len(pieces) == 1 else _ffmpeg().concat(*pieces, v=0, a=1)


def audio_command(plan: TimelinePlan, settings: RenderSettings, out: Path) -> list[str]:
    """Render the whole soundtrack in one pass: clip audio and silence in timeline order,
    with the background items mixed under it, cut to the timeline's length."""
    track_specs: list[tuple[Any, ...]] = []
    silent_run = 0  # consecutive items without sound become one silence piece
    for p in plan.visual:
        samples = plan.sample_at(p.start_frame + p.frames) - plan.sample_at(p.start_frame)
        if p.item.kind == "video" and p.item.has_audio:
            if silent_run:
                track_specs.append(("silence", silent_run))
                silent_run = 0
            track_specs.append(("clip", str(p.item.path), p.item.trim_start,
                                p.frames / plan.fps, samples))
        else:
            silent_run += samples
    if silent_run:
        track_specs.append(("silence", silent_run))
    bg_specs = [("clip", str(i.path), i.trim_start, i.duration, round(i.duration * AUDIO_RATE))
                for i in plan.background]

    pieces = _AudioPieces(track_specs + bg_specs)
    track = _join([pieces.get(spec) for spec in track_specs])
    total = plan.total_samples
    if bg_specs:
        bg = _join([pieces.get(spec) for spec in bg_specs])
        bg = bg.filter("apad", whole_len=total).filter("atrim", end_sample=total)
        track = _ffmpeg().filter([track, bg], "amix", inputs=2, duration="first",
                                 dropout_transition=0, normalize=0,
                                 weights=f"1 {BACKGROUND_GAIN}")
        track = track.filter("atrim", end_sample=total)
    spec = FORMAT_SPECS[settings.fmt]
    options = audio_encoder_options(settings.fmt, settings.quality)
    return _compile(track.output(str(out), f=spec.audio_muxer, vn=None, **options))


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
    extra = {"movflags": "+faststart"} if settings.fmt == "mp4" else {}
    stream = _ffmpeg().output(video, sound, str(out), c="copy", f=spec.output_muxer, **extra)
    return _compile(stream)


def palette_command(concat_list: Path, settings: RenderSettings, out: Path) -> list[str]:
    """gif pass 1: one optimised 256-colour palette for the whole animation."""
    gen, _ = gif_palette_options(settings.quality)
    video = _segments_input(concat_list, settings)["v:0"].filter("palettegen", **gen)
    return _compile(video.output(str(out), f="image2", update=1, **{"frames:v": 1}))


def gif_command(concat_list: Path, palette: Path, settings: RenderSettings,
                out: Path) -> list[str]:
    """gif pass 2: map every frame onto the palette."""
    _, use = gif_palette_options(settings.quality)
    video = _segments_input(concat_list, settings)["v:0"]
    pal = _own_input(palette, "png_pipe", f="png_pipe")["v:0"]
    stream = _ffmpeg().filter([video, pal], "paletteuse", **use)
    return _compile(stream.output(str(out), f="gif", loop=0))


def poster_command(segment: Path, at: float, settings: RenderSettings, out: Path) -> list[str]:
    """A JPEG still of the frame ``at`` seconds into one of our segments."""
    demuxer = FORMAT_SPECS[settings.fmt].segment_demuxer
    video = _own_input(segment, demuxer, ss=f"{at:.6f}")["v:0"]
    video = video.filter("scale", out_range="full").filter("format", "yuv420p")
    return _compile(video.output(str(out), f="mjpeg", **{"frames:v": 1, "q:v": 3}))
