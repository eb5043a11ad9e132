"""Output presets, formats and per-quality encoder settings (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

PRESETS: dict[str, tuple[int, int]] = {
    "2160p": (3840, 2160),
    "1080p": (1920, 1080),
    "720p": (1280, 720),
    "480p": (854, 480),
    "square": (1080, 1080),
    "vertical": (1080, 1920),
}
FORMATS = ("mp4", "webm", "gif")
QUALITIES = ("draft", "standard", "high")
MIN_FPS, MAX_FPS = 1, 120
MAX_GIF_FPS = 50

AUDIO_RATE = 48000
AUDIO_CHANNELS = 2
BACKGROUND_GAIN = 0.5  # background music sits under the clips' own sound


@dataclass(frozen=True)
class FormatSpec:
    """How one output format is produced.

    Segments are video-only files that concat-copy cleanly into the final container:
    H.264 in MP4 for mp4 and gif (gif's segments are lossless 4:4:4 so the palette pass
    sees the real picture), VP9 in WebM for webm.
    """

    name: str
    segment_ext: str
    segment_demuxer: str  # the demuxer that reads our own segments back (format allow-list)
    output_ext: str
    output_muxer: str
    audio_ext: str | None  # intermediate audio track; None: no audio (gif)
    audio_muxer: str | None


FORMAT_SPECS: dict[str, FormatSpec] = {
    "mp4": FormatSpec("mp4", "mp4", "mov", "mp4", "mp4", "m4a", "mp4"),
    "webm": FormatSpec("webm", "webm", "matroska", "webm", "webm", "webm", "webm"),
    "gif": FormatSpec("gif", "mp4", "mov", "gif", "gif", None, None),
}


def gop_size(fps: int) -> int:
    """Keyframe interval: two seconds."""
    return max(1, 2 * fps)


def video_encoder_options(fmt: str, quality: str, fps: int) -> dict[str, object]:
    """Output options for encoding a video segment (identical for every segment of a render).

    x264 runs one thread per segment: its output then depends on nothing but the
    settings (not on the cores or CPU affinity of the machine), so every worker of a farm
    encodes a segment to the same bytes; parallelism comes from encoding segments side
    by side (long items are cut into chunks)."""
    gop = gop_size(fps)
    # Every segment carries the same colour tags (BT.709, limited range): see colour.py.
    tags = {"color_range": "tv", "colorspace": "bt709", "color_primaries": "bt709",
            "color_trc": "bt709"}
    if fmt == "mp4":
        preset, crf = {"draft": ("ultrafast", 28), "standard": ("veryfast", 23),
                       "high": ("slow", 18)}[quality]
        return {"c:v": "libx264", "preset": preset, "crf": crf, "pix_fmt": "yuv420p",
                "g": gop, "flags": "+cgop", "threads": 1, **tags}
    if fmt == "webm":
        deadline, cpu, crf = {"draft": ("realtime", 8, 40), "standard": ("good", 5, 33),
                              "high": ("good", 2, 26)}[quality]
        return {"c:v": "libvpx-vp9", "deadline": deadline, "cpu-used": cpu, "crf": crf,
                "b:v": 0, "pix_fmt": "yuv420p", "g": gop, "row-mt": 1, **tags}
    if fmt == "gif":
        # Lossless intermediate: quantisation to 256 colours happens once, in the palette pass.
        return {"c:v": "libx264", "preset": "ultrafast", "qp": 0, "pix_fmt": "yuv444p",
                "g": gop, "flags": "+cgop", "threads": 1, **tags}
    raise ValueError(fmt)


def reorder_delay(fmt: str, quality: str) -> int:
    """Frames by which an encoded segment's decode times can run ahead of its
    presentation times: x264 with B-frames in a pyramid (veryfast, slow) reorders by up
    to 2; ultrafast has no B-frames; VP9 never reorders. A segment of 1 or 2 frames has
    no B-frames whatever the preset, so segments joined by the concat demuxer disagree:
    the mux (commands.mux_command) gives the whole stream this one delay."""
    return 2 if fmt == "mp4" and quality != "draft" else 0


def segment_pix_fmt(fmt: str) -> str:
    """The pixel format segments are converted to before encoding."""
    return "yuv444p" if fmt == "gif" else "yuv420p"


def audio_encoder_options(fmt: str, quality: str) -> dict[str, object]:
    """Output options for the single-pass audio track."""
    if fmt == "mp4":
        rate = {"draft": "96k", "standard": "160k", "high": "256k"}[quality]
        return {"c:a": "aac", "b:a": rate, "ar": AUDIO_RATE, "ac": AUDIO_CHANNELS}
    if fmt == "webm":
        rate = {"draft": "64k", "standard": "128k", "high": "192k"}[quality]
        return {"c:a": "libopus", "b:a": rate, "ar": AUDIO_RATE, "ac": AUDIO_CHANNELS}
    raise ValueError(fmt)


def gif_palette_options(quality: str) -> tuple[dict[str, object], dict[str, object]]:
    """(palettegen options, paletteuse options) for a quality level."""
    return {
        "draft": ({"max_colors": 128, "stats_mode": "diff"}, {"dither": "bayer", "bayer_scale": 3}),
        "standard": ({"stats_mode": "diff"}, {"dither": "sierra2_4a", "diff_mode": "rectangle"}),
        "high": ({"stats_mode": "full"}, {"dither": "floyd_steinberg"}),
    }[quality]
