"""Long items cut into chunks: exact frame boundaries, the same picture as one piece,
and the engine entry points a farm runs one at a time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.engine import (
    assemble,
    encode_segment,
    prepare_render,
    render_soundtrack,
    render_timeline,
)
from rendercli.render.timeline import RenderSettings, chunk_bounds, plan_timeline
from tests.media_factory import make_image, make_video
from tests.test_render_engine import item

SHARP = RenderSettings(preset="480p", fmt="mp4", fps=30, quality="high")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 s at 25 fps; testsrc2 moves every frame, so a dropped or repeated frame shows.
    return make_video(tmp_path_factory.mktemp("chunks") / "clip.mp4", duration=4.0)


@pytest.fixture(scope="module")
def clip30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # At 30 fps frame times are not whole microseconds (nor, in Matroska, whole
    # milliseconds): every chunk boundary seeks to a rounded time.
    return make_video(tmp_path_factory.mktemp("chunks30") / "clip.mkv", duration=3.0, fps=30)


def frames_of(path: Path) -> list[bytes]:
    """Every decoded frame, as small grey pictures."""
    raw = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v",
         "-vf", "scale=64:36,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True).stdout
    size = 64 * 36
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


@pytest.mark.parametrize(("frames", "chunk", "expected"), [
    (100, None, [(0, 100)]),
    (100, 100, [(0, 100)]),
    (100, 25, [(0, 25), (25, 25), (50, 25), (75, 25)]),
    (101, 25, [(0, 20), (20, 20), (40, 20), (60, 20), (80, 21)]),
    (7, 3, [(0, 2), (2, 2), (4, 3)]),
])
def test_chunks_cover_every_frame_once(frames: int, chunk: int | None,
                                       expected: list[tuple[int, int]]) -> None:
    bounds = chunk_bounds(frames, chunk)
    assert bounds == expected
    assert sum(c for _f, c in bounds) == frames
    assert all(c <= (chunk or frames) for _f, c in bounds)


def test_a_long_item_becomes_chunks_on_the_frame_grid(clip: Path,
                                                      tmp_path: Path) -> None:
    still = make_image(tmp_path / "still.png")
    items = [item(clip, duration=4.0), item(still, "image", duration=1.0)]
    whole = plan_timeline(items, 25)
    chunked = plan_timeline(items, 25, chunk_frames=25)
    assert chunked.total_frames == whole.total_frames == 125
    assert [s.label for s in chunked.segments] == [
        "segment 1.1", "segment 1.2", "segment 1.3", "segment 1.4", "segment 2"]
    starts = [s.start_frame for s in chunked.segments]
    assert starts == [0, 25, 50, 75, 100]
    assert [s.item_first for s in chunked.segments[:4]] == [0, 25, 50, 75]


def test_a_chunked_clip_is_frame_exact_and_shows_the_same_pictures(clip30: Path,
                                                                   tmp_path: Path) -> None:
    items = [item(clip30, duration=3.0)]
    whole = render_timeline(items, SHARP, storage_dir=tmp_path / "whole")
    chunked = render_timeline(items, SHARP, storage_dir=tmp_path / "chunked",
                              chunk_seconds=1 / 3)
    assert len(whole.segments_encoded) == 1 and len(chunked.segments_encoded) == 9
    assert chunked.frames == whole.frames == 90
    a, b = frames_of(whole.path), frames_of(chunked.path)
    assert len(a) == len(b) == 90
    # Only encoder noise between the two; a frame off at any chunk boundary differs
    # by far more (the pattern moves every frame).
    shifted = min(difference(a[n], a[n + 1]) for n in range(89))
    worst = max(difference(x, y) for x, y in zip(a, b, strict=True))
    assert worst < shifted / 3, (worst, shifted)


def test_the_farm_pieces_make_the_same_render_as_one_process(clip: Path,
                                                            tmp_path: Path) -> None:
    items = [item(clip, duration=4.0)]
    settings = RenderSettings(preset="480p", fmt="mp4", fps=25, quality="draft")
    inline = render_timeline(items, settings, storage_dir=tmp_path / "inline",
                             chunk_seconds=1.5)
    prepared = prepare_render(items, settings, storage_dir=tmp_path / "farm",
                              chunk_seconds=1.5)
    assert [k for k, _s in prepared.pending_segments()] == list(prepared.keys)
    commands = [encode_segment(prepared, key) for key in reversed(prepared.keys)]
    assert all(argv for argv in commands)
    assert encode_segment(prepared, prepared.keys[0]) == []  # cached by now: nothing runs
    assert prepared.pending_segments() == []
    assert render_soundtrack(prepared)
    assert render_soundtrack(prepared) == []  # cached by now
    result = assemble(prepared, name="farm")
    assert result.render_key == inline.render_key and result.frames == 100
    assert frames_of(result.path) == frames_of(inline.path)
    assert result.path.read_bytes() == inline.path.read_bytes()
    # The soundtrack waits in the cache; gone by the time of the assemble (storage
    # cleaned by hand), the assemble renders it itself: the same render.
    cache = prepared.cache
    cache.soundtrack_path(prepared.soundtrack_key, "mp4").unlink()
    assert prepared.soundtrack_pending()
    again = assemble(prepared, name="again")
    assert again.path.read_bytes() == inline.path.read_bytes()
