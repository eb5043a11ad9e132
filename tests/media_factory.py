"""Tiny real media generated at test time with ffmpeg's lavfi sources.

Every helper returns the path it wrote. Keep media tiny (<= 2 s, <= 320x240) unless a
test needs otherwise: renders in tests are real ffmpeg renders.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def factory_ffmpeg() -> str:
    """The ffmpeg that makes test media: always the bundled one (imageio-ffmpeg), so media
    are the same whichever ffmpeg the engine under test runs."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg with the given arguments, raising with its stderr on failure."""
    cmd = [factory_ffmpeg(), "-nostdin", "-y", "-hide_banner", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr}")


def make_video(
    path: Path,
    *,
    duration: float = 1.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: bool = True,
    vcodec: str = "libx264",
    acodec: str | None = None,
    rotate: int | None = None,
    tone: int = 440,
    pattern: str = "testsrc2",
) -> Path:
    """A test-pattern clip with an optional sine tone. rotate sets display-matrix rotation."""
    w, h = size
    args = ["-f", "lavfi", "-i", f"{pattern}=size={w}x{h}:rate={fps}:duration={duration}"]
    if audio:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone}:sample_rate=44100:duration={duration}",
        ]
    args += ["-c:v", vcodec]
    if vcodec in ("libx264",):
        args += ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if vcodec == "libvpx-vp9":
        args += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"]
    if audio:
        suffix = path.suffix.lower()
        default_acodec = {".webm": "libopus", ".mkv": "libopus", ".avi": "mp3", ".ts": "aac"}
        args += ["-c:a", acodec or default_acodec.get(suffix, "aac"), "-ac", "2"]
    args += ["-shortest"] if audio else []
    args.append(str(path))
    run_ffmpeg(*args)
    if rotate is not None:
        rotated = path.with_name(path.stem + ".rot" + path.suffix)
        run_ffmpeg("-display_rotation", str(rotate), "-i", str(path), "-c", "copy", str(rotated))
        rotated.replace(path)
    return path


def make_image(path: Path, *, size: tuple[int, int] = (320, 240), alpha: bool = False) -> Path:
    """A still image. With alpha, a half-transparent PNG."""
    w, h = size
    if alpha:
        src = f"color=c=red@0.5:size={w}x{h}:duration=1,format=rgba"
        run_ffmpeg("-f", "lavfi", "-i", src, "-frames:v", "1", str(path))
    else:
        run_ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=1", "-frames:v", "1", str(path)
        )
    return path


def make_audio(path: Path, *, duration: float = 1.0, tone: int = 660) -> Path:
    """A sine-tone audio file; the codec follows the extension."""
    codec = {
        ".mp3": "libmp3lame",
        ".wav": "pcm_s16le",
        ".flac": "flac",
        ".ogg": "libvorbis",
        ".m4a": "aac",
        ".aac": "aac",
        ".opus": "libopus",
    }.get(path.suffix.lower(), "aac")
    run_ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={tone}:sample_rate=44100:duration={duration}",
        "-c:a",
        codec,
        str(path),
    )
    return path


def make_color_video(
    path: Path,
    *,
    colors: tuple[str, ...] = ("red", "blue"),
    seconds_each: float = 1.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: bool = True,
) -> Path:
    """A clip showing each colour in turn for ``seconds_each`` (to check trims by colour)."""
    w, h = size
    args: list[str] = []
    for color in colors:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"color=c={color}:size={w}x{h}:rate={fps}:duration={seconds_each}",
        ]
    n = len(colors)
    if audio:
        total = seconds_each * n
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={total}"]
    graph = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    args += [
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]
    if audio:
        args += ["-map", f"{n}:a", "-c:a", "aac", "-ac", "2"]
    args.append(str(path))
    run_ffmpeg(*args)
    return path


def make_corrupt(path: Path, *, size: int = 4096) -> Path:
    """A file with a media extension but garbage content."""
    import random

    rng = random.Random(1234)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
    return path


# A picture with known colours, for colour-pipeline tests: black, a mid grey and an
# orange patch, side by side over the top half, black below.
PATCHES = {"grey": (128, 128, 128), "orange": (192, 64, 32)}


def make_patch_png(path: Path, *, size: tuple[int, int] = (320, 240)) -> Path:
    """An RGB PNG: grey patch top-left quarter, orange patch top-right quarter, black
    elsewhere (drawn in RGB, so the values are exact)."""
    w, h = size
    grey, orange = ("0x{:02x}{:02x}{:02x}".format(*PATCHES[k]) for k in ("grey", "orange"))
    run_ffmpeg("-f", "lavfi", "-i", f"color=c=black:size={w}x{h}:rate=1,format=rgb24,"
               f"drawbox=x=0:y=0:w={w // 2}:h={h // 2}:color={grey}:t=fill,"
               f"drawbox=x={w // 2}:y=0:w={w // 2}:h={h // 2}:color={orange}:t=fill",
               "-frames:v", "1", str(path))
    return path


def make_patch_source(path: Path, png: Path, *, kind: str, size: tuple[int, int] = (320, 240),
                      duration: float = 1.0, fps: int = 25) -> Path:
    """The patch picture as one kind of source, converted explicitly:

    jpeg: full range BT.601 (yuvj420p, as JPEG implies); full: an H.264 clip, full range
    BT.709, tagged; sd601: an untagged SD clip in limited range BT.601 (the default for
    untagged SD); tenbit: a 10-bit H.264 clip, limited range BT.709, tagged; hdr: a
    10-bit clip tagged PQ / BT.2020.
    """
    w, h = size
    fit = f"scale={w}:{h}"
    if kind == "jpeg":
        run_ffmpeg("-i", str(png), "-vf", f"{fit}:out_range=pc:out_color_matrix=bt601,"
                   "format=yuvj420p", "-q:v", "2", "-frames:v", "1", str(path))
        return path
    loop = ["-loop", "1", "-framerate", str(fps), "-t", f"{duration}", "-i", str(png)]
    if kind == "full":
        vf = (f"{fit}:out_range=pc:out_color_matrix=bt709,format=yuv420p,"
              "setparams=range=pc:colorspace=bt709:color_primaries=bt709:color_trc=bt709")
        tags = ["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709",
                "-color_trc", "bt709"]
        pix = "yuv420p"
    elif kind == "sd601":
        vf = (f"{fit}:out_range=tv:out_color_matrix=bt601,format=yuv420p,"
              "setparams=range=unknown:colorspace=unknown:color_primaries=unknown:"
              "color_trc=unknown")
        tags, pix = [], "yuv420p"
    elif kind == "tenbit":
        vf = (f"{fit}:out_range=tv:out_color_matrix=bt709,format=yuv420p10le,"
              "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709")
        tags = ["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709",
                "-color_trc", "bt709"]
        pix = "yuv420p10le"
    elif kind == "hdr":
        vf = (f"{fit}:out_range=tv:out_color_matrix=bt2020,format=yuv420p10le,"
              "setparams=range=tv:colorspace=bt2020nc:color_primaries=bt2020:"
              "color_trc=smpte2084")
        tags = ["-color_range", "tv", "-colorspace", "bt2020nc", "-color_primaries",
                "bt2020", "-color_trc", "smpte2084"]
        pix = "yuv420p10le"
    else:
        raise ValueError(kind)
    run_ffmpeg(*loop, "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
               "-pix_fmt", pix, *tags, str(path))
    return path
