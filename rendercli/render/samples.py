"""Sample media for `rendercli demo`, synthesised by ffmpeg's lavfi sources.

The output is deterministic, so a second demo renders from the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rendercli.render.commands import _compile, _ffmpeg
from rendercli.render.runner import run


def _lavfi(source: str) -> Any:
    return _ffmpeg().input(source, f="lavfi")


def _write(streams: list[Any], path: Path, **options: Any) -> None:
    if path.exists():  # written atomically below, so an existing file is complete
        return
    tmp = path.with_name(f".{path.name}.part{path.suffix}")
    run(_compile(_ffmpeg().output(*streams, str(tmp), **options)))
    tmp.replace(path)


def make_samples(directory: Path) -> list[Path]:
    """Write two clips, a still and a music track into `directory`; return them in order."""
    directory.mkdir(parents=True, exist_ok=True)
    clip = {"vcodec": "libx264", "preset": "veryfast", "pix_fmt": "yuv420p", "acodec": "aac",
            "shortest": None, "fflags": "+bitexact", "flags": "+bitexact"}
    opening = directory / "opening.mp4"
    _write([_lavfi("testsrc2=size=1280x720:rate=30:duration=4"),
            _lavfi("sine=frequency=440:sample_rate=48000:duration=4")], opening, **clip)
    closing = directory / "closing.mp4"
    _write([_lavfi("smptehdbars=size=1280x720:rate=30:duration=3"),
            _lavfi("sine=frequency=660:sample_rate=48000:duration=3")], closing, **clip)
    still = directory / "title.png"
    title = (_lavfi("color=c=0x1d3557:size=1280x720:duration=1")
             .filter("drawgrid", w=160, h=90, t=2, color="0x457b9d")
             .filter("drawbox", x=0, y=300, w=1280, h=120, color="0xe63946", t="fill"))
    _write([title], still, vframes=1)
    music = directory / "music.mp3"
    _write([_lavfi("sine=frequency=220:beep_factor=4:sample_rate=44100:duration=12")], music,
           acodec="libmp3lame", **{"b:a": "128k", "fflags": "+bitexact"})
    return [opening, still, closing, music]
